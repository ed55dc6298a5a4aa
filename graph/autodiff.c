/* Reverse-mode autodiff over the IR: marks which tensors depend on the wrt
 * tensors and which reach the loss, then walks the forward nodes in reverse
 * creation order (always a topological order, since a node's inputs exist
 * before it is appended), applying one rule per node and summing the
 * contributions of every consumer into each tensor's gradient. */
#include "graph/autodiff_internal.h"

#include <stdlib.h>
#include <string.h>

static ad_rule rule_for(g_op op)
{
    switch (op) {
    case G_OP_MATMUL:
        return ad_rule_matmul;
    case G_OP_ADD: case G_OP_SUB: case G_OP_MUL: case G_OP_DIV:
        return ad_rule_binary;
    case G_OP_SCALE: case G_OP_GELU: case G_OP_QUICKGELU: case G_OP_RELU: case G_OP_SIGMOID:
    case G_OP_EXP: case G_OP_LOG:
        return ad_rule_unary;
    case G_OP_SUM: case G_OP_MEAN: case G_OP_SUM_TO: case G_OP_BROADCAST_TO:
        return ad_rule_reduce;
    case G_OP_RESHAPE: case G_OP_PERMUTE: case G_OP_SLICE: case G_OP_CONCAT:
        return ad_rule_shape;
    case G_OP_SOFTMAX: case G_OP_LAYERNORM: case G_OP_BATCHNORM: case G_OP_L2NORM:
        return ad_rule_norm;
    case G_OP_CONV2D: case G_OP_AVGPOOL2D: case G_OP_EMBEDDING: case G_OP_ATTENTION:
        return ad_rule_nn;
    default:
        return NULL; /* max, argmax and the backward ops themselves */
    }
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

/* req: depends on a wrt tensor (forward order). SCALE by 0 and integer
 * outputs cut the dependence. reach: an ancestor of the loss. */
static void mark(const graph *g, int n_nodes, int loss, char *req, char *reach)
{
    for (int i = 0; i < n_nodes; i++) {
        const g_node *n = &g->nodes[i];
        if (n->dead || g->tensors[n->out].dtype != G_F32)
            continue;
        if (n->op == G_OP_SCALE && n->attr.alpha == 0.0f)
            continue;
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0 && req[n->in[k]])
                req[n->out] = 1;
    }
    reach[loss] = 1;
    for (int i = n_nodes - 1; i >= 0; i--) {
        const g_node *n = &g->nodes[i];
        if (n->dead || !reach[n->out])
            continue;
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0)
                reach[n->in[k]] = 1;
    }
}

static int check_supported(const graph *g, int n_nodes, const char *req, const char *reach)
{
    for (int i = 0; i < n_nodes; i++) {
        const g_node *n = &g->nodes[i];
        if (n->dead || !reach[n->out] || rule_for(n->op))
            continue;
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0 && req[n->in[k]])
                return cc_fail(CC_ERR_UNSUPPORTED,
                               "g_backward: node %d '%s' (%s) lies on a path from a wrt tensor ('%s') to the "
                               "loss, and %s has no gradient rule (max/argmax are not differentiable here, "
                               "backward ops have no second derivative)",
                               i, n->name, g_op_name(n->op), g->tensors[n->in[k]].name, g_op_name(n->op));
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

static int run_rules(ad_ctx *c, int n_nodes, const char *reach)
{
    graph *g = c->g;
    for (int i = n_nodes - 1; i >= 0; i--) {
        g_node n = g->nodes[i]; /* a copy: rules append nodes */
        if (n.dead || !reach[n.out] || c->acc[n.out] < 0)
            continue;
        int any = 0;
        for (int k = 0; k < n.n_in; k++)
            any |= ad_wants(c, n.in[k]);
        if (!any)
            continue;
        int dy = c->acc[n.out];
        name_grad_of(c, n.out, dy);
        int rc = rule_for(n.op)(c, &n, dy);
        if (rc < 0) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", cc_last_error());
            return cc_fail(CC_ERR_SHAPE, "g_backward: rule for node %d '%s' (%s): %s", i, n.name,
                           g_op_name(n.op), msg);
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
    int n0 = g->n_tensors, nn0 = g->n_nodes;
    ad_ctx c = {g, n0, calloc((size_t)n0, 1), malloc((size_t)n0 * sizeof(int))};
    char *reach = calloc((size_t)n0, 1);
    if (!c.req || !c.acc || !reach) {
        rc = cc_fail(CC_ERR_NOMEM, "g_backward: bookkeeping for %d tensors", n0);
        goto done;
    }
    for (int t = 0; t < n0; t++)
        c.acc[t] = -1;
    for (int i = 0; i < n_wrt; i++)
        c.req[wrt[i]] = 1;
    mark(g, nn0, loss, c.req, reach);
    if ((rc = check_supported(g, nn0, c.req, reach)))
        goto done;
    int seed = make_seed(g, loss);
    if (seed < 0) {
        rc = CC_ERR_INVALID;
        goto done;
    }
    c.acc[loss] = seed;
    if ((rc = run_rules(&c, nn0, reach)))
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
    free(reach);
    return rc;
}
