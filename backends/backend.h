/* One interface to every backend: models/, train/, tools/ and bench/ run
 * graphs through it and never name a backend. In the style of ggml's
 * backend interface: each backend fills a table of function pointers
 * (backends/backend_impl.h) and this file dispatches through it.
 *
 * Implemented by:
 *   "ref"        backends/ref/ref_backend.c: plain C (ref_eval), the oracle;
 *                tensors live in host memory; AdamW on the host.
 *   anything else (NULL or "" included)
 *                backends/opencl/ocl_backend_iface.c: a device chosen as
 *                rt_select_device() chooses, an rt_ctx, ocl_plan_* plans;
 *                AdamW as OpenCL kernels on the plan's buffers.
 *
 * A plan is one graph made runnable: write its inputs and params, run, read
 * any tensor back. Params persist across runs; inputs are written before
 * each run. */
#ifndef CLIPCL_BACKEND_H
#define CLIPCL_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "backends/adamw.h"
#include "graph/graph.h"
#include "runtime/rt.h"

typedef struct backend backend;
typedef struct backend_plan backend_plan;
typedef struct backend_optim backend_optim;

/* device: "ref" for the reference backend; anything else selects an OpenCL
 * device (rt_select_device's spec: NULL or "" -> $CLIPCL_DEVICE, else the
 * first GPU, else the first CPU) and creates its context. profiling: keep
 * per-node times (OpenCL; $CLIPCL_PROFILE=1 also turns it on).
 * An OpenCL device gets the device self-check (backends/selfcheck.h) unless
 * CLIPCL_SELFCHECK=0: the first time for a device, driver and set of kernel
 * sources it runs (seconds), later it applies the cached result. */
int backend_open(const char *device, int profiling, backend **out);
void backend_close(backend *b);

/* Storage of the weights of plans created from now on (docs/gemm.md
 * "Half-precision storage"): RT_DTYPE_F16 / RT_DTYPE_BF16 keep the GEMM
 * weights packed once (inference plans) in 16 bits, arithmetic in fp32.
 * For inference: an optimizer step re-packs in the same type, so training
 * keeps f32 (the default). The reference backend refuses anything but f32
 * (CC_ERR_UNSUPPORTED, one line). */
int backend_set_weight_dtype(backend *b, rt_dtype dt);
rt_dtype backend_weight_dtype(const backend *b);

/* Where warnings go (the library prints nothing): one line each, e.g. a
 * kernel variant the self-check disabled. NULL (the default) drops them.
 * Process-wide; the tool sets it once. */
typedef void (*backend_warning_fn)(const char *line);
void backend_set_warning_sink(backend_warning_fn fn);

/* "reference backend (plain C)" or "<device name> (<platform name>)". */
const char *backend_name(const backend *b);
/* The OpenCL device behind b, NULL for the reference backend. */
const rt_device_info *backend_device(const backend *b);
/* 1 when plans keep per-node times (backend_plan_node_seconds). */
int backend_profiling(const backend *b);
/* Waits until all work the backend was given has finished. */
int backend_finish(backend *b);

/* 1 when the backend can run node of g, 0 when not. */
int backend_supports_op(backend *b, const graph *g, int node);

/* Schedules g, plans its memory and prepares every node. g must outlive the
 * plan. */
int backend_plan_create(backend *b, const graph *g, backend_plan **out);
void backend_plan_free(backend_plan *p);

/* Copy host data into an input or param tensor, or read any tensor back;
 * bytes must be the tensor's whole size (g_nbytes). */
int backend_plan_write(backend_plan *p, int tensor, const void *host, size_t bytes);
int backend_plan_read(backend_plan *p, int tensor, void *host, size_t bytes);
/* Runs every node in schedule order and waits for the result. */
int backend_plan_run(backend_plan *p);
/* Runs what tensors[0..n) need: the schedule up to the last node that
 * writes one of them, then waits. For a training graph, whose forward nodes
 * come before its backward ones (g_schedule takes the oldest ready node),
 * that is a forward-only pass: the features of the exact-accumulation and
 * global-loss feature passes without the backward. Other tensors keep old
 * contents or are computed too (a backend without prefix runs runs all). */
int backend_plan_run_for(backend_plan *p, int n, const int *tensors);

/* Seconds per node (g->n_nodes entries) from the last run; -1 where the
 * node had no timed work or the backend keeps no times (the reference
 * backend, or OpenCL without profiling). With profiling, fails before the
 * first run. */
