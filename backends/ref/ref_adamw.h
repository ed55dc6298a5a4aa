/* The reference backend's optimizer: AdamW on the host with the math of
 * kernels/optim.cl (backends/adamw.h's configuration), so the plain-C
 * backend trains without any OpenCL device. Training reaches it through
 * backends/backend.h (backend_optim_*). */
#ifndef CLIPCL_REF_ADAMW_H
#define CLIPCL_REF_ADAMW_H

#include <stdint.h>

#include "backends/adamw.h"

typedef struct ref_adamw ref_adamw;

/* n parameters, indexed 0..n-1; cfg NULL -> adamw_defaults(). */
int ref_adamw_create(const adamw_cfg *cfg, int n, ref_adamw **out);
void ref_adamw_free(ref_adamw *o);
/* Parameter i: numel floats at param (updated in place), decay from the
 * name's rule, no clamp until ref_adamw_set_clamp. */
int ref_adamw_add(ref_adamw *o, int i, const char *name, int ndim, float *param, int64_t numel);
/* Clamp parameter i to [lo, hi] after every update (logit_scale). */
int ref_adamw_set_clamp(ref_adamw *o, int i, float lo, float hi);
/* Adds a micro-batch's gradient of parameter i; call for every parameter
 * after each micro-batch (the last index closes the micro-batch). */
void ref_adamw_accumulate(ref_adamw *o, int i, const float *grad);
/* Step with the gradient sum / micro-batches (then clipped); the global
 * norm of that averaged gradient through grad_norm (may be NULL). */
int ref_adamw_step(ref_adamw *o, double lr, float *grad_norm);
int64_t ref_adamw_steps(const ref_adamw *o);
void ref_adamw_set_steps(ref_adamw *o, int64_t t);
/* Host copies of parameter i's m and v (numel floats each). */
int ref_adamw_get_state(const ref_adamw *o, int i, float *m, float *v);
int ref_adamw_set_state(ref_adamw *o, int i, const float *m, const float *v);
/* The accumulated gradient of parameter i (what the next step uses),
 * read into g or, with write, replaced by g. */
int ref_adamw_grad(ref_adamw *o, int i, float *g, int write);

#endif
