/* backends/backend.h: picks a backend from the device string and forwards
 * every call through its function table. Arguments are checked here once,
 * so the backends can trust them. */
#include "backends/backend_impl.h"

#include <stdlib.h>
#include <string.h>

#include "backends/opencl/ocl_warn.h"
#include "runtime/clock.h"
#include "runtime/timings.h"
#include "backends/selfcheck.h"
#include "runtime/settings.h"
#include "runtime/status.h"

struct backend {
    backend_desc d;
    int selfcheck; /* an OpenCL device whose self-check runs: each plan checks what it uses */
};

struct backend_plan {
    backend *b;
    const graph *g;
    void *impl;
};

struct backend_optim {
    backend_plan *p;
    void *impl;
    int n_params, n_added;
};

static backend_warning_fn warning_sink;

/* The OpenCL backend's own warnings (a GEMM quick tune on first use, a
 * malformed tuning file) go to the same sink. */
void backend_set_warning_sink(backend_warning_fn fn)
{
    warning_sink = fn;
    ocl_set_warning_sink(fn);
}

/* One warning line per variant or pattern that this check disabled. */
static void warn_disabled(const rt_ctx *ctx, const sc_report *r)
{
    for (int i = 0; warning_sink && i < r->n_items; i++)
        if (r->item[i].disabled && r->item[i].now) {
            char line[600];
            backend_selfcheck_warning(ctx, r, i, line, sizeof line);
            warning_sink(line);
        }
}

/* The self-check of an OpenCL device (selfcheck.h) runs per plan, on what
 * the plan uses (check_plan); opening only applies the result known for
 * the device, so the first plan lowers with what is known to work. */
static void selfcheck_open(backend *b)
{
    const char *v = rt_setting_value(RT_SET_SELFCHECK);
    if (!b->d.ctx || (v && !strcmp(v, "0")))
        return;
    b->selfcheck = 1;
    backend_selfcheck_apply_cached(b->d.ctx);
}

int backend_open(const char *device, int profiling, backend **out)
{
    if (!out)
        return cc_fail(CC_ERR_INVALID, "backend_open: out must not be NULL");
    *out = NULL;
    backend *b = calloc(1, sizeof *b);
    if (!b)
        return cc_fail(CC_ERR_NOMEM, "backend_open: out of memory");
    double t0 = cc_now_s();
    const int is_ref = device && strcmp(device, "ref") == 0;
    int rc = is_ref ? ref_backend_open(&b->d) : ocl_backend_open(device, profiling, &b->d);
    /* the reference backend opened by the device self-check is not a
     * second device: its own line in the CLIPCL_TIMINGS breakdown */
    rt_timing_add(is_ref ? "reference backend open" : "device open", NULL, cc_now_s() - t0);
    if (rc) {
        free(b);
        return rc;
    }
    t0 = cc_now_s();
    selfcheck_open(b);
    rt_timing_add("device self-check", "the known result applied", cc_now_s() - t0);
    *out = b;
    return CC_OK;
}

void backend_close(backend *b)
{
    if (!b)
        return;
    b->d.iface->close(b->d.impl);
    free(b);
}

int backend_set_weight_dtype(backend *b, rt_dtype dt)
{
    if (!b)
        return cc_fail(CC_ERR_INVALID, "backend_set_weight_dtype: backend is NULL");
    if ((int)dt < RT_DTYPE_F32 || (int)dt > RT_DTYPE_BF16)
        return cc_fail(CC_ERR_INVALID, "weight dtype %d: expected " RT_DTYPE_CHOICES, (int)dt);
    if (!b->d.ctx) {
        if (dt == RT_DTYPE_F32)
            return CC_OK;
        return cc_fail(CC_ERR_UNSUPPORTED, "dtype %s: the reference backend stores weights in f32 only",
                       rt_dtype_name(dt));
    }
    b->d.ctx->weight_dtype = dt;
    return CC_OK;
}

rt_dtype backend_weight_dtype(const backend *b) { return b && b->d.ctx ? b->d.ctx->weight_dtype : RT_DTYPE_F32; }

const char *backend_name(const backend *b) { return b ? b->d.name : ""; }
const rt_device_info *backend_device(const backend *b) { return b ? b->d.device : NULL; }
int backend_profiling(const backend *b) { return b ? b->d.profiling : 0; }