int backend_plan_node_seconds(const backend_plan *p, double *per_node);
/* Bytes of the activation arena (0 on the reference backend, which
 * allocates per tensor), and of the plan's private and shared scratch. */
size_t backend_plan_arena_bytes(const backend_plan *p);
size_t backend_plan_scratch_bytes(const backend_plan *p);
/* How a plan was lowered: launches (kernels and host calls) per run, of
 * which n_static run only after a param change (weights packed or folded
 * once), and the fusion patterns that fired (docs/fused-kernels.md). The
 * reference backend runs every node on its own and fuses nothing. */
#define BACKEND_MAX_FUSIONS 32
typedef struct backend_plan_stats {
    int n_launches, n_static;
    int n_last_run;            /* launches the last run enqueued: n_launches
                                  after a param change, n_launches - n_static
                                  otherwise (0 before the first run) */
    size_t packed_bytes;       /* device memory derived from params and kept
                                  (packed weights, folded BatchNorm) */
    size_t released_bytes;     /* params released once packed
                                  (backend_plan_release_originals) */
    int nodes_fused;           /* nodes lowered inside a fused run */
    int n_patterns;            /* rows of the backend's fusion table */
    const char *pattern[BACKEND_MAX_FUSIONS];
    int fired[BACKEND_MAX_FUSIONS];
} backend_plan_stats;
int backend_plan_stats_get(const backend_plan *p, backend_plan_stats *out);
/* The kernels a plan launches, each once: the kernel's function name and
 * the build options its lowering asked for ("" for none; the name
 * "clblast" stands for CLBlast's calls). Fills the first max of them (the
 * strings live as long as the plan) and returns how many there are; 0 on
 * the reference backend. The device self-check checks what these use. */
typedef struct backend_kernel_use {
    const char *name;
    const char *options;
} backend_kernel_use;
int backend_plan_kernels(const backend_plan *p, backend_kernel_use *out, int max);
/* Params changed behind the plan's back (an in-place update): data derived
 * from params only (packed GEMM weights) is recomputed at the next run.
 * backend_optim_step() calls it itself. */
void backend_plan_params_changed(backend_plan *p);
/* Inference plans only: once the next run has packed the weights, params
 * whose only readers use the packed copy are released on the device (no
 * weight kept twice) and every param is frozen (a later write fails with one
 * line). A plan whose params change (training) must not call it. No-op on
 * backends that keep no packed copies. */
void backend_plan_release_originals(backend_plan *p);

/* ---- the optimizer: AdamW over a training plan's params ----
 * Runs where the plan's tensors live (OpenCL kernels on the device buffers,
 * or host loops on the reference backend), with adamw.h's semantics. */

/* n_params parameters, to be added in order 0..n_params-1; cfg NULL ->
 * adamw_defaults(). The plan must outlive the optimizer. */
int backend_optim_create(backend_plan *p, const adamw_cfg *cfg, int n_params, backend_optim **out);
void backend_optim_free(backend_optim *o);
/* Parameter index (0, 1, ... in call order): the plan's PARAM tensor
 * `param` and its gradient tensor `grad`; weight decay from the param's
 * name and rank (adamw_param_decays). */
int backend_optim_add(backend_optim *o, int param, int grad);
/* Clamp parameter i to [lo, hi] after every update (logit_scale). */
int backend_optim_set_clamp(backend_optim *o, int i, float lo, float hi);
/* After each micro-batch's run: takes its gradients into the step. */
int backend_optim_accumulate(backend_optim *o);
/* One AdamW step with learning rate lr over the cfg->accum_steps
 * micro-batches accumulated since the last step; marks the plan's params changed.
 * grad_norm (may be NULL): the global norm of the averaged gradient. */
int backend_optim_step(backend_optim *o, double lr, float *grad_norm);
/* Checkpoint state: the step count t and host copies of parameter i's m and
 * v (numel floats each). */
int64_t backend_optim_steps(const backend_optim *o);
void backend_optim_set_steps(backend_optim *o, int64_t t);
int backend_optim_get_state(backend_optim *o, int i, float *m, float *v);
int backend_optim_set_state(backend_optim *o, int i, const float *m, const float *v);
/* The gradient the next backend_optim_step uses for parameter i (numel
 * floats): the sum of the micro-batches accumulated so far when
 * accum_steps > 1, else the last run's. Data-parallel training
 * (train/dist.h) reads it, sums it across processes and writes it back
 * between the last micro-batch and the step. */
int backend_optim_get_grad(backend_optim *o, int i, float *g);
int backend_optim_set_grad(backend_optim *o, int i, const float *g);

#endif
