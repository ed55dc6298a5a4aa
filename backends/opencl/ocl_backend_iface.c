/* The OpenCL backend behind backends/backend.h: an rt_ctx on the selected
 * device, ocl_plan_* plans, and the device AdamW (ocl_optim.c) on the
 * plan's param and gradient buffers, enqueued behind the plan's launches. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend_impl.h"
#include "backends/opencl/ocl_backend.h"
#include "backends/opencl/ocl_fusion.h"
#include "backends/opencl/ocl_optim.h"
#include "runtime/status.h"

typedef struct ocl_iface_optim {
    struct ocl_iface_plan *plan;
    ocl_optim *opt;
    int accum;            /* micro-batches per step */
} ocl_iface_optim;

static void ocl_close(void *impl) { rt_ctx_free(impl); }
static int ocl_finish(void *impl) { return rt_finish(impl); }
static int ocl_supports(void *impl, const graph *g, int node) { return ocl_supports_op(impl, g, node); }

/* The plan with what the optimizer needs to know about it. */
typedef struct ocl_iface_plan {
    ocl_plan *plan;
    rt_ctx *ctx;
    const graph *g;
} ocl_iface_plan;

static int ocl_iface_plan_create(void *impl, const graph *g, void **out)
{
    ocl_iface_plan *p = calloc(1, sizeof *p);
    if (!p)
        return cc_fail(CC_ERR_NOMEM, "OpenCL plan: out of memory");
    p->ctx = impl;
    p->g = g;
    int rc = ocl_plan_create(impl, g, &p->plan);
    if (rc) {
        free(p);
        return rc;
    }
    *out = p;
    return CC_OK;
}

static void ocl_iface_plan_free(void *plan)
{
    ocl_iface_plan *p = plan;
    if (!p)
        return;
    ocl_plan_free(p->plan);
    free(p);
}

static ocl_plan *plan_of(void *plan) { return ((ocl_iface_plan *)plan)->plan; }
static const ocl_plan *const_plan_of(const void *plan) { return ((const ocl_iface_plan *)plan)->plan; }

static int ocl_iface_plan_write(void *plan, int t, const void *host, size_t bytes)
{
    return ocl_plan_write(plan_of(plan), t, host, bytes);
}
static int ocl_iface_plan_read(void *plan, int t, void *host, size_t bytes)
{
    return ocl_plan_read(plan_of(plan), t, host, bytes);
}
static int ocl_iface_plan_run(void *plan) { return ocl_plan_run(plan_of(plan)); }
static int ocl_iface_plan_run_for(void *plan, int n, const int *tensors)
{
    return ocl_plan_run_for(plan_of(plan), n, tensors);
}
static int ocl_iface_node_seconds(const void *plan, double *per_node)
{
    const ocl_iface_plan *p = plan;
    if (!p->ctx->profiling) { /* no events kept: the interface says -1 */
        for (int i = 0; i < p->g->n_nodes; i++)
            per_node[i] = -1.0;
        return CC_OK;
    }
    return ocl_plan_node_seconds(p->plan, per_node);
}
static size_t ocl_iface_arena_bytes(const void *plan) { return ocl_plan_arena_bytes(const_plan_of(plan)); }
static size_t ocl_iface_scratch_bytes(const void *plan) { return ocl_plan_scratch_bytes(const_plan_of(plan)); }

static int ocl_iface_stats(const void *plan, backend_plan_stats *out)
{
    ocl_fusion_stats fs;
    int rc = ocl_plan_fusion_stats(const_plan_of(plan), &fs);
    if (rc)
        return rc;
    out->n_launches = fs.n_launches;
    out->n_static = fs.n_static;
    out->n_last_run = ocl_plan_last_run_launches(const_plan_of(plan));
    out->packed_bytes = ocl_plan_derived_bytes(const_plan_of(plan));
    out->released_bytes = ocl_plan_released_bytes(const_plan_of(plan));
    out->nodes_fused = fs.nodes_fused;
    out->n_patterns = fs.n_patterns < BACKEND_MAX_FUSIONS ? fs.n_patterns : BACKEND_MAX_FUSIONS;
    for (int i = 0; i < out->n_patterns; i++) {
        out->pattern[i] = fs.name[i];
        out->fired[i] = fs.fired[i];
    }
    return CC_OK;
}
static int ocl_iface_kernels(const void *plan, backend_kernel_use *out, int max)
{
    int n = 0;
    const ocl_kernel_use *u = ocl_plan_kernel_uses(const_plan_of(plan), &n);
    for (int i = 0; i < n && i < max; i++) {
        out[i].name = u[i].name;
        out[i].options = u[i].options;
    }
    return n;
}
static void ocl_iface_params_changed(void *plan) { ocl_plan_params_changed(plan_of(plan)); }
static void ocl_iface_release_originals(void *plan) { ocl_plan_release_originals(plan_of(plan)); }

/* ---- the optimizer ---- */

static void ocl_iface_optim_free(void *opt)
{
    ocl_iface_optim *o = opt;
    if (!o)
        return;
    ocl_optim_free(o->opt);
    free(o);
}

