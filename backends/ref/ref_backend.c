/* The reference backend behind backends/backend.h: a plan is one slot per
 * tensor in host memory. Inputs and params get buffers of their own at
 * their first write and keep them; activations and gradients are allocated
 * by ref_eval() at each run (zeroed, as ref_eval expects) and kept until the
 * next run so that they can be read back. The optimizer is the host AdamW
 * (ref_adamw.c) updating the param buffers in place. */
#include <stdlib.h>
#include <string.h>

#include "backends/backend_impl.h"
#include "backends/ref/ref.h"
#include "backends/ref/ref_adamw.h"
#include "runtime/status.h"

typedef struct ref_plan {
    const graph *g;
    void **slots;
    unsigned char *owned; /* 1 where slots[t] is an input/param buffer of ours */
} ref_plan;

typedef struct ref_optim {
    ref_plan *p;
    ref_adamw *adamw;
    int *grad;            /* gradient tensor of parameter i */
    int n;
} ref_optim;

static void ref_close(void *impl) { (void)impl; }
static int ref_finish(void *impl) { (void)impl; return CC_OK; }
static int ref_supports(void *impl, const graph *g, int node) { (void)impl; return ref_supports_op(g, node); }

static void ref_plan_free(void *plan)
{
    ref_plan *p = plan;
    if (!p)
        return;
    if (p->slots) {
        ref_free_acts(p->g, p->slots);
        for (int t = 0; t < p->g->n_tensors; t++)
            if (p->owned[t])
                free(p->slots[t]);
    }
    free(p->slots);
    free(p->owned);
    free(p);
}

static int ref_plan_create(void *impl, const graph *g, void **out)
{
    (void)impl;
    ref_plan *p = calloc(1, sizeof *p);
    size_t n = (size_t)(g->n_tensors > 0 ? g->n_tensors : 1);
    if (!p || !(p->slots = calloc(n, sizeof *p->slots)) || !(p->owned = calloc(n, 1))) {
        if (p)
            free(p->slots);
        free(p);
        return cc_fail(CC_ERR_NOMEM, "ref plan: out of memory for %d tensors", g->n_tensors);
    }
    p->g = g;
    *out = p;
    return CC_OK;
}

static int check_bytes(const ref_plan *p, int tensor, size_t bytes, const char *what)
{
    size_t have = g_nbytes(p->g, tensor);
    if (bytes != have)
        return cc_fail(CC_ERR_SHAPE, "%s: tensor %d holds %zu bytes, caller gave %zu", what, tensor, have, bytes);
    return CC_OK;
}

static int ref_plan_write(void *plan, int tensor, const void *host, size_t bytes)
{
    ref_plan *p = plan;
    const g_tensor *T = &p->g->tensors[tensor];
    int rc = check_bytes(p, tensor, bytes, "ref plan write");
    if (rc)
        return rc;
    if ((T->role != G_ROLE_INPUT && T->role != G_ROLE_PARAM) || T->alias_of >= 0)
        return cc_fail(CC_ERR_INVALID, "ref plan write: tensor %d '%s' is not an input or param with storage "
                       "of its own", tensor, T->name);
    if (!p->owned[tensor]) {
        if (!(p->slots[tensor] = malloc(bytes ? bytes : 1)))
            return cc_fail(CC_ERR_NOMEM, "ref plan write: %zu bytes for '%s'", bytes, T->name);
        p->owned[tensor] = 1;
    }
    memcpy(p->slots[tensor], host, bytes);
    return CC_OK;
}

static int ref_plan_read(void *plan, int tensor, void *host, size_t bytes)
{
    ref_plan *p = plan;
    int rc = check_bytes(p, tensor, bytes, "ref plan read");
    if (rc)
        return rc;
    if (!p->slots[tensor])
        return cc_fail(CC_ERR_INVALID, "ref plan read: tensor %d '%s' has no data (not written, or not run yet)",
                       tensor, p->g->tensors[tensor].name);
    memcpy(host, p->slots[tensor], bytes);
    return CC_OK;
}

static int ref_plan_run(void *plan)
{
    ref_plan *p = plan;
    /* the last run's activations go: ref_eval computes into zeroed storage */
    ref_free_acts(p->g, p->slots);
    return ref_eval(p->g, p->slots);
}

static int ref_plan_node_seconds(const void *plan, double *per_node)
{
    const ref_plan *p = plan;
    for (int i = 0; i < p->g->n_nodes; i++)
        per_node[i] = -1.0;
    return CC_OK;
}

static size_t ref_plan_zero_bytes(const void *plan) { (void)plan; return 0; }

