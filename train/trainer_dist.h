/* The data-parallel side of the training loop (train/trainer.c), on top of
 * train/dist.h's collectives: device choice per rank, the global batch on
 * resume, parameter broadcast, the bucketed gradient sum, the weight hash
 * check, and the loss interface a distributed step uses.
 * docs/distributed.md describes the whole scheme. */
#ifndef CLIPCL_TRAIN_TRAINER_DIST_H
#define CLIPCL_TRAIN_TRAINER_DIST_H

#include <stddef.h>
#include <stdint.h>

#include "train/dist.h"
#include "train/trainer_internal.h"

/* ---- the loss of a distributed step ----
 * LOCAL (--local-loss): each rank's loss over its own B pairs (B - 1
 *   negatives per image), the per-rank gradients averaged: the cheap variant,
 *   not the large-batch loss.
 * GLOBAL (the default): the loss over the R * B pairs of all ranks (features
 *   all-gathered by train_dist_gather_features_inplace inside train/accum.h's
 *   engine), each rank's backward giving the gradient for its own rows only;
 *   those sum (not average) to the full-batch gradient. */
typedef enum train_dist_loss {
    TRAIN_DIST_LOSS_LOCAL = 0,
    TRAIN_DIST_LOSS_GLOBAL = 1,
} train_dist_loss;

/* The loss a run uses (global requested or not); CC_ERR_UNSUPPORTED when
 * the build cannot do what was asked. */
int train_dist_loss_choose(int want_global, train_dist_loss *out);
/* Factor applied to the summed gradients: 1/R for LOCAL, 1 for GLOBAL. */
float train_dist_grad_scale(train_dist_loss kind, int ranks);
/* All-gather of features for the global loss: this rank's rows x dim of
 * img and of txt into all_img / all_txt (ranks * rows x dim each, rank
 * order, which is the global batch's order: rank r holds rows r*B..). */
int train_dist_gather_features(const float *img, const float *txt, int rows, int dim,
                               float *all_img, float *all_txt);
/* The same in place, in the shape of an accumulation engine's gather
 * callback (user unused): img and txt hold ranks * rows rows of width e,
 * this rank's rows [rank * rows, (rank + 1) * rows) filled; fills the others. */
int train_dist_gather_features_inplace(void *user, float *img, float *txt, int rows, int e);

/* ---- setup ---- */
/* The device spec of this rank: a comma-separated list gives entry
 * (local rank mod count); a single spec is used as is; none (and no
 * $CLIPCL_DEVICE) on several ranks: the node's GPU (local rank mod the
 * GPU count), else the backend's default. */
int train_dist_device(const char *spec, char *out, size_t len);
/* Per-rank batch on resume so that ranks x batch x accum equals the
 * checkpoint's global batch (prev_*). batch/accum: the explicit values or
 * -1. CC_ERR_INVALID, saying why, when it cannot. */
int train_dist_resume_batch(int prev_batch, int prev_accum, int prev_ranks, int ranks,
                            int want_batch, int want_accum, int *batch, int *accum);
/* Rank 0's values of every tensor of w to every rank. buffers_only: only
 * the BatchNorm running buffers (rank 0's win, as DDP's broadcast_buffers). */
int train_dist_bcast_weights(clip_wmap *w, int buffers_only);
/* XXH64 of every tensor of w (names and values, in map order). */
uint64_t train_dist_weights_hash(const clip_wmap *w);

/* ---- the step ---- */
typedef struct train_dist_reducer {
    float *bucket, *scratch;
    size_t cap;               /* floats per bucket */
    int64_t bytes_per_step;   /* gradient bytes summed per step (for the docs' numbers) */
} train_dist_reducer;

/* bucket_mb: bucket size in MiB ($CLIPCL_DIST_BUCKET_MB, default 16). */
int train_dist_reducer_init(train_dist_reducer *r, double bucket_mb);
void train_dist_reducer_free(train_dist_reducer *r);
/* Sums the step's gradient of every parameter over the ranks, bucket by
 * bucket (a bucket's exchange runs while the next bucket is read back),
 * times scale; extra (n_extra values, e.g. the loss) rides in the last
 * bucket and comes back summed. */
int train_dist_reduce(train_dist_reducer *r, train_exec *e, float scale, float *extra, int n_extra);

#endif
