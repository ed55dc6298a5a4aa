/* AdamW as OpenCL kernels (kernels/optim.cl), with optional clipping by the
 * global gradient norm and gradient accumulation over K micro-batches. The
 * OpenCL backend's optimizer: training reaches it through backends/backend.h
 * (backend_optim_*), tests of the kernels call it directly.
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
 * eps 1e-6, weight decay 0.2, applied only where adamw_param_decays() says.
 *
 * Buffers: parameters and gradients are the caller's cl_mem (typically
 * ocl_plan_mem() of a training plan: params own buffers, grads sub-buffers of
 * the plan arena); m, v and the accumulators of every parameter live in one
 * optimizer-state arena. All work is enqueued on ctx->queue in order after
 * whatever the caller enqueued before (the backward plan), and nothing waits
 * for the host: the clip factor is computed on the device. */
#ifndef CLIPCL_OCL_OPTIM_H
#define CLIPCL_OCL_OPTIM_H

#include <stdint.h>

#include "backends/adamw.h"
#include "runtime/rt.h"

typedef struct ocl_optim ocl_optim;

int ocl_optim_create(rt_ctx *ctx, const adamw_cfg *cfg, ocl_optim **out);
void ocl_optim_free(ocl_optim *o);

/* Registers a parameter tensor (numel floats in param and grad, which must
 * outlive the optimizer or be rebound). Weight decay is decided here from
 * the name and ndim. Returns the parameter's index through *index (may be
 * NULL). All parameters must be added before the first accumulate/step. */
int ocl_optim_add(ocl_optim *o, const char *name, int ndim, const int64_t *shape, cl_mem param,
                  cl_mem grad, int *index);
/* After a plan is rebuilt: new buffers for parameter index i (same size). */
int ocl_optim_rebind(ocl_optim *o, int i, cl_mem param, cl_mem grad);
/* Clamp parameter i to [lo, hi] after every update, in the update kernel
 * (open_clip clamps logit_scale to [0, ln 100] after each step). */
int ocl_optim_set_clamp(ocl_optim *o, int i, float lo, float hi);
/* Overrides the decay decision for parameter i (1 decays, 0 does not). */
int ocl_optim_set_decay(ocl_optim *o, int i, int decays);

int ocl_optim_count(const ocl_optim *o);
const char *ocl_optim_name(const ocl_optim *o, int i);
int64_t ocl_optim_numel(const ocl_optim *o, int i);
int ocl_optim_decays(const ocl_optim *o, int i);

/* K > 1 only: adds the current gradients into the accumulators; call it
 * once after each of the K micro-batch backward passes, then step. */
int ocl_optim_accumulate(ocl_optim *o);

/* One AdamW step with learning rate lr (the caller's schedule). With K > 1
 * exactly K accumulates must precede it (else CC_ERR_INVALID); the
 * gradient used is their sum / K. Enqueues, flushes, does not wait. */
int ocl_optim_step(ocl_optim *o, double lr);

/* Global L2 norm of the (averaged, unclipped) gradient of the last step;
 * reads one float back (waits for the queue). CC_ERR_INVALID when that step
 * did not compute it (clip_norm <= 0 and track_grad_norm == 0). */
int ocl_optim_grad_norm(ocl_optim *o, float *norm);

/* ---- checkpoint hooks: host copies of the state ----
 * step count t (bias corrections use t), and per parameter m and v
 * (numel floats each). get waits for the queue. */
int64_t ocl_optim_steps(const ocl_optim *o);
void ocl_optim_set_steps(ocl_optim *o, int64_t t);
int ocl_optim_get_state(ocl_optim *o, int i, float *m, float *v);
int ocl_optim_set_state(ocl_optim *o, int i, const float *m, const float *v);
/* The gradient the next step uses for tensor i (the accumulator when
 * accum_steps > 1, else the caller's grad buffer): read into g or, with
 * write, replaced by g (numel floats). */
int ocl_optim_grad(ocl_optim *o, int i, float *g, int write);

#endif
