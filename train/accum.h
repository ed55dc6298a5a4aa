/* Exact gradient accumulation (open_clip's --accum-freq): K micro-batches of
 * B pairs give the gradient of ONE batch of K*B pairs.
 *
 *   1. the features of all K micro-batches, from runs that keep no
 *      gradient (ops->features),
 *   2. the loss over all K*B features and its gradient with respect to
 *      every feature and to logit_scale / logit_bias (train/global_loss.h
 *      on the host, or ops->loss, e.g. train/global_loss_plan.h's),
 *   3. each micro-batch run again with its slice of that gradient
 *      (ops->backward): the towers' parameter gradients of the micro-batches
 *      add up to the big batch's; the logit_scale / logit_bias gradient is
 *      handed to micro-batch 0 only (0 to the others), so it too is counted
 *      once.
 * With several ranks (data parallelism), the features of every rank's K
 * micro-batches are all-gathered between 1 and 2 (ops->gather), the loss
 * is the one of ranks*K*B pairs, and each rank's backward passes cover its
 * own rows (the temperature's share of its rows going to its micro-batch 0).
 * The ops are what the caller runs the towers with: the trainer's backend
 * plan (train/trainer_exec.c), or a test's. BatchNorm layers see
 * micro-batches of B: their batch statistics (and so the gradient of a
 * ResNet tower) are those of each micro-batch, as in open_clip. */
#ifndef CLIPCL_TRAIN_ACCUM_H
#define CLIPCL_TRAIN_ACCUM_H

#include "models/clip_loss.h"
#include "train/global_loss.h"

typedef struct train_accum_ops {
    void *user;
    /* Features of micro-batch k: img and txt [B, E], projected, not normalised. */
    int (*features)(void *user, int k, float *img, float *txt);
    /* Backward pass of micro-batch k from d loss / d its features [B, E]
     * and the logit_scale / logit_bias gradients to add. */
    int (*backward)(void *user, int k, const float *d_img, const float *d_txt, float d_scale,
                    float d_bias);
    /* Ranks > 1 only (NULL otherwise): an in-place all-gather in rank order
     * (MPI_Allgather with MPI_IN_PLACE): img and txt hold ranks * rows rows
     * of width e, this rank's rows [rank * rows, (rank + 1) * rows) are
     * filled; fill everyone else's. */
    int (*gather)(void *user, float *img, float *txt, int rows, int e);
    /* Optional: the loss and gradients with train_global_loss's contract
     * (e.g. train_loss_plan_run on the device, for every row live: one
     * process); NULL: train_global_loss on the host. */
    int (*loss)(void *user, const train_global_loss_in *in, train_global_loss_out *out);
} train_accum_ops;

typedef struct train_accum {
    clip_loss_kind kind;
    int k, b, e;
    int ranks, rank;      /* data-parallel position (1, 0 in one process) */
    float *img, *txt;     /* [ranks*K*B, E]: every rank's features */
    float *d_img, *d_txt; /* [K*B, E]: this rank's rows' gradients */
} train_accum;

/* One process: K micro-batches of B pairs, features of width E. */
int train_accum_init(train_accum *a, clip_loss_kind kind, int k, int b, int e);
/* Data parallel: this is rank `rank` of `ranks`, each with K micro-batches
 * of B; the loss is the one of the ranks*K*B pairs (rank-major order). Each
 * rank's gradients are its rows' part of the full batch's (the temperature's
 * share of this rank's image rows included): all-reduce them with a SUM
 * (an averaging all-reduce divides by the rank count: seed ranks * K then). */
int train_accum_init_ranks(train_accum *a, clip_loss_kind kind, int k, int b, int e, int ranks, int rank);
void train_accum_free(train_accum *a);
/* One accumulated gradient (steps 1-3; with ranks, the gather between 1
 * and 2) at the current logit_scale t and logit_bias (SigLIP; ignored
 * otherwise); *loss: the loss of the whole batch. */
int train_accum_run(train_accum *a, float logit_scale, float logit_bias, const train_accum_ops *ops,
                    double *loss);

#endif
