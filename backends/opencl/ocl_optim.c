/* AdamW on the device: the parameter registry, the optimizer-state arena and
 * the per-step launch sequence. Clipping on: sum of squares per tensor ->
 * one finalize that writes the norm and the clip/average factor -> one AdamW
 * launch per tensor. Clipping off: the AdamW launches alone, each also
 * writing its tensor's sum-of-squares partials when the norm is tracked for
 * the log, then one finalize. See ocl_optim.h for the exact semantics. */
#include "backends/opencl/ocl_optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define OPT_NAME_LEN 160
#define OPT_MAX_DIMS 8
/* Elements per work-item = 8 * vpi (float8 vectors per item), the context's
 * policy.optim_vpi (runtime/policy.h): on a CPU-style device 512 contiguous
 * elements per item (32 to 128 vectors measured alike) amortise PoCL's
 * per-work-item cost and keep the partials few (one per item, 0.3 M for
 * ViT-B/32's 151 M parameters); on a GPU one float8 per item keeps the launch
 * wide. The same split serves the update, the sum of squares and the
 * accumulation, so the norm's partials have one layout. */
#define OPT_FIN_LWS 256
/* Each tensor's state starts on a 64-byte boundary. */
#define OPT_ALIGN_FLOATS 16

typedef struct opt_param {
    char name[OPT_NAME_LEN];
    int ndim;
    int64_t shape[OPT_MAX_DIMS];
    int64_t numel;
    cl_mem param, grad;   /* the caller's */
    int decays;
    float lo, hi;         /* clamp after the update */
    int64_t m_off, v_off, acc_off; /* floats into the arena; acc -1 when K == 1 */
    int64_t part_off;     /* first partial of this tensor's sum of squares */
    int64_t parts;        /* work-items of this tensor's launches */
} opt_param;

struct ocl_optim {
    rt_ctx *ctx;
    adamw_cfg cfg;
    opt_param *p;
    int n, cap;
    int ready;             /* arena allocated, kernels built */
    cl_mem state;          /* m, v, accumulators of every tensor */
    cl_mem partials;       /* sum-of-squares partials, `parts` per tensor */
    int64_t n_parts;
    int vpi;               /* float8 vectors per work-item */
    int norm_valid;        /* stats[0] holds the last step's norm */
    size_t fin_lws;        /* finalize work-group size, a power of two */
    cl_mem stats;          /* [0] norm, [1] gradient factor */
    cl_kernel k_acc, k_sumsq, k_fin, k_adamw;
    int n_accum;           /* micro-batches accumulated since the last step */
    int64_t t;             /* steps taken */
};

int ocl_optim_create(rt_ctx *ctx, const adamw_cfg *cfg, ocl_optim **out)
{
    if (!ctx || !out)
        return cc_fail(CC_ERR_INVALID, "ocl_optim_create: ctx and out must not be NULL");
    *out = NULL;
    adamw_cfg c = cfg ? *cfg : adamw_defaults();
    int rc = adamw_cfg_check(&c, "ocl_optim");
    if (rc)
        return rc;
    ocl_optim *o = calloc(1, sizeof *o);
    if (!o)
        return cc_fail(CC_ERR_NOMEM, "ocl_optim_create: out of memory");
    o->ctx = ctx;
    o->cfg = c;
    *out = o;
    return CC_OK;
}

void ocl_optim_free(ocl_optim *o)
{
    if (!o)
        return;
    cl_kernel ks[4] = {o->k_acc, o->k_sumsq, o->k_fin, o->k_adamw};
    for (int i = 0; i < 4; i++)
        if (ks[i])
            clReleaseKernel(ks[i]);
    cl_mem ms[3] = {o->state, o->partials, o->stats};
    for (int i = 0; i < 3; i++)
        if (ms[i])
            clReleaseMemObject(ms[i]);
    free(o->p);
    free(o);
}

