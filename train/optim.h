/* AdamW as OpenCL kernels (kernels/optim.cl), with optional clipping by the
 * global gradient norm and gradient accumulation over K micro-batches.
 *
 * Semantics are torch.optim.AdamW's (single-tensor path) exactly:
 *   p <- p * (1 - lr*wd)                       (decoupled decay, before the update)
 *   m <- m + (1 - b1) (g - m)                  (torch's lerp)
 *   v <- b2 v + (1 - b2) g^2
 *   p <- p - lr/(1 - b1^t) * m / (sqrt(v)/sqrt(1 - b2^t) + eps)
 * with g the gradient averaged over the K micro-batches and, when clipping
 * is on, multiplied by min(1, max_norm / (||g||_2 + 1e-6)) where ||g||_2 is
 * the norm over ALL parameter gradients together
 * (torch.nn.utils.clip_grad_norm_). Defaults are CLIP's: b1 0.9, b2 0.98,
 * eps 1e-6, weight decay 0.2, applied only where train_param_decays() says.
 *
 * Buffers: parameters and gradients are the caller's cl_mem (typically
 * ocl_plan_mem() of a training plan: params own buffers, grads sub-buffers of
 * the plan arena); m, v and the accumulators of every parameter live in one
 * optimizer-state arena. All work is enqueued on ctx->queue in order after
 * whatever the caller enqueued before (the backward plan), and nothing waits
 * for the host: the clip factor is computed on the device. */
#ifndef CLIPCL_TRAIN_OPTIM_H
#define CLIPCL_TRAIN_OPTIM_H

#include <stdint.h>

#include "runtime/rt.h"

typedef struct train_adamw_cfg {
    /* doubles, as PyTorch's Python scalars are: factors such as 1 - beta1
     * are formed in double and rounded to float once, like torch does */
    double beta1, beta2, eps;
    double weight_decay; /* for the tensors that decay (train_param_decays) */
    double clip_norm;    /* > 0: clip by global gradient norm; <= 0: off */
    int accum_steps;     /* K >= 1 micro-batches per optimizer step */
    /* With clipping off, whether each step also computes the global
     * gradient norm for train_optim_grad_norm (the trainer logs it). It is
     * folded into the update pass (no second read of the gradients), so it
     * costs one small finalize launch; 0 skips even that, and
     * train_optim_grad_norm then fails. Clipping on always computes it. */
    int track_grad_norm;
} train_adamw_cfg;

/* b1 0.9, b2 0.98, eps 1e-6, wd 0.2, no clipping, K = 1, norm tracked. */
train_adamw_cfg train_adamw_defaults(void);

/* open_clip's exclusion rule, widened to embeddings as CLIP's recipe asks:
 * no decay where ndim < 2 or the name contains "bn", "ln", "bias",
 * "logit_scale", "token_embedding", "positional_embedding",
 * "position_embedding" (Hugging Face) or "class_embedding". Everything else
 * (linear and conv weights, projections, HF's patch_embedding conv) decays.
 * Note: open_clip itself decays the 2-D token and positional embeddings;
 * CLIP's paper and this runtime do not. */
int train_param_decays(const char *name, int ndim);

typedef struct train_optim train_optim;

int train_optim_create(rt_ctx *ctx, const train_adamw_cfg *cfg, train_optim **out);
void train_optim_free(train_optim *o);

/* Registers a parameter tensor (numel floats in param and grad, which must
 * outlive the optimizer or be rebound). Weight decay is decided here from
 * the name and ndim. Returns the parameter's index through *index (may be
 * NULL). All parameters must be added before the first accumulate/step. */
int train_optim_add(train_optim *o, const char *name, int ndim, const int64_t *shape, cl_mem param,
                    cl_mem grad, int *index);
/* After a plan is rebuilt: new buffers for parameter index i (same size). */
int train_optim_rebind(train_optim *o, int i, cl_mem param, cl_mem grad);
/* Clamp parameter i to [lo, hi] after every update, in the update kernel
 * (open_clip clamps logit_scale to [0, ln 100] after each step). */
int train_optim_set_clamp(train_optim *o, int i, float lo, float hi);
/* Overrides the decay decision for parameter i (1 decays, 0 does not). */
int train_optim_set_decay(train_optim *o, int i, int decays);

int train_optim_count(const train_optim *o);
const char *train_optim_name(const train_optim *o, int i);
int64_t train_optim_numel(const train_optim *o, int i);
int train_optim_decays(const train_optim *o, int i);

/* K > 1 only: adds the current gradients into the accumulators; call it
 * once after each of the K micro-batch backward passes, then step. */
int train_optim_accumulate(train_optim *o);

/* One AdamW step with learning rate lr (from train/schedule.h). With K > 1
 * exactly K accumulates must precede it (else CC_ERR_INVALID); the
 * gradient used is their sum / K. Enqueues, flushes, does not wait. */
int train_optim_step(train_optim *o, double lr);

/* Global L2 norm of the (averaged, unclipped) gradient of the last step;
 * reads one float back (waits for the queue). CC_ERR_INVALID when that step
 * did not compute it (clip_norm <= 0 and track_grad_norm == 0). */
int train_optim_grad_norm(train_optim *o, float *norm);

/* ---- checkpoint hooks: host copies of the state ----
 * step count t (bias corrections use t), and per parameter m and v
 * (numel floats each). get waits for the queue. */
int64_t train_optim_steps(const train_optim *o);
void train_optim_set_steps(train_optim *o, int64_t t);
int train_optim_get_state(train_optim *o, int i, float *m, float *v);
int train_optim_set_state(train_optim *o, int i, const float *m, const float *v);

#endif
