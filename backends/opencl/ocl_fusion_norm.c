/* add -> layernorm in one row kernel (kernels/fused_norm.cl) that writes
 * both the sum and the normalised rows: the sum is a kept output, so other
 * readers of it (the next residual add of a transformer) do not stop the
 * fusion. One operand may broadcast over leading dims (x + pos -> ln_pre). Both row variants, chosen like every row op
 * (ocl_lower_row_kernel: CLIPCL_FORCE_VARIANT=cpu|gpu forces one). */
#include "backends/opencl/ocl_fusion.h"
#include "backends/opencl/ocl_plan_internal.h"
#include "runtime/status.h"

static int same_shape(const graph *g, int a, int b)
{
    const g_tensor *x = &g->tensors[a], *y = &g->tensors[b];
    if (x->ndim != y->ndim || x->dtype != G_F32 || y->dtype != G_F32)
        return 0;
    for (int d = 0; d < x->ndim; d++)
        if (x->shape[d] != y->shape[d])
            return 0;
    return 1;
}

/* Rows of ncols that t repeats over out's leading dims (its shape without
 * leading 1s is a suffix of out's, last dim included), or 0. */
static int64_t broadcast_rows(const graph *g, int t, int out)
{
    const g_tensor *x = &g->tensors[t], *o = &g->tensors[out];
    if (x->dtype != G_F32)
        return 0;
    int lead = 0;
    while (lead < x->ndim - 1 && x->shape[lead] == 1)
        lead++;
    const int nd = x->ndim - lead;
    if (nd > o->ndim)
        return 0;
    for (int d = 0; d < nd; d++)
        if (x->shape[lead + d] != o->shape[o->ndim - nd + d])
            return 0;
    return g_numel(g, t) / o->shape[o->ndim - 1];
}

/* The add's operand read row by row (same shape as the sum) first. */
static int full_operand(const graph *g, const g_node *add)
{
    return same_shape(g, add->in[0], add->out) ? 0 : 1;
}

int ocl_fusion_match_add_layernorm(const ocl_fusion_view *v, int i, int *nodes)
{
    nodes[0] = ocl_fusion_at(v, i);
    nodes[1] = ocl_fusion_at(v, i + 1);
    const g_op ops[2] = {G_OP_ADD, G_OP_LAYERNORM};
    if (nodes[0] < 0 || nodes[1] < 0)
        return 0;
    const graph *g = v->g;
    const g_node *add = &g->nodes[nodes[0]], *ln = &g->nodes[nodes[1]];
    const int kept = add->out;
    if (!ocl_fusion_can_fuse(v, nodes, 2, ops, &kept, 1))
        return 0;
    /* one operand has the sum's shape, the other at most broadcasts rows;
     * the layernorm normalises exactly the sum */
    const int f = full_operand(g, add);
    if (ln->n_in != 3 || ln->in[0] != add->out || ln->in[1] == add->out || ln->in[2] == add->out ||
        !same_shape(g, add->in[f], add->out) || broadcast_rows(g, add->in[1 - f], add->out) < 1)
        return 0;
    const g_tensor *s = &g->tensors[add->out];
    if (s->ndim < 1 || s->shape[s->ndim - 1] < 1 || s->shape[s->ndim - 1] > INT32_MAX ||
        g->tensors[ln->in[1]].dtype != G_F32 || g->tensors[ln->in[2]].dtype != G_F32)
        return 0;
    return 2;
}

int ocl_fusion_lower_add_layernorm(ocl_lower *lc, const int *nodes, int n)
{
    const graph *g = ocl_lower_graph(lc);
    if (n != 2)
        return cc_fail(CC_ERR_INVALID, "ocl fusion add_layernorm: expected 2 nodes, found %d", n);
    const g_node *add = &g->nodes[nodes[0]], *ln = &g->nodes[nodes[1]];
    const g_tensor *s = &g->tensors[add->out];
    const int64_t ncols = s->shape[s->ndim - 1];
    const int64_t nrows = g_numel(g, add->out) / ncols;
    const int f = full_operand(g, add);
    const int64_t b_rows = broadcast_rows(g, add->in[1 - f], add->out);
    cl_kernel k;
    int rc;
    if ((rc = ocl_lower_row_kernel(lc, "fused_norm.cl", "add_layernorm", &k)) ||
        (rc = ocl_set_args(k, "mmmmmmifl", ocl_lower_mem(lc, add->in[f]), ocl_lower_mem(lc, add->in[1 - f]),
                           ocl_lower_mem(lc, ln->in[1]), ocl_lower_mem(lc, ln->in[2]),
                           ocl_lower_mem(lc, add->out), ocl_lower_mem(lc, ln->out), (int)ncols,
                           (double)ln->attr.eps, b_rows)))
        return rc;
    return ocl_lower_row_launch(lc, nodes[0], k, nrows);
}

/* a + b -> layernorm, with the sum read again afterwards (the residual
 * stream): y and z = s + y are outputs. a is [2, rows, cols]; b broadcasts
 * [rows, cols] when rows % 4 == 1 (x + pos), else has a's shape. */
int ocl_fusion_example_add_layernorm(graph *g, int rows, int cols, ocl_fusion_example *ex)
{
    const int64_t xs[3] = {2, rows, cols}, c = cols;
    int a = g_input(g, "a", G_F32, 3, xs);
    int b = rows % 4 != 1 ? g_input(g, "b", G_F32, 3, xs) : g_input(g, "b", G_F32, 2, xs + 1);
    int gamma = g_param(g, "gamma", 1, &c);
    int beta = g_param(g, "beta", 1, &c);
    int s = g_add(g, a, b);
    int y = g_layernorm(g, s, gamma, beta, 1e-5f);
    int z = g_add(g, s, y);
    if (z < 0)
        return -1;
    g_mark_output(g, y);
    g_mark_output(g, z);
    ex->n_positive = 0;
    ex->rtol = 1e-5f; /* layernorm's tolerance */
    return 0;
}
