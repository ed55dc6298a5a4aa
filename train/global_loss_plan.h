/* The global loss of train/global_loss.h with every row live, as a graph
 * on a backend: models/clip_loss.h's in-graph loss (f32, the same as a
 * plain batch's) differentiated by autodiff with respect to the features,
 * logit_scale and logit_bias. On a GPU this is a few matmuls instead of the
 * host's O(N^2 E) double loops; it holds N x N intermediates (the logits and
 * their softmaxes) and an N x N labels input. The trainer's exact
 * accumulation uses it on its own device. */
#ifndef CLIPCL_TRAIN_GLOBAL_LOSS_PLAN_H
#define CLIPCL_TRAIN_GLOBAL_LOSS_PLAN_H

#include "backends/backend.h"
#include "train/global_loss.h"

typedef struct train_loss_plan train_loss_plan;

/* A plan for N rows of width E on backend be (which must outlive it). */
int train_loss_plan_create(backend *be, clip_loss_kind kind, int n, int e, train_loss_plan **out);
void train_loss_plan_free(train_loss_plan *p);
/* train_global_loss's contract for in->live_begin = 0, live_count = N
 * (anything else: CC_ERR_INVALID); in->kind, n and dim must be the plan's. */
int train_loss_plan_run(train_loss_plan *p, const train_global_loss_in *in, train_global_loss_out *out);

#endif