int backend_finish(backend *b)
{
    if (!b)
        return cc_fail(CC_ERR_INVALID, "backend_finish: backend is NULL");
    return b->d.iface->finish(b->d.impl);
}

int backend_supports_op(backend *b, const graph *g, int node)
{
    if (!b || !g || node < 0 || node >= g->n_nodes)
        return 0;
    return b->d.iface->supports_op(b->d.impl, g, node);
}

/* ---- plans ---- */

/* The self-check of what the new plan uses (selfcheck.h): the parts of the
 * kernels it launches and the fusion patterns it fused, those not known
 * yet; *again: one was disabled, lower the plan anew. */
static int check_plan(backend_plan *p, int *again)
{
    const backend_iface *f = p->b->d.iface;
    *again = 0;
    backend_plan_stats st;
    memset(&st, 0, sizeof st);
    const char *names[BACKEND_MAX_FUSIONS];
    int n = 0;
    if (!f->plan_stats || f->plan_stats(p->impl, &st) != CC_OK)
        cc_clear_error();
    for (int i = 0; i < st.n_patterns; i++)
        if (st.fired[i] > 0)
            names[n++] = st.pattern[i];
    const int nk = f->plan_kernels ? f->plan_kernels(p->impl, NULL, 0) : 0;
    backend_kernel_use *ks = nk > 0 ? malloc(sizeof *ks * (size_t)nk) : NULL;
    if (nk > 0 && !ks)
        return cc_fail(CC_ERR_NOMEM, "device self-check: out of host memory");
    if (nk > 0)
        f->plan_kernels(p->impl, ks, nk);
    const sc_uses u = {ks, nk > 0 ? nk : 0, names, n};
    sc_report r;
    int n_disabled = 0;
    int rc = backend_selfcheck_uses(p->b->d.ctx, &u, &r, &n_disabled);
    free(ks);
    if (rc)
        return cc_wrap(rc, "device self-check on %s", p->b->d.ctx->dev.device_name);
    double parts = 0, patterns = 0;
    for (int i = 0; i < r.n_items; i++)
        if (r.item[i].now)
            *(strncmp(r.item[i].name, "fusion=", 7) ? &parts : &patterns) += r.item[i].seconds;
    rt_timing_add("device self-check", "kernel variants of the plan", parts);
    rt_timing_add("device self-check", "fusion patterns of the plan", patterns);
    warn_disabled(p->b->d.ctx, &r);
    *again = n_disabled > 0;
    return CC_OK;
}

int backend_plan_create(backend *b, const graph *g, backend_plan **out)
{
    if (!b || !g || !out)
        return cc_fail(CC_ERR_INVALID, "backend_plan_create: backend, graph and out must not be NULL");
    *out = NULL;
    backend_plan *p = calloc(1, sizeof *p);
    if (!p)
        return cc_fail(CC_ERR_NOMEM, "backend_plan_create: out of memory");
    p->b = b;
    p->g = g;
    int rc = b->d.iface->plan_create(b->d.impl, g, &p->impl);
    /* a part or pattern disabled: lowered again without it, and what the new
     * lowering uses is checked in turn (each round disables one more item at
     * least, so this ends; the cap is a guard) */
    for (int round = 0; !rc && b->selfcheck && round < SC_MAX_ITEMS; round++) {
        int again = 0;
        rc = check_plan(p, &again);
        if (rc || !again)
            break;
        b->d.iface->plan_free(p->impl);
        p->impl = NULL;
        rc = b->d.iface->plan_create(b->d.impl, g, &p->impl);
    }
    if (rc && p->impl) {
        b->d.iface->plan_free(p->impl);
        p->impl = NULL;
    }
    if (rc) {
        free(p);
        return rc;
    }
    *out = p;
    return CC_OK;
}

void backend_plan_free(backend_plan *p)
{
    if (!p)
        return;
    p->b->d.iface->plan_free(p->impl);
    free(p);
}

static int check_tensor(const backend_plan *p, int tensor, const void *host, const char *what)
{
    if (!p || !host)
        return cc_fail(CC_ERR_INVALID, "%s: plan and host buffer must not be NULL", what);
    if (tensor < 0 || tensor >= p->g->n_tensors)
        return cc_fail(CC_ERR_INVALID, "%s: tensor id %d out of range [0, %d)", what, tensor, p->g->n_tensors);
    return CC_OK;
}

