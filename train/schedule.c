/* Learning-rate schedules (train/schedule.h), open_clip's formulas. */
#include "train/schedule.h"

#include <math.h>
#include <string.h>

#include "runtime/status.h"

int train_schedule_init(train_schedule *s, train_sched_kind kind, double base_lr, int64_t warmup, int64_t steps)
{
    if (!s)
        return cc_fail(CC_ERR_INVALID, "train_schedule_init: schedule is NULL");
    if (kind != TRAIN_SCHED_COSINE && kind != TRAIN_SCHED_CONST)
        return cc_fail(CC_ERR_INVALID, "train_schedule_init: unknown kind %d", (int)kind);
    if (!(base_lr >= 0) || isinf(base_lr))
        return cc_fail(CC_ERR_INVALID, "train_schedule_init: base lr must be finite and >= 0, found %g", base_lr);
    if (warmup < 0 || steps < 1)
        return cc_fail(CC_ERR_INVALID, "train_schedule_init: need warmup >= 0 and steps >= 1, found %lld and %lld",
                       (long long)warmup, (long long)steps);
    /* open_clip divides by steps - warmup: the cosine needs a step after warm-up */
    if (kind == TRAIN_SCHED_COSINE && warmup >= steps)
        return cc_fail(CC_ERR_INVALID, "train_schedule_init: cosine needs warmup < steps, found warmup %lld, "
                       "steps %lld", (long long)warmup, (long long)steps);
    s->kind = kind;
    s->base_lr = base_lr;
    s->min_lr = 0.0;
    s->warmup = warmup;
    s->steps = steps;
    return CC_OK;
}

double train_schedule_lr(const train_schedule *s, int64_t step)
{
    if (!s || step < 0)
        return 0.0;
    if (step < s->warmup)
        return s->base_lr * (double)(step + 1) / (double)s->warmup;
    if (s->kind == TRAIN_SCHED_CONST)
        return s->base_lr;
    int64_t e = step - s->warmup, es = s->steps - s->warmup;
    if (es <= 0 || e >= es)
        return s->min_lr;
    return s->min_lr + 0.5 * (1.0 + cos(M_PI * (double)e / (double)es)) * (s->base_lr - s->min_lr);
}

int train_schedule_parse(const char *name, train_sched_kind *kind)
{
    if (!name || !kind)
        return cc_fail(CC_ERR_INVALID, "train_schedule_parse: name and kind must not be NULL");
    if (!strcmp(name, "cosine"))
        *kind = TRAIN_SCHED_COSINE;
    else if (!strcmp(name, "const"))
        *kind = TRAIN_SCHED_CONST;
    else
        return cc_fail(CC_ERR_INVALID, "unknown lr schedule '%s': expected 'cosine' or 'const'", name);
    return CC_OK;
}

const char *train_schedule_name(train_sched_kind kind)
{
    return kind == TRAIN_SCHED_CONST ? "const" : "cosine";
}