int ocl_optim_add(ocl_optim *o, const char *name, int ndim, const int64_t *shape, cl_mem param,
                    cl_mem grad, int *index)
{
    if (!o || !name || !param || !grad || (ndim > 0 && !shape))
        return cc_fail(CC_ERR_INVALID, "ocl_optim_add: optimizer, name, param and grad must not be NULL");
    if (o->ready)
        return cc_fail(CC_ERR_INVALID, "ocl_optim_add: '%s' added after the first step; add every parameter "
                       "first", name);
    if (ndim < 0 || ndim > OPT_MAX_DIMS)
        return cc_fail(CC_ERR_INVALID, "ocl_optim_add: '%s' has %d dims, expected 0..%d", name, ndim,
                       OPT_MAX_DIMS);
    if (strlen(name) >= OPT_NAME_LEN)
        return cc_fail(CC_ERR_INVALID, "ocl_optim_add: name '%.40s...' is %zu chars, at most %d", name,
                       strlen(name), OPT_NAME_LEN - 1);
    int64_t numel = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 1)
            return cc_fail(CC_ERR_SHAPE, "ocl_optim_add: '%s' dim %d is %lld, expected >= 1", name, d,
                           (long long)shape[d]);
        numel *= shape[d];
    }
    if (o->n == o->cap) {
        int cap = o->cap ? 2 * o->cap : 32;
        opt_param *np = realloc(o->p, (size_t)cap * sizeof *np);
        if (!np)
            return cc_fail(CC_ERR_NOMEM, "ocl_optim_add: out of memory");
        o->p = np;
        o->cap = cap;
    }
    opt_param *q = &o->p[o->n];
    memset(q, 0, sizeof *q);
    strcpy(q->name, name);
    q->ndim = ndim;
    for (int d = 0; d < ndim; d++)
        q->shape[d] = shape[d];
    q->numel = numel;
    q->param = param;
    q->grad = grad;
    q->decays = adamw_param_decays(name, ndim);
    q->lo = -INFINITY;
    q->hi = INFINITY;
    if (index)
        *index = o->n;
    o->n++;
    return CC_OK;
}

static int check_index(const ocl_optim *o, int i, const char *fn)
{
    if (!o)
        return cc_fail(CC_ERR_INVALID, "%s: optimizer is NULL", fn);
    if (i < 0 || i >= o->n)
        return cc_fail(CC_ERR_INVALID, "%s: parameter index %d out of range [0, %d)", fn, i, o->n);
    return CC_OK;
}

int ocl_optim_rebind(ocl_optim *o, int i, cl_mem param, cl_mem grad)
{
    int rc = check_index(o, i, "ocl_optim_rebind");
    if (rc)
        return rc;
    if (!param || !grad)
        return cc_fail(CC_ERR_INVALID, "ocl_optim_rebind: '%s': param and grad must not be NULL", o->p[i].name);
    o->p[i].param = param;
    o->p[i].grad = grad;
    return CC_OK;
}

int ocl_optim_set_clamp(ocl_optim *o, int i, float lo, float hi)
{
    int rc = check_index(o, i, "ocl_optim_set_clamp");
    if (rc)
        return rc;
    if (!(lo <= hi))
        return cc_fail(CC_ERR_INVALID, "ocl_optim_set_clamp: '%s': need lo <= hi, found [%g, %g]",
                       o->p[i].name, lo, hi);
    o->p[i].lo = lo;
    o->p[i].hi = hi;
    return CC_OK;
}

int ocl_optim_set_decay(ocl_optim *o, int i, int decays)
{
    int rc = check_index(o, i, "ocl_optim_set_decay");
    if (rc)
        return rc;
    o->p[i].decays = decays != 0;
    return CC_OK;
}

int ocl_optim_count(const ocl_optim *o) { return o ? o->n : 0; }
const char *ocl_optim_name(const ocl_optim *o, int i) { return o && i >= 0 && i < o->n ? o->p[i].name : NULL; }
int64_t ocl_optim_numel(const ocl_optim *o, int i) { return o && i >= 0 && i < o->n ? o->p[i].numel : -1; }
int ocl_optim_decays(const ocl_optim *o, int i) { return o && i >= 0 && i < o->n ? o->p[i].decays : 0; }
int64_t ocl_optim_steps(const ocl_optim *o) { return o ? o->t : 0; }
void ocl_optim_set_steps(ocl_optim *o, int64_t t)
{
    if (o && t >= 0)
        o->t = t;
}

static int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

/* Lays out the arena, allocates it zeroed (torch starts m and v at 0) and
 * builds the kernels. Runs once, at the first use. */