int backend_plan_write(backend_plan *p, int tensor, const void *host, size_t bytes)
{
    int rc = check_tensor(p, tensor, host, "backend_plan_write");
    return rc ? rc : p->b->d.iface->plan_write(p->impl, tensor, host, bytes);
}

int backend_plan_read(backend_plan *p, int tensor, void *host, size_t bytes)
{
    int rc = check_tensor(p, tensor, host, "backend_plan_read");
    return rc ? rc : p->b->d.iface->plan_read(p->impl, tensor, host, bytes);
}

int backend_plan_run(backend_plan *p)
{
    if (!p)
        return cc_fail(CC_ERR_INVALID, "backend_plan_run: plan is NULL");
    return p->b->d.iface->plan_run(p->impl);
}

int backend_plan_run_for(backend_plan *p, int n, const int *tensors)
{
    if (!p || n < 0 || (n > 0 && !tensors))
        return cc_fail(CC_ERR_INVALID, "backend_plan_run_for: expected a plan and n >= 0 tensors, found %s and %d",
                       p ? "a plan" : "NULL", n);
    for (int j = 0; j < n; j++)
        if (tensors[j] < 0 || tensors[j] >= p->g->n_tensors)
            return cc_fail(CC_ERR_INVALID, "backend_plan_run_for: tensor id %d out of range [0, %d)", tensors[j],
                           p->g->n_tensors);
    const backend_iface *f = p->b->d.iface;
    return f->plan_run_for ? f->plan_run_for(p->impl, n, tensors) : f->plan_run(p->impl);
}

int backend_plan_node_seconds(const backend_plan *p, double *per_node)
{
    if (!p || !per_node)
        return cc_fail(CC_ERR_INVALID, "backend_plan_node_seconds: plan and per_node must not be NULL");
    return p->b->d.iface->plan_node_seconds(p->impl, per_node);
}

size_t backend_plan_arena_bytes(const backend_plan *p)
{
    return p ? p->b->d.iface->plan_arena_bytes(p->impl) : 0;
}

size_t backend_plan_scratch_bytes(const backend_plan *p)
{
    return p ? p->b->d.iface->plan_scratch_bytes(p->impl) : 0;
}

int backend_plan_stats_get(const backend_plan *p, backend_plan_stats *out)
{
    if (!p || !out)
        return cc_fail(CC_ERR_INVALID, "backend_plan_stats_get: expected a plan and an output, found NULL");
    memset(out, 0, sizeof *out);
    return p->b->d.iface->plan_stats(p->impl, out);
}

int backend_plan_kernels(const backend_plan *p, backend_kernel_use *out, int max)
{
    if (!p || (max > 0 && !out))
        return 0;
    return p->b->d.iface->plan_kernels ? p->b->d.iface->plan_kernels(p->impl, out, max) : 0;
}

void backend_plan_release_originals(backend_plan *p)
{
    if (p && p->b->d.iface->plan_release_originals)
        p->b->d.iface->plan_release_originals(p->impl);
}

void backend_plan_params_changed(backend_plan *p)
{
    if (p)
        p->b->d.iface->plan_params_changed(p->impl);
}

/* ---- the optimizer ---- */

int backend_optim_create(backend_plan *p, const adamw_cfg *cfg, int n_params, backend_optim **out)
{
    if (!p || !out || n_params < 0)
        return cc_fail(CC_ERR_INVALID, "backend_optim_create: plan and out must not be NULL, n_params >= 0 "
                       "(found %d)", n_params);
    *out = NULL;
    adamw_cfg c = cfg ? *cfg : adamw_defaults();
    int rc = adamw_cfg_check(&c, "backend_optim_create");
    if (rc)
        return rc;
    backend_optim *o = calloc(1, sizeof *o);
    if (!o)
        return cc_fail(CC_ERR_NOMEM, "backend_optim_create: out of memory");
    o->p = p;
    o->n_params = n_params;
    if ((rc = p->b->d.iface->optim_create(p->impl, &c, n_params, &o->impl))) {
        free(o);
        return rc;
    }
    *out = o;
    return CC_OK;
}

