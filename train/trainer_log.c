/* OUT/log.jsonl: one JSON object per optimizer step, flushed per line so a
 * killed run keeps every finished step. A resumed run first drops the lines
 * past its checkpoint (written by the run that died), so the log reads as
 * one uninterrupted run. */
#include "train/trainer_log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "io/atomic_file.h"
#include "runtime/status.h"

/* Keeps the lines whose "step" is <= keep (rewritten atomically). */
static int truncate_log(const char *path, int64_t keep)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return CC_OK; /* no log yet */
    io_atomic a;
    int rc = io_atomic_open(&a, path);
    if (rc) {
        fclose(f);
        return rc;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while (!rc && (n = getline(&line, &cap, f)) > 0) {
        const char *s = strstr(line, "\"step\":");
        long long step = s ? strtoll(s + 7, NULL, 10) : -1;
        if (s && step >= 1 && step <= keep && line[n - 1] == '\n')
            rc = io_atomic_write(&a, line, (size_t)n);
    }
    free(line);
    fclose(f);
    if (rc) {
        io_atomic_abort(&a);
        return rc;
    }
    return io_atomic_commit(&a);
}

int train_log_open(train_log *l, const char *path, int64_t resume_step)
{
    memset(l, 0, sizeof *l);
    int rc = resume_step > 0 ? truncate_log(path, resume_step) : CC_OK;
    if (rc)
        return rc;
    l->f = fopen(path, resume_step > 0 ? "ab" : "wb");
    if (!l->f)
        return cc_fail(CC_ERR_IO, "cannot open log '%s': %s", path, strerror(errno));
    return CC_OK;
}

int train_log_step(train_log *l, const train_step_info *s)
{
    /* %.9g round-trips a float: losses of two runs compare bit for bit */
    int n = fprintf(l->f,
                    "{\"step\": %" PRId64 ", \"epoch\": %" PRId64 ", \"loss\": %.9g, \"lr\": %.9g, "
                    "\"temperature\": %.9g, \"logit_scale\": %.9g, \"grad_norm\": %.9g, "
                    "\"samples_per_s\": %.3f, \"skipped\": %" PRId64 ", \"elapsed_s\": %.3f}\n",
                    s->step, s->epoch, s->loss, s->lr, s->temperature, s->logit_scale,
                    s->grad_norm, s->samples_per_s, s->skipped, s->elapsed_s);
    if (n < 0 || fflush(l->f) != 0)
        return cc_fail(CC_ERR_IO, "cannot write the training log: %s", strerror(errno));
    return CC_OK;
}

void train_log_close(train_log *l)
{
    if (l->f)
        fclose(l->f);
    l->f = NULL;
}