static int make_ready(ocl_optim *o)
{
    if (o->ready)
        return CC_OK;
    if (o->n == 0)
        return cc_fail(CC_ERR_INVALID, "ocl_optim: no parameters were added");
    int64_t off = 0;
    o->n_parts = 0;
    o->vpi = o->ctx->policy.optim_vpi;
    const int64_t per_item = 8 * (int64_t)o->vpi;
    for (int i = 0; i < o->n; i++) {
        opt_param *q = &o->p[i];
        int64_t span = round_up(q->numel, OPT_ALIGN_FLOATS);
        q->m_off = off;
        q->v_off = off + span;
        off += 2 * span;
        q->acc_off = -1;
        if (o->cfg.accum_steps > 1) {
            q->acc_off = off;
            off += span;
        }
        q->parts = (q->numel + per_item - 1) / per_item;
        q->part_off = o->n_parts;
        o->n_parts += q->parts;
    }
    if (o->n_parts > INT32_MAX)
        return cc_fail(CC_ERR_INVALID, "ocl_optim: %lld sum-of-squares partials exceed the kernel's int count",
                       (long long)o->n_parts);
    rt_ctx *ctx = o->ctx;
    int rc = CC_OK;
    /* guarded so that a retry after a failure does not leak */
    if (!o->state)
        rc = rt_alloc(ctx, (size_t)off * sizeof(float), &o->state);
    if (!rc && !o->partials)
        rc = rt_alloc(ctx, (size_t)o->n_parts * sizeof(float), &o->partials);
    if (!rc && !o->stats)
        rc = rt_alloc(ctx, 4 * sizeof(float), &o->stats);
    if (rc)
        return rc;
    const float zero = 0.0f;
    RT_CHECK(clEnqueueFillBuffer(ctx->queue, o->state, &zero, sizeof zero, 0, (size_t)off * sizeof(float), 0,
                                 NULL, NULL));
    RT_CHECK(clEnqueueFillBuffer(ctx->queue, o->stats, &zero, sizeof zero, 0, 4 * sizeof(float), 0, NULL, NULL));
    if ((!o->k_acc && (rc = rt_kernel(ctx, "optim.cl", "", "optim_accumulate", &o->k_acc))) ||
        (!o->k_sumsq && (rc = rt_kernel(ctx, "optim.cl", "", "optim_sumsq", &o->k_sumsq))) ||
        (!o->k_fin && (rc = rt_kernel(ctx, "optim.cl", "", "optim_finalize", &o->k_fin))) ||
        (!o->k_adamw && (rc = rt_kernel(ctx, "optim.cl", "", "optim_adamw", &o->k_adamw))))
        return rc;
    size_t kmax = 1;
    RT_CHECK(clGetKernelWorkGroupInfo(o->k_fin, ctx->dev.device, CL_KERNEL_WORK_GROUP_SIZE, sizeof kmax, &kmax,
                                      NULL));
    o->fin_lws = 1;
    while (o->fin_lws * 2 <= OPT_FIN_LWS && o->fin_lws * 2 <= kmax)
        o->fin_lws *= 2;
    o->ready = 1;
    return CC_OK;
}

#define SETARG(k, i, v) RT_CHECK(clSetKernelArg((k), (i), sizeof(v), &(v)))

/* One work-item per 8*vpi elements of a numel-element tensor. */
static int launch(ocl_optim *o, cl_kernel k, int64_t numel)
{
    int64_t items = (numel + 8 * (int64_t)o->vpi - 1) / (8 * (int64_t)o->vpi);
    size_t gws = (size_t)round_up(items > 0 ? items : 1, o->vpi > 1 ? 8 : 64);
    RT_CHECK(clEnqueueNDRangeKernel(o->ctx->queue, k, 1, NULL, &gws, NULL, 0, NULL, NULL));
    return CC_OK;
}

int ocl_optim_accumulate(ocl_optim *o)
{
    if (!o)
        return cc_fail(CC_ERR_INVALID, "ocl_optim_accumulate: optimizer is NULL");
    if (o->cfg.accum_steps <= 1)
        return cc_fail(CC_ERR_INVALID, "ocl_optim_accumulate: accum_steps is %d; accumulation needs >= 2",
                       o->cfg.accum_steps);
    if (o->n_accum >= o->cfg.accum_steps)
        return cc_fail(CC_ERR_INVALID, "ocl_optim_accumulate: already %d of %d micro-batches; call "
                       "ocl_optim_step first", o->n_accum, o->cfg.accum_steps);
    int rc = make_ready(o);
    if (rc)
        return rc;
    cl_int first = o->n_accum == 0, vpi = o->vpi;
    for (int i = 0; i < o->n; i++) {
        opt_param *q = &o->p[i];
        cl_long acc_off = q->acc_off, n = q->numel;
        SETARG(o->k_acc, 0, o->state);
        SETARG(o->k_acc, 1, acc_off);
        SETARG(o->k_acc, 2, q->grad);
        SETARG(o->k_acc, 3, n);
        SETARG(o->k_acc, 4, vpi);
        SETARG(o->k_acc, 5, first);
        if ((rc = launch(o, o->k_acc, q->numel)))
            return rc;
    }
    o->n_accum++;
    RT_CHECK(clFlush(o->ctx->queue));
    return CC_OK;
}

