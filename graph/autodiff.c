/* Reverse-mode autodiff over the IR: orders the loss's live ancestors
 * topologically, marks which tensors depend on the wrt tensors, then walks
 * that order backwards, applying one rule per node and summing the
 * contributions of every consumer into each tensor's gradient. The order is
 * computed rather than taken from node ids, because a pass such as fusion
 * may rewire a node to read a tensor created after it. */
#include "graph/autodiff_internal.h"
#include "graph/op_table.h"

#include <stdlib.h>
#include <string.h>

/* The op table's backward rule; NULL for ops without a gradient (max,
 * argmax and the backward ops themselves). */
static ad_rule rule_for(g_op op)
{
    const g_op_row *row = g_op_info(op);
    return row ? row->backward : NULL;
}

static int same_shape(const g_tensor *a, const g_tensor *b)
{
    return a->ndim == b->ndim && memcmp(a->shape, b->shape, (size_t)a->ndim * sizeof a->shape[0]) == 0;
}

int ad_accum(ad_ctx *c, int t, int grad)
{
    if (grad < 0)
        return -1;
    if (!ad_wants(c, t))
        return 0;
    graph *g = c->g;
    /* A rule must hand back exactly t's shape; catching it here names the
     * rule's mistake instead of a confusing add error later. */
    if (!same_shape(&g->tensors[t], &g->tensors[grad]))
        return cc_fail(CC_ERR_SHAPE, "g_backward: gradient %s for '%s' %s: shapes differ", g_sh(g, grad),
                       g->tensors[t].name, g_sh(g, t));
    if (c->acc[t] < 0) {
        c->acc[t] = grad;
        return 0;
    }
    int s = g_add(g, c->acc[t], grad);
    if (s < 0)
        return -1;
    c->acc[t] = s;
    return 0;
}

int ad_sum_to_like(ad_ctx *c, int dy, int t)
{
    if (dy < 0)
        return -1;
    const g_tensor *T = &c->g->tensors[t];
    if (same_shape(&c->g->tensors[dy], T))
        return dy;
    return g_sum_to(c->g, dy, T->ndim, T->shape);
}

int ad_reshape_like(ad_ctx *c, int x, int t)
{
    if (x < 0)
        return -1;
    const g_tensor *T = &c->g->tensors[t];
    if (same_shape(&c->g->tensors[x], T))
        return x;
    int64_t shape[G_MAX_DIMS];
    memcpy(shape, T->shape, sizeof shape);
    return g_reshape(c->g, x, T->ndim, shape);
}

int ad_const_like(graph *g, int ref, float value)
{
    return g_scale(g, g_exp(g, g_scale(g, ref, 0.0f)), value);
}

static int is_grad_name(const char *s) { return strncmp(s, "grad/", 5) == 0; }

static void grad_name(const graph *g, int t, char *buf)
{
    snprintf(buf, G_NAME_LEN, "grad/%.*s", G_NAME_LEN - 6, g->tensors[t].name);
}

/* Names t's finished gradient, unless it is a tensor shared with another
 * gradient (an identity rule such as add's) which keeps its first name. */
static void name_grad_of(ad_ctx *c, int t, int gt)
{
    if (is_grad_name(c->g->tensors[gt].name))
        return;
    char buf[G_NAME_LEN];
    grad_name(c->g, t, buf);
    g_set_name(c->g, gt, buf);
}

static int check_args(graph *g, int loss, int n_wrt, const int *wrt, const int *grads)
{
    if (!g)
        return cc_fail(CC_ERR_INVALID, "g_backward: graph is NULL");
    if (loss < 0 || loss >= g->n_tensors)
        return cc_fail(CC_ERR_INVALID, "g_backward: loss id %d does not exist (graph has %d tensors)", loss,
                       g->n_tensors);
    if (g->tensors[loss].dtype != G_F32 || g_numel(g, loss) != 1)
        return cc_fail(CC_ERR_SHAPE, "g_backward: loss '%s' %s: expected one f32 element, e.g. [1]",
                       g->tensors[loss].name, g_sh(g, loss));
    if (n_wrt < 1 || !wrt || !grads)
        return cc_fail(CC_ERR_INVALID, "g_backward: %d wrt tensors (or a NULL array), expected >= 1", n_wrt);
    for (int i = 0; i < n_wrt; i++) {
        if (wrt[i] < 0 || wrt[i] >= g->n_tensors)
            return cc_fail(CC_ERR_INVALID, "g_backward: wrt[%d] = %d does not exist", i, wrt[i]);
        if (g->tensors[wrt[i]].dtype != G_F32)
            return cc_fail(CC_ERR_INVALID, "g_backward: wrt[%d] '%s' is i32: integer tensors have no gradient",
                           i, g->tensors[wrt[i]].name);
    }
    return CC_OK;
}

