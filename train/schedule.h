/* Learning-rate schedules, exactly as open_clip's training/scheduler.py:
 *   warm-up (step < warmup):  lr = base * (step + 1) / warmup
 *   cosine afterwards:        e = step - warmup, es = steps - warmup,
 *                             lr = min + 0.5 * (1 + cos(pi * e / es)) * (base - min)
 *   constant afterwards:      lr = base
 * step counts from 0 (the first optimizer step is step 0). open_clip's
 * default min_lr is 0, which makes the cosine branch its plain
 * 0.5 * (1 + cos(pi e / es)) * base. */
#ifndef CLIPCL_TRAIN_SCHEDULE_H
#define CLIPCL_TRAIN_SCHEDULE_H

#include <stdint.h>

typedef enum train_sched_kind { TRAIN_SCHED_COSINE = 0, TRAIN_SCHED_CONST = 1 } train_sched_kind;

typedef struct train_schedule {
    train_sched_kind kind;
    double base_lr;
    double min_lr;   /* cosine floor; 0 as open_clip's default */
    int64_t warmup;  /* >= 0 steps of linear warm-up */
    int64_t steps;   /* total optimizer steps, > warmup for cosine */
} train_schedule;

/* Checks and fills *s. CC_ERR_INVALID naming the bad value. */
int train_schedule_init(train_schedule *s, train_sched_kind kind, double base_lr, int64_t warmup, int64_t steps);
/* Learning rate of optimizer step `step` (0-based). Past the last step the
 * cosine is held at its end value (min_lr) instead of rising again. */
double train_schedule_lr(const train_schedule *s, int64_t step);
/* "cosine" or "const" (open_clip's --lr-scheduler names). */
int train_schedule_parse(const char *name, train_sched_kind *kind);
const char *train_schedule_name(train_sched_kind kind);

#endif