/* Source of the step's gradient for tensor q: the accumulator or the grad. */
static void grad_source(const ocl_optim *o, const opt_param *q, cl_mem *buf, cl_long *off)
{
    if (o->cfg.accum_steps > 1) {
        *buf = o->state;
        *off = q->acc_off;
    } else {
        *buf = q->grad;
        *off = 0;
    }
}

/* Sum of squares of every tensor's gradient into the partials. */
static int enqueue_sumsq(ocl_optim *o)
{
    int rc;
    cl_int vpi = o->vpi;
    for (int i = 0; i < o->n; i++) {
        opt_param *q = &o->p[i];
        cl_mem src;
        cl_long src_off, n = q->numel, part_off = q->part_off;
        grad_source(o, q, &src, &src_off);
        SETARG(o->k_sumsq, 0, src);
        SETARG(o->k_sumsq, 1, src_off);
        SETARG(o->k_sumsq, 2, n);
        SETARG(o->k_sumsq, 3, vpi);
        SETARG(o->k_sumsq, 4, o->partials);
        SETARG(o->k_sumsq, 5, part_off);
        if ((rc = launch(o, o->k_sumsq, q->numel)))
            return rc;
    }
    return CC_OK;
}

/* Folds the partials into stats[0] (norm) and stats[1] (gradient factor). */
static int enqueue_finalize(ocl_optim *o)
{
    cl_int count = (cl_int)o->n_parts;
    cl_float inv_k = (cl_float)(1.0 / o->cfg.accum_steps);
    cl_float max_norm = o->cfg.clip_norm > 0 ? (cl_float)o->cfg.clip_norm : 0.0f;
    SETARG(o->k_fin, 0, o->partials);
    SETARG(o->k_fin, 1, count);
    SETARG(o->k_fin, 2, o->stats);
    SETARG(o->k_fin, 3, inv_k);
    SETARG(o->k_fin, 4, max_norm);
    RT_CHECK(clSetKernelArg(o->k_fin, 5, o->fin_lws * sizeof(float), NULL));
    RT_CHECK(clEnqueueNDRangeKernel(o->ctx->queue, o->k_fin, 1, NULL, &o->fin_lws, &o->fin_lws, 0, NULL, NULL));
    return CC_OK;
}

/* clip: the gradient factor is stats[1] (written by the finalize before);
 * else 1/K, and with `partials` set the launch also writes the tensor's
 * sum-of-squares partials for a finalize after the updates. */
static int enqueue_adamw(ocl_optim *o, const opt_param *q, double lr, double bc1, double bc2, int clip,
                         int partials)
{
    const adamw_cfg *c = &o->cfg;
    cl_mem src;
    cl_long src_off, m_off = q->m_off, v_off = q->v_off, n = q->numel;
    cl_long part_off = partials ? q->part_off : -1;
    cl_int vpi = o->vpi, use_stats = clip;
    cl_float gscale = (cl_float)(1.0 / c->accum_steps);
    grad_source(o, q, &src, &src_off);
    cl_float decay_mul = (cl_float)(1.0 - lr * (q->decays ? c->weight_decay : 0.0));
    cl_float w1 = (cl_float)(1.0 - c->beta1), b2 = (cl_float)c->beta2, w2 = (cl_float)(1.0 - c->beta2);
    cl_float neg_step = (cl_float)(-(lr / bc1)), bc2_sqrt = (cl_float)sqrt(bc2), eps = (cl_float)c->eps;
    cl_float lo = q->lo, hi = q->hi;
    cl_kernel k = o->k_adamw;
    SETARG(k, 0, q->param);
    SETARG(k, 1, src);
    SETARG(k, 2, src_off);
    SETARG(k, 3, o->state);
    SETARG(k, 4, m_off);
    SETARG(k, 5, v_off);
    SETARG(k, 6, n);
    SETARG(k, 7, vpi);
    SETARG(k, 8, o->stats);
    SETARG(k, 9, use_stats);
    SETARG(k, 10, gscale);
    SETARG(k, 11, o->partials);
    SETARG(k, 12, part_off);
    SETARG(k, 13, decay_mul);
    SETARG(k, 14, w1);
    SETARG(k, 15, b2);
    SETARG(k, 16, w2);
    SETARG(k, 17, neg_step);
    SETARG(k, 18, bc2_sqrt);
    SETARG(k, 19, eps);
    SETARG(k, 20, lo);
    SETARG(k, 21, hi);
    return launch(o, k, q->numel);
}