/* Post-order DFS from the loss's producer over live producers: every node
 * the loss depends on, each after all of its inputs' producers. */
static int ancestors(const graph *g, int loss, int *order, int *n_order)
{
    int nn = g->n_nodes, n = 0, sp = 0, rc = CC_OK;
    char *state = calloc((size_t)(nn ? nn : 1), 1); /* 0 new, 1 on the stack, 2 done */
    int *stack = malloc((size_t)(nn ? nn : 1) * sizeof *stack);
    int *next = calloc((size_t)(nn ? nn : 1), sizeof *next);
    if (!state || !stack || !next) {
        rc = cc_fail(CC_ERR_NOMEM, "g_backward: ordering %d nodes", nn);
        goto done;
    }
    int p0 = g->tensors[loss].producer;
    if (p0 >= 0) {
        if (g->nodes[p0].dead) {
            rc = cc_fail(CC_ERR_INVALID, "g_backward: the loss '%s' is produced by dead node %d",
                         g->tensors[loss].name, p0);
            goto done;
        }
        state[p0] = 1;
        stack[sp++] = p0;
    }
    while (sp > 0) {
        int v = stack[sp - 1];
        const g_node *nd = &g->nodes[v];
        if (next[v] == nd->n_in) {
            state[v] = 2;
            order[n++] = v;
            sp--;
            continue;
        }
        int t = nd->in[next[v]++];
        int p = t >= 0 ? g->tensors[t].producer : -1;
        if (p < 0 || state[p] == 2)
            continue;
        if (g->nodes[p].dead || state[p] == 1) {
            rc = cc_fail(CC_ERR_INVALID, "g_backward: node %d '%s' reads '%s', whose producer %d is %s", v,
                         nd->name, g->tensors[t].name, p, state[p] == 1 ? "on a cycle" : "dead");
            goto done;
        }
        state[p] = 1;
        stack[sp++] = p;
    }
    *n_order = n;
done:
    free(state);
    free(stack);
    free(next);
    return rc;
}

/* req: depends on a wrt tensor (in topological order). SCALE by 0 and
 * integer outputs cut the dependence. */
static void mark(const graph *g, const int *order, int n, char *req)
{
    for (int i = 0; i < n; i++) {
        const g_node *nd = &g->nodes[order[i]];
        if (g->tensors[nd->out].dtype != G_F32)
            continue;
        if (nd->op == G_OP_SCALE && nd->attr.alpha == 0.0f)
            continue;
        for (int k = 0; k < nd->n_in; k++)
            if (nd->in[k] >= 0 && req[nd->in[k]])
                req[nd->out] = 1;
    }
}

static int check_supported(const graph *g, const int *order, int n, const char *req)
{
    for (int i = 0; i < n; i++) {
        const g_node *nd = &g->nodes[order[i]];
        if (rule_for(nd->op))
            continue;
        for (int k = 0; k < nd->n_in; k++)
            if (nd->in[k] >= 0 && req[nd->in[k]])
                return cc_fail(CC_ERR_UNSUPPORTED,
                               "g_backward: node %d '%s' (%s) lies on a path from a wrt tensor ('%s') to the "
                               "loss, and %s has no gradient rule (max/argmax are not differentiable here, "
                               "backward ops have no second derivative)",
                               order[i], nd->name, g_op_name(nd->op), g->tensors[nd->in[k]].name,
                               g_op_name(nd->op));
    }
    return CC_OK;
}

