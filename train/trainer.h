/* The CLIP training loop behind `clipcl train` (train_ prefix): data in,
 * checkpoints and a per-step JSONL log out, resumable bit for bit.
 *
 *   train_opts o;
 *   train_opts_defaults(&o);
 *   o.data = "synth:2000"; o.model_config = "tiny.json"; o.out_dir = "run";
 *   o.batch = 32; o.steps = 500; o.lr = 1e-3; o.warmup = 50;
 *   train_run(&o, NULL);
 *
 * One step: K micro-batches (o.adamw.accum_steps) of B image-caption pairs
 * each run forward + backward of models/clip_train.h's joint graph (towers,
 * loss, g_backward) on the ref backend or an OpenCL plan; then one AdamW
 * step (the backend's own: OpenCL kernels, or host loops on ref) with the cosine
 * schedule's learning rate, the temperature clamped to [0, ln 100].
 *
 * Data-parallel (mpirun -np N clipcl train, docs/distributed.md): each
 * rank runs the same loop on its part of every global batch; the step's
 * gradients are summed across ranks before the AdamW step, which is then
 * the same on every rank.
 *
 * Resume: a checkpoint holds the weights, AdamW's m, v and step, and the
 * data position (epoch, batches taken in it) of the seeded loader, whose
 * order and augmentation depend only on (seed, epoch, position). Resuming
 * rebuilds the same graph, restores that state and replays the loader to
 * the same position, so on the same device every later loss equals the
 * uninterrupted run's (docs/training.md). */
#ifndef CLIPCL_TRAIN_TRAINER_H
#define CLIPCL_TRAIN_TRAINER_H

#include <stdint.h>

#include "models/clip.h"
#include "models/clip_loss.h"

typedef struct train_step_info {
    int64_t step;              /* 1-based: optimizer steps done */
    int64_t steps;             /* total */
    int64_t epoch;
    double loss;               /* mean of the step's micro-batch losses */
    double lr;
    double logit_scale;        /* after the step */
    double temperature;        /* exp(logit_scale) */
    double grad_norm;          /* global L2 norm of the averaged gradient, before clipping */
    double samples_per_s;      /* this step */
    int64_t skipped;           /* unreadable samples so far */
    double elapsed_s;
} train_step_info;

/* What a run resolved at its start (data-parallel runs: docs/distributed.md). */
typedef struct train_start_info {
    int ranks;                 /* processes (1 without MPI) */
    int batch, accum;          /* per rank */
    int64_t global_batch;      /* ranks x batch x accum: the pairs of one optimizer step */
    int64_t start_step, steps;
    const char *device;        /* this rank's backend */
    int64_t allreduce_bytes;   /* gradient bytes each step sums across ranks (0 on one rank) */
    int global_loss;           /* ranks > 1: 1 = the loss over the global batch, 0 = each rank's own */
} train_start_info;

/* Numeric fields left at their "unset" value (-1, or NULL for strings) take
 * the checkpoint's value on resume, else the default. */
typedef struct train_opts {
    const char *data;          /* CSV/TSV, shard pattern (.tar, brace/"::"), or "synth:N[:SEED]" */
    const char *model_config;  /* open_clip model config JSON (fresh runs) */
    const char *out_dir;       /* run directory: checkpoints, log.jsonl, tokenizer/ */
    const char *resume;        /* a checkpoint, or a run directory (its "latest") */
    const char *device;        /* "ref" or an OpenCL spec (rt_select_device); NULL: default */
    const char *tokenizer_dir; /* vocab.json + merges.txt */
    const char *vocab_file;    /* OpenAI's bpe_simple_vocab_16e6.txt(.gz) */
    const char *csv_img_key, *csv_caption_key;
    int batch;                 /* micro-batch B */
    int64_t steps;             /* optimizer steps in the whole run */
    double lr;
    int64_t warmup;
    double weight_decay, beta1, beta2, eps, clip_grad_norm;
    int accum;                 /* K micro-batches per step */
    int siglip;                /* 1: sigmoid loss */
    int64_t seed;              /* init, shuffle and augmentation */
    int augment;               /* 1: random resized crop */
    int image_size;            /* synth images are drawn at this size (default: model's) */
    int64_t checkpoint_every;  /* 0: only at the end */
    int workers;               /* decoding threads (loader) */
    /* Data-parallel runs (train/dist.h; under mpirun/srun): batch is per
     * rank; every rank trains, rank 0 alone logs, checkpoints and calls the
     * callbacks below (on_warn: every rank, its lines say which). */
    int64_t dist_check_every;  /* weight hash compared across ranks every N steps (default 50;
                                  also before each checkpoint) */
    double dist_timeout;       /* seconds a rank waits for the others (default $CLIPCL_DIST_TIMEOUT or 15) */
    int local_loss;            /* ranks > 1: 1 = each rank's loss over its own pairs only;
                                  0 (default) = the loss over the global batch (all ranks' pairs) */
    /* Called after every optimizer step and for every skipped sample (both
     * may be NULL); the library itself prints nothing. */
    void (*on_step)(void *user, const struct train_step_info *s);
    void (*on_warn)(void *user, const char *msg);
    void (*on_checkpoint)(void *user, const char *path);
    void (*on_start)(void *user, const struct train_start_info *s);
    void *user;
} train_opts;


/* Fills every field with its "unset" value (see above). */
void train_opts_defaults(train_opts *o);

/* Runs (or resumes) a training run to o->steps. The losses of every step go
 * to OUT/log.jsonl (one JSON object per line, flushed per line). Returns
 * CC_OK or a cc_code with the message in cc_last_error(). */
int train_run(const train_opts *o);

/* ---- pieces, for tests and tools ---- */

/* open_clip model config (the JSON of open_clip's model_configs/NAME.json, or an
 * open_clip_config.json holding {"model_cfg": ...}) -> clip_config with
 * OpenAI naming. ResNet iff vision_cfg.layers is a list. */
int train_config_read(const char *path, clip_config *cfg);
int train_config_from_json_text(const char *text, const char *what, clip_config *cfg);

/* A fresh weight map for cfg initialised as OpenAI's
 * initialize_parameters does (clip/model.py; PyTorch's defaults elsewhere), deterministic by
 * seed: every tensor the towers read, BatchNorm running buffers,
 * logit_scale = ln(1/0.07) (SigLIP: ln 10, and logit_bias = -10). */
int train_init_weights(const clip_config *cfg, clip_loss_kind kind, uint64_t seed, clip_wmap **out);

#endif
