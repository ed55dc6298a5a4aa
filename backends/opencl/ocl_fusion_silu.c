/* sigmoid -> mul -> mul: y = (a * sigmoid(a)) * b in one launch
 * (kernels/fused_silu.cl). a and b of the output's shape, no broadcast. */
#include "backends/opencl/ocl_fusion.h"
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

int ocl_fusion_match_silu_mul(const ocl_fusion_view *v, int i, int *nodes)
{
    for (int k = 0; k < 3; k++)
        if ((nodes[k] = ocl_fusion_at(v, i + k)) < 0)
            return 0;
    const g_op ops[3] = {G_OP_SIGMOID, G_OP_MUL, G_OP_MUL};
    if (!ocl_fusion_can_fuse(v, nodes, 3, ops, NULL, 0))
        return 0;
    const graph *g = v->g;
    const g_node *sig = &g->nodes[nodes[0]], *m1 = &g->nodes[nodes[1]], *m2 = &g->nodes[nodes[2]];
    const int a = sig->in[0];
    /* m1 = a * sigmoid(a), m2 = m1 * b, each in either operand order */
    if (!((m1->in[0] == a && m1->in[1] == sig->out) || (m1->in[1] == a && m1->in[0] == sig->out)))
        return 0;
    const int b = m2->in[0] == m1->out ? m2->in[1] : m2->in[1] == m1->out ? m2->in[0] : -1;
    if (b < 0 || b == m1->out || !same_shape(g, a, m2->out) || !same_shape(g, b, m2->out))
        return 0;
    return 3;
}

int ocl_fusion_lower_silu_mul(ocl_lower *lc, const int *nodes, int n)
{
    const graph *g = ocl_lower_graph(lc);
    if (n != 3)
        return cc_fail(CC_ERR_INVALID, "ocl fusion silu_mul: expected 3 nodes, found %d", n);
    const g_node *sig = &g->nodes[nodes[0]], *m1 = &g->nodes[nodes[1]], *m2 = &g->nodes[nodes[2]];
    const int b = m2->in[0] == m1->out ? m2->in[1] : m2->in[0];
    cl_kernel k;
    int rc = ocl_lower_kernel(lc, "fused_silu.cl", "silu_mul", "", &k);
    if (rc || (rc = ocl_set_args(k, "mmm", ocl_lower_mem(lc, sig->in[0]), ocl_lower_mem(lc, b),
                                 ocl_lower_mem(lc, m2->out))))
        return rc;
    const size_t gws = (size_t)g_numel(g, m2->out);
    return ocl_lower_launch(lc, nodes[0], k, 1, &gws, NULL);
}

/* a, b [rows, cols] -> (a * sigmoid(a)) * b */
int ocl_fusion_example_silu_mul(graph *g, int rows, int cols, ocl_fusion_example *ex)
{
    const int64_t s[2] = {rows, cols};
    int a = g_input(g, "a", G_F32, 2, s);
    int b = g_input(g, "b", G_F32, 2, s);
    int sig = g_sigmoid(g, a);
    int y = g_mul(g, g_mul(g, a, sig), b);
    if (y < 0)
        return -1;
    g_mark_output(g, y);
    ex->n_positive = 0;
    ex->rtol = 1e-5f; /* sigmoid's tolerance (tests/ops RTOL_TRANS) */
    return 0;
}