static int make_seed(graph *g, int loss)
{
    char buf[G_NAME_LEN];
    grad_name(g, loss, buf);
    int64_t shape[G_MAX_DIMS];
    memcpy(shape, g->tensors[loss].shape, sizeof shape);
    return g_input(g, buf, G_F32, g->tensors[loss].ndim, shape);
}

static int run_rules(ad_ctx *c, const int *order, int n)
{
    graph *g = c->g;
    for (int i = n - 1; i >= 0; i--) {
        g_node nd = g->nodes[order[i]]; /* a copy: rules append nodes */
        if (c->acc[nd.out] < 0)
            continue;
        int any = 0;
        for (int k = 0; k < nd.n_in; k++)
            any |= ad_wants(c, nd.in[k]);
        if (!any)
            continue;
        int dy = c->acc[nd.out];
        name_grad_of(c, nd.out, dy);
        int rc = rule_for(nd.op)(c, &nd, dy);
        if (rc < 0) {
            return cc_wrap(CC_ERR_SHAPE, "g_backward: rule for node %d '%s' (%s)", order[i], nd.name,
                           g_op_name(nd.op));
        }
        if (rc > 0)
            return rc;
    }
    return CC_OK;
}

/* The gradient handed back for wrt tensor t: its own tensor named
 * "grad/<t>", zeros when nothing reached it. */
static int finish_wrt(ad_ctx *c, int t, int seed)
{
    graph *g = c->g;
    const g_tensor *T = &g->tensors[t];
    int64_t shape[G_MAX_DIMS];
    memcpy(shape, T->shape, sizeof shape);
    int nd = T->ndim;
    char want[G_NAME_LEN];
    grad_name(g, t, want);
    int gt = c->acc[t];
    if (gt < 0) {
        int64_t one = 1;
        int s = g_numel(g, seed) == 1 && g->tensors[seed].ndim != 1 ? g_reshape(g, seed, 1, &one) : seed;
        gt = g_broadcast_to(g, g_scale(g, s, 0.0f), nd, shape);
    } else if (strcmp(g->tensors[gt].name, want) != 0 &&
               (is_grad_name(g->tensors[gt].name) || gt < c->n0 || gt == seed)) {
        gt = g_reshape(g, gt, nd, shape); /* shared with another gradient: a view of its own */
    }
    if (gt < 0)
        return -1;
    g_set_name(g, gt, want);
    g_mark_output(g, gt);
    return gt;
}

int g_backward(graph *g, int loss, int n_wrt, const int *wrt, int *grads, int *seed_out)
{
    int rc = check_args(g, loss, n_wrt, wrt, grads);
    if (rc)
        return rc;
    int n0 = g->n_tensors, n_order = 0;
    ad_ctx c = {g, n0, calloc((size_t)n0, 1), malloc((size_t)n0 * sizeof(int))};
    int *order = malloc((size_t)(g->n_nodes ? g->n_nodes : 1) * sizeof *order);
    if (!c.req || !c.acc || !order) {
        rc = cc_fail(CC_ERR_NOMEM, "g_backward: bookkeeping for %d tensors", n0);
        goto done;
    }
    for (int t = 0; t < n0; t++)
        c.acc[t] = -1;
    for (int i = 0; i < n_wrt; i++)
        c.req[wrt[i]] = 1;
    if ((rc = ancestors(g, loss, order, &n_order)))
        goto done;
    mark(g, order, n_order, c.req);
    if ((rc = check_supported(g, order, n_order, c.req)))
        goto done;
    int seed = make_seed(g, loss);
    if (seed < 0) {
        rc = CC_ERR_INVALID;
        goto done;
    }
    c.acc[loss] = seed;
    if ((rc = run_rules(&c, order, n_order)))
        goto done;
    for (int i = 0; i < n_wrt; i++) {
        grads[i] = finish_wrt(&c, wrt[i], seed);
        if (grads[i] < 0) {
            rc = CC_ERR_SHAPE;
            goto done;
        }
    }
    for (int t = n0; t < g->n_tensors; t++)
        if (t != seed)
            g->tensors[t].role = G_ROLE_GRAD;
    if (seed_out)
        *seed_out = seed;
done:
    free(c.req);
    free(c.acc);
    free(order);
    return rc;
}