int ocl_optim_step(ocl_optim *o, double lr)
{
    if (!o)
        return cc_fail(CC_ERR_INVALID, "ocl_optim_step: optimizer is NULL");
    if (!(lr >= 0) || isinf(lr))
        return cc_fail(CC_ERR_INVALID, "ocl_optim_step: learning rate must be finite and >= 0, found %g", lr);
    if (o->cfg.accum_steps > 1 && o->n_accum != o->cfg.accum_steps)
        return cc_fail(CC_ERR_INVALID, "ocl_optim_step: %d of %d micro-batches accumulated; call "
                       "ocl_optim_accumulate after each micro-batch", o->n_accum, o->cfg.accum_steps);
    int rc = make_ready(o);
    if (rc)
        return rc;
    const int clip = o->cfg.clip_norm > 0, fused = !clip && o->cfg.track_grad_norm;
    o->norm_valid = 0;
    if (clip && ((rc = enqueue_sumsq(o)) || (rc = enqueue_finalize(o))))
        return rc;
    o->t++;
    double bc1 = 1.0 - pow(o->cfg.beta1, (double)o->t);
    double bc2 = 1.0 - pow(o->cfg.beta2, (double)o->t);
    for (int i = 0; i < o->n; i++)
        if ((rc = enqueue_adamw(o, &o->p[i], lr, bc1, bc2, clip, fused)))
            return rc;
    if (fused && (rc = enqueue_finalize(o)))
        return rc;
    o->norm_valid = clip || fused;
    o->n_accum = 0;
    RT_CHECK(clFlush(o->ctx->queue));
    return CC_OK;
}

int ocl_optim_grad_norm(ocl_optim *o, float *norm)
{
    if (!o || !norm)
        return cc_fail(CC_ERR_INVALID, "ocl_optim_grad_norm: optimizer and norm must not be NULL");
    if (!o->ready || o->t == 0)
        return cc_fail(CC_ERR_INVALID, "ocl_optim_grad_norm: no step taken yet");
    if (!o->norm_valid)
        return cc_fail(CC_ERR_INVALID, "ocl_optim_grad_norm: the last step did not compute the norm "
                       "(clipping off and track_grad_norm 0)");
    return rt_download(o->ctx, o->stats, 0, norm, sizeof *norm);
}

int ocl_optim_get_state(ocl_optim *o, int i, float *m, float *v)
{
    int rc = check_index(o, i, "ocl_optim_get_state");
    if (rc || (rc = make_ready(o)))
        return rc;
    const opt_param *q = &o->p[i];
    size_t bytes = (size_t)q->numel * sizeof(float);
    if (m && (rc = rt_download(o->ctx, o->state, (size_t)q->m_off * sizeof(float), m, bytes)))
        return rc;
    if (v && (rc = rt_download(o->ctx, o->state, (size_t)q->v_off * sizeof(float), v, bytes)))
        return rc;
    return CC_OK;
}

int ocl_optim_set_state(ocl_optim *o, int i, const float *m, const float *v)
{
    int rc = check_index(o, i, "ocl_optim_set_state");
    if (rc || (rc = make_ready(o)))
        return rc;
    if (!m || !v)
        return cc_fail(CC_ERR_INVALID, "ocl_optim_set_state: '%s': m and v must not be NULL", o->p[i].name);
    const opt_param *q = &o->p[i];
    size_t bytes = (size_t)q->numel * sizeof(float);
    if ((rc = rt_upload(o->ctx, o->state, (size_t)q->m_off * sizeof(float), m, bytes)) ||
        (rc = rt_upload(o->ctx, o->state, (size_t)q->v_off * sizeof(float), v, bytes)))
        return rc;
    return CC_OK;
}

int ocl_optim_grad(ocl_optim *o, int i, float *g, int write)
{
    int rc = check_index(o, i, "ocl_optim_grad");
    if (rc || (rc = make_ready(o)))
        return rc;
    const opt_param *q = &o->p[i];
    cl_mem buf = q->grad;
    size_t off = 0, bytes = (size_t)q->numel * sizeof(float);
    if (o->cfg.accum_steps > 1) {
        buf = o->state;
        off = (size_t)q->acc_off * sizeof(float);
    }
    return write ? rt_upload(o->ctx, buf, off, g, bytes) : rt_download(o->ctx, buf, off, g, bytes);
}
