/* Training checkpoints: open_clip-style directories that clipcl and
 * open_clip load as models, plus what `clipcl train --resume` needs.
 *
 *   RUN/ckpt-000100/open_clip_config.json     {"model_cfg": ..., "preprocess_cfg": ...}
 *                   open_clip_model.safetensors OpenAI/open_clip keys, f32; logit_scale 0-d;
 *                                              BatchNorm running buffers + num_batches_tracked
 *                   vocab.json, merges.txt    (or bpe_simple_vocab_16e6.txt.gz)
 *                   optimizer.safetensors     exp_avg.<key>, exp_avg_sq.<key>, step [1] i64,
 *                                              data_state [4] i64 (epoch, batches, samples, seed)
 *                   trainer_state.json        step, data position, the run's settings
 *   RUN/latest -> ckpt-000100                 (relative symlink)
 *
 * Atomicity: every file is written to a temporary name, fsynced and renamed
 * (io/atomic_file.h) inside RUN/ckpt-NNNNNN.tmp; the finished directory is
 * renamed to RUN/ckpt-NNNNNN and only then does RUN/latest switch to it
 * (symlink to a temporary name, rename over latest). A process killed at
 * any point leaves the previous checkpoint and latest intact.
 *
 * Test hook: CLIPCL_CKPT_KILL_AFTER=N makes the writer SIGKILL its own
 * process after the N-th file of a checkpoint is complete. */
#ifndef CLIPCL_TRAIN_CHECKPOINT_H
#define CLIPCL_TRAIN_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "models/clip.h"

/* The run's position and settings, as trainer_state.json holds them. */
typedef struct train_ckpt_state {
    int64_t step;            /* optimizer steps done */
    int64_t epoch, epoch_batches; /* loader position after the last batch taken */
    int64_t samples, skipped;
    int64_t seed;
    char data[1024];
    char csv_img_key[128], csv_caption_key[128];
    char device[128];
    int batch, accum, siglip, augment, image_size;
    int ranks;               /* processes of the run (data-parallel); batch is per rank */
    int64_t steps, warmup;
    double lr, weight_decay, beta1, beta2, eps, clip_grad_norm;
} train_ckpt_state;

typedef struct train_ckpt {
    train_ckpt_state st;
    char *model_cfg_text;    /* open_clip model config JSON (owned) */
    clip_config cfg;
    clip_wmap *model;        /* weights + BatchNorm running buffers (owned) */
    clip_wmap *optim;        /* exp_avg.<key>, exp_avg_sq.<key> per trained key (owned) */
    char dir[1024];          /* the checkpoint directory read (load only) */
} train_ckpt;

/* Writes RUN/ckpt-<step> from c (st, model_cfg_text, model, optim) with
 * the tokenizer files found in tok_dir, then points RUN/latest at it. The
 * directory written goes to path (may be NULL). */
int train_ckpt_save(const char *run_dir, const train_ckpt *c, const char *tok_dir, char *path,
                    size_t len);

/* path: a checkpoint directory, or a run directory whose "latest" names
 * one. Reads and validates everything: the JSON files, both safetensors
 * files (header, sizes), every tensor the config requires with its shape,
 * the optimizer state of every trained tensor, the step agreeing across
 * files, a tokenizer. Any defect -> CC_ERR_IO / CC_ERR_INVALID naming the
 * file and what is wrong. */
int train_ckpt_load(const char *path, train_ckpt *out);
void train_ckpt_free(train_ckpt *c);

/* The checkpoint directory path names (see train_ckpt_load) into dir. */
int train_ckpt_resolve(const char *path, char *dir, size_t len);

#endif