/* One "launch" per scheduled node: the reference backend fuses nothing. */
static int ref_plan_stats(const void *plan, backend_plan_stats *out)
{
    const ref_plan *p = plan;
    int *order = malloc(sizeof(int) * (size_t)(p->g->n_nodes ? p->g->n_nodes : 1));
    if (!order)
        return cc_fail(CC_ERR_NOMEM, "ref plan stats: schedule of %d nodes", p->g->n_nodes);
    out->n_launches = g_schedule(p->g, order);
    out->n_last_run = out->n_launches; /* every node every run (before the first, too) */
    free(order);
    return out->n_launches < 0 ? cc_fail(CC_ERR_INVALID, "ref plan stats: the graph has a cycle") : CC_OK;
}
static void ref_plan_params_changed(void *plan) { (void)plan; /* nothing derived from params is kept */ }

/* ---- the optimizer ---- */

static void ref_optim_free(void *opt)
{
    ref_optim *o = opt;
    if (!o)
        return;
    ref_adamw_free(o->adamw);
    free(o->grad);
    free(o);
}

static int ref_optim_create(void *plan, const adamw_cfg *cfg, int n_params, void **out)
{
    ref_optim *o = calloc(1, sizeof *o);
    if (!o || !(o->grad = calloc((size_t)(n_params > 0 ? n_params : 1), sizeof *o->grad))) {
        free(o);
        return cc_fail(CC_ERR_NOMEM, "ref optimizer: out of memory");
    }
    o->p = plan;
    int rc = ref_adamw_create(cfg, n_params, &o->adamw);
    if (rc) {
        ref_optim_free(o);
        return rc;
    }
    *out = o;
    return CC_OK;
}

static int ref_optim_add(void *opt, int index, int param, int grad)
{
    ref_optim *o = opt;
    const graph *g = o->p->g;
    const g_tensor *T = &g->tensors[param];
    if (!o->p->owned[param])
        return cc_fail(CC_ERR_INVALID, "ref optimizer: param '%s' was never written to the plan", T->name);
    o->grad[index] = grad;
    o->n = index + 1;
    return ref_adamw_add(o->adamw, index, T->name, T->ndim, o->p->slots[param], g_numel(g, param));
}

static int ref_optim_set_clamp(void *opt, int i, float lo, float hi)
{
    return ref_adamw_set_clamp(((ref_optim *)opt)->adamw, i, lo, hi);
}

static int ref_optim_accumulate(void *opt)
{
    ref_optim *o = opt;
    for (int i = 0; i < o->n; i++) {
        const float *g = o->p->slots[o->grad[i]];
        if (!g)
            return cc_fail(CC_ERR_INVALID, "ref optimizer: gradient '%s' has no data (run the plan first)",
                           o->p->g->tensors[o->grad[i]].name);
    }
    for (int i = 0; i < o->n; i++)
        ref_adamw_accumulate(o->adamw, i, o->p->slots[o->grad[i]]);
    return CC_OK;
}

static int ref_optim_step(void *opt, double lr, float *grad_norm)
{
    return ref_adamw_step(((ref_optim *)opt)->adamw, lr, grad_norm);
}

static int ref_optim_grad(void *opt, int i, float *g, int write)
{
    return ref_adamw_grad(((ref_optim *)opt)->adamw, i, g, write);
}

static int64_t ref_optim_steps(const void *opt) { return ref_adamw_steps(((const ref_optim *)opt)->adamw); }
static void ref_optim_set_steps(void *opt, int64_t t) { ref_adamw_set_steps(((ref_optim *)opt)->adamw, t); }

static int ref_optim_get_state(void *opt, int i, float *m, float *v)
{
    return ref_adamw_get_state(((ref_optim *)opt)->adamw, i, m, v);
}

static int ref_optim_set_state(void *opt, int i, const float *m, const float *v)
{
    return ref_adamw_set_state(((ref_optim *)opt)->adamw, i, m, v);
}

static const backend_iface ref_iface = {
    .close = ref_close,
    .finish = ref_finish,
    .supports_op = ref_supports,
    .plan_create = ref_plan_create,
    .plan_free = ref_plan_free,
    .plan_write = ref_plan_write,
    .plan_read = ref_plan_read,
    .plan_run = ref_plan_run,
    .plan_node_seconds = ref_plan_node_seconds,
    .plan_arena_bytes = ref_plan_zero_bytes,
    .plan_scratch_bytes = ref_plan_zero_bytes,
    .plan_stats = ref_plan_stats,
    .plan_params_changed = ref_plan_params_changed,
    .optim_create = ref_optim_create,
    .optim_free = ref_optim_free,
    .optim_add = ref_optim_add,
    .optim_set_clamp = ref_optim_set_clamp,
    .optim_accumulate = ref_optim_accumulate,
    .optim_step = ref_optim_step,
    .optim_grad = ref_optim_grad,
    .optim_steps = ref_optim_steps,
    .optim_set_steps = ref_optim_set_steps,
    .optim_get_state = ref_optim_get_state,
    .optim_set_state = ref_optim_set_state,
};

int ref_backend_open(backend_desc *out)
{
    memset(out, 0, sizeof *out);
    out->iface = &ref_iface;
    strcpy(out->name, "reference backend (plain C)");
    return CC_OK;
}