static int ocl_iface_optim_create(void *plan, const adamw_cfg *cfg, int n_params, void **out)
{
    (void)n_params;
    ocl_iface_optim *o = calloc(1, sizeof *o);
    if (!o)
        return cc_fail(CC_ERR_NOMEM, "OpenCL optimizer: out of memory");
    o->plan = plan;
    o->accum = cfg->accum_steps;
    int rc = ocl_optim_create(o->plan->ctx, cfg, &o->opt);
    if (rc) {
        free(o);
        return rc;
    }
    *out = o;
    return CC_OK;
}

static int ocl_iface_optim_add(void *opt, int index, int param, int grad)
{
    ocl_iface_optim *o = opt;
    const g_tensor *T = &o->plan->g->tensors[param];
    int idx = -1;
    int rc = ocl_optim_add(o->opt, T->name, T->ndim, T->shape, ocl_plan_mem(o->plan->plan, param),
                           ocl_plan_mem(o->plan->plan, grad), &idx);
    if (!rc && idx != index)
        rc = cc_fail(CC_ERR_INVALID, "OpenCL optimizer: index %d for param %d", idx, index);
    return rc;
}

static int ocl_iface_optim_set_clamp(void *opt, int i, float lo, float hi)
{
    return ocl_optim_set_clamp(((ocl_iface_optim *)opt)->opt, i, lo, hi);
}

static int ocl_iface_optim_accumulate(void *opt)
{
    ocl_iface_optim *o = opt;
    /* K = 1 steps straight from the plan's gradients */
    if (ocl_optim_count(o->opt) > 0 && o->accum > 1)
        return ocl_optim_accumulate(o->opt);
    return CC_OK;
}

static int ocl_iface_optim_step(void *opt, double lr, float *grad_norm)
{
    ocl_iface_optim *o = opt;
    int rc = ocl_optim_step(o->opt, lr);
    ocl_plan_params_changed(o->plan->plan); /* AdamW rewrote the params in place */
    if (!rc && grad_norm)
        rc = ocl_optim_grad_norm(o->opt, grad_norm);
    return rc;
}

static int ocl_iface_optim_grad(void *opt, int i, float *g, int write)
{
    return ocl_optim_grad(((ocl_iface_optim *)opt)->opt, i, g, write);
}

static int64_t ocl_iface_optim_steps(const void *opt) { return ocl_optim_steps(((const ocl_iface_optim *)opt)->opt); }
static void ocl_iface_optim_set_steps(void *opt, int64_t t) { ocl_optim_set_steps(((ocl_iface_optim *)opt)->opt, t); }

static int ocl_iface_optim_get_state(void *opt, int i, float *m, float *v)
{
    return ocl_optim_get_state(((ocl_iface_optim *)opt)->opt, i, m, v);
}

static int ocl_iface_optim_set_state(void *opt, int i, const float *m, const float *v)
{
    return ocl_optim_set_state(((ocl_iface_optim *)opt)->opt, i, m, v);
}

static const backend_iface ocl_iface = {
    .close = ocl_close,
    .finish = ocl_finish,
    .supports_op = ocl_supports,
    .plan_create = ocl_iface_plan_create,
    .plan_free = ocl_iface_plan_free,
    .plan_write = ocl_iface_plan_write,
    .plan_read = ocl_iface_plan_read,
    .plan_run = ocl_iface_plan_run,
    .plan_run_for = ocl_iface_plan_run_for,
    .plan_node_seconds = ocl_iface_node_seconds,
    .plan_arena_bytes = ocl_iface_arena_bytes,
    .plan_scratch_bytes = ocl_iface_scratch_bytes,
    .plan_stats = ocl_iface_stats,
    .plan_kernels = ocl_iface_kernels,
    .plan_params_changed = ocl_iface_params_changed,
    .plan_release_originals = ocl_iface_release_originals,
    .optim_create = ocl_iface_optim_create,
    .optim_free = ocl_iface_optim_free,
    .optim_add = ocl_iface_optim_add,
    .optim_set_clamp = ocl_iface_optim_set_clamp,
    .optim_accumulate = ocl_iface_optim_accumulate,
    .optim_step = ocl_iface_optim_step,
    .optim_grad = ocl_iface_optim_grad,
    .optim_steps = ocl_iface_optim_steps,
    .optim_set_steps = ocl_iface_optim_set_steps,
    .optim_get_state = ocl_iface_optim_get_state,
    .optim_set_state = ocl_iface_optim_set_state,
};

int ocl_backend_open(const char *device, int profiling, backend_desc *out)
{
    memset(out, 0, sizeof *out);
    rt_ctx *ctx = NULL;
    int rc = rt_ctx_create(device, profiling, &ctx);
    if (rc)
        return rc;
    out->iface = &ocl_iface;
    out->impl = ctx;
    out->device = &ctx->dev;
    out->ctx = ctx;
    out->profiling = ctx->profiling;
    snprintf(out->name, sizeof out->name, "%s (%s)", ctx->dev.device_name, ctx->dev.platform_name);
    return CC_OK;
}