void backend_optim_free(backend_optim *o)
{
    if (!o)
        return;
    o->p->b->d.iface->optim_free(o->impl);
    free(o);
}

static const backend_iface *optim_iface(const backend_optim *o) { return o->p->b->d.iface; }

int backend_optim_add(backend_optim *o, int param, int grad)
{
    if (!o)
        return cc_fail(CC_ERR_INVALID, "backend_optim_add: optimizer is NULL");
    const graph *g = o->p->g;
    if (o->n_added >= o->n_params)
        return cc_fail(CC_ERR_INVALID, "backend_optim_add: all %d parameters were added already", o->n_params);
    if (param < 0 || param >= g->n_tensors || g->tensors[param].role != G_ROLE_PARAM)
        return cc_fail(CC_ERR_INVALID, "backend_optim_add: tensor %d is not a PARAM of the plan's graph", param);
    if (grad < 0 || grad >= g->n_tensors || g_numel(g, grad) != g_numel(g, param))
        return cc_fail(CC_ERR_INVALID, "backend_optim_add: gradient tensor %d of '%s' is missing or of another "
                       "size", grad, g->tensors[param].name);
    int rc = optim_iface(o)->optim_add(o->impl, o->n_added, param, grad);
    if (!rc)
        o->n_added++;
    return rc;
}

static int check_index(const backend_optim *o, int i, const char *what)
{
    if (!o)
        return cc_fail(CC_ERR_INVALID, "%s: optimizer is NULL", what);
    if (i < 0 || i >= o->n_added)
        return cc_fail(CC_ERR_INVALID, "%s: parameter index %d out of range [0, %d)", what, i, o->n_added);
    return CC_OK;
}

int backend_optim_set_clamp(backend_optim *o, int i, float lo, float hi)
{
    int rc = check_index(o, i, "backend_optim_set_clamp");
    return rc ? rc : optim_iface(o)->optim_set_clamp(o->impl, i, lo, hi);
}

int backend_optim_accumulate(backend_optim *o)
{
    if (!o)
        return cc_fail(CC_ERR_INVALID, "backend_optim_accumulate: optimizer is NULL");
    return optim_iface(o)->optim_accumulate(o->impl);
}

int backend_optim_step(backend_optim *o, double lr, float *grad_norm)
{
    if (!o)
        return cc_fail(CC_ERR_INVALID, "backend_optim_step: optimizer is NULL");
    return optim_iface(o)->optim_step(o->impl, lr, grad_norm);
}

int64_t backend_optim_steps(const backend_optim *o) { return o ? optim_iface(o)->optim_steps(o->impl) : 0; }

void backend_optim_set_steps(backend_optim *o, int64_t t)
{
    if (o)
        optim_iface(o)->optim_set_steps(o->impl, t);
}

int backend_optim_get_state(backend_optim *o, int i, float *m, float *v)
{
    int rc = check_index(o, i, "backend_optim_get_state");
    if (!rc && (!m || !v))
        rc = cc_fail(CC_ERR_INVALID, "backend_optim_get_state: m and v must not be NULL");
    return rc ? rc : optim_iface(o)->optim_get_state(o->impl, i, m, v);
}

int backend_optim_set_state(backend_optim *o, int i, const float *m, const float *v)
{
    int rc = check_index(o, i, "backend_optim_set_state");
    if (!rc && (!m || !v))
        rc = cc_fail(CC_ERR_INVALID, "backend_optim_set_state: m and v must not be NULL");
    return rc ? rc : optim_iface(o)->optim_set_state(o->impl, i, m, v);
}

static int optim_grad(backend_optim *o, int i, float *g, int write, const char *fn)
{
    int rc = check_index(o, i, fn);
    if (!rc && !g)
        rc = cc_fail(CC_ERR_INVALID, "%s: g must not be NULL", fn);
    return rc ? rc : optim_iface(o)->optim_grad(o->impl, i, g, write);
}

int backend_optim_get_grad(backend_optim *o, int i, float *g)
{
    return optim_grad(o, i, g, 0, "backend_optim_get_grad");
}

int backend_optim_set_grad(backend_optim *o, int i, const float *g)
{
    return optim_grad(o, i, (float *)g, 1, "backend_optim_set_grad");
}
