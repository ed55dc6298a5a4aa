/* Lowering of training BatchNorm (kernels/batchnorm.cl): bn_stats and
 * bn_grad_sums are per-channel reductions (a row kernel each, CPU or GPU
 * variant by the device policy, ocl_lower_row_kernel); bn_train and
 * bn_grad_x are one work-item per (n, c) segment of x. One launch each. */
#include "backends/opencl/ocl_lower_ops.h"

typedef struct bn_geom {
    int64_t N, C, inner;
} bn_geom;

/* x [N, C, inner...], every input f32, C within the kernels' int. */
static int bn_check(const graph *g, const g_node *n, bn_geom *s)
{
    for (int i = 0; i < n->n_in; i++)
        if (g->tensors[n->in[i]].dtype != G_F32)
            return cc_fail(CC_ERR_UNSUPPORTED, "%s: input %d must be f32", g_op_name(n->op), i);
    const g_tensor *X = &g->tensors[n->in[0]];
    if (X->ndim < 2)
        return cc_fail(CC_ERR_SHAPE, "%s: x %s, expected [N, C, ...]", g_op_name(n->op), X->name);
    s->N = X->shape[0], s->C = X->shape[1], s->inner = 1;
    for (int d = 2; d < X->ndim; d++)
        s->inner *= X->shape[d];
    if (s->C > INT32_MAX)
        return cc_fail(CC_ERR_UNSUPPORTED, "%s: %lld channels exceed the kernel's int range", g_op_name(n->op),
                       (long long)s->C);
    return CC_OK;
}

/* bn_stats (x) or bn_grad_sums (x, stats, dy): one reduction per channel */
static int lower_sums(ocl_lower *lc, int node, const char *base)
{
    const graph *g = ocl_lower_graph(lc);
    const g_node *n = &g->nodes[node];
    bn_geom s = {0, 0, 0};
    cl_kernel k;
    int rc = bn_check(g, n, &s);
    if (rc || s.C == 0 || (rc = ocl_lower_row_kernel(lc, "batchnorm.cl", base, &k)))
        return rc;
    if (n->op == G_OP_BN_STATS)
        rc = ocl_set_args(k, "mmlli", ocl_lower_mem(lc, n->in[0]), ocl_lower_mem(lc, n->out), s.N, s.inner,
                          (int)s.C);
    else
        rc = ocl_set_args(k, "mmmmllif", ocl_lower_mem(lc, n->in[0]), ocl_lower_mem(lc, n->in[1]),
                          ocl_lower_mem(lc, n->in[2]), ocl_lower_mem(lc, n->out), s.N, s.inner, (int)s.C,
                          (double)n->attr.eps);
    return rc ? rc : ocl_lower_row_launch(lc, node, k, s.C);
}

int ocl_lower_bn_stats(ocl_lower *lc, int node) { return lower_sums(lc, node, "bn_stats"); }

int ocl_lower_bn_grad_sums(ocl_lower *lc, int node) { return lower_sums(lc, node, "bn_grad_sums"); }

/* bn_train (x, gamma, beta, stats) or bn_grad_x (x, gamma, stats, dy,
 * sums; also 1 / count): a work-item per (n, c) segment of x */
static int lower_segments(ocl_lower *lc, int node, const char *name)
{
    const graph *g = ocl_lower_graph(lc);
    const g_node *n = &g->nodes[node];
    bn_geom s = {0, 0, 0};
    cl_kernel k;
    int rc = bn_check(g, n, &s);
    if (rc || s.N * s.C * s.inner == 0 || (rc = ocl_lower_kernel(lc, "batchnorm.cl", name, "", &k)))
        return rc;
    cl_mem in[5] = {NULL};
    for (int i = 0; i < n->n_in && i < 5; i++)
        in[i] = ocl_lower_mem(lc, n->in[i]);
    if (n->op == G_OP_BN_GRAD_X)
        rc = ocl_set_args(k, "mmmmmmliff", in[0], in[1], in[2], in[3], in[4], ocl_lower_mem(lc, n->out), s.inner,
                          (int)s.C, (double)n->attr.eps, 1.0 / (double)(s.N * s.inner));
    else
        rc = ocl_set_args(k, "mmmmmlif", in[0], in[1], in[2], in[3], ocl_lower_mem(lc, n->out), s.inner, (int)s.C,
                          (double)n->attr.eps);
    size_t gws = (size_t)(s.N * s.C);
    return rc ? rc : ocl_lower_launch(lc, node, k, 1, &gws, NULL);
}

int ocl_lower_bn_train(ocl_lower *lc, int node) { return lower_segments(lc, node, "bn_train"); }

int ocl_lower_bn_grad_x(ocl_lower *lc, int node) { return lower_segments(lc, node, "bn_grad_x"); }
