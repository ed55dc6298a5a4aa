/* The per-step JSONL training log (train/trainer_log.c). Its lines are what
 * `clipcl plot` reads: step, epoch, loss, lr, temperature, logit_scale,
 * grad_norm, samples_per_s, skipped, elapsed_s. */
#ifndef CLIPCL_TRAIN_TRAINER_LOG_H
#define CLIPCL_TRAIN_TRAINER_LOG_H

#include <stdint.h>
#include <stdio.h>

#include "train/trainer.h"

typedef struct train_log {
    FILE *f;
} train_log;

/* resume_step > 0: keep the lines of steps 1..resume_step and append. */
int train_log_open(train_log *l, const char *path, int64_t resume_step);
int train_log_step(train_log *l, const train_step_info *s);
void train_log_close(train_log *l);

#endif
