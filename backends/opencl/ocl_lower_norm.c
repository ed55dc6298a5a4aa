/* Lowering of layernorm and l2norm (row ops over the last dim) and of
 * inference batchnorm (per-channel affine over NCHW or NC), kernels/norm.cl. */
#include "backends/opencl/ocl_lower_ops.h"

static int lower_batchnorm(ocl_lower *lc, int node, const g_node *n)
{
    const graph *g = ocl_lower_graph(lc);
    const g_tensor *X = &g->tensors[n->in[0]];
    if (X->ndim < 2 || n->n_in != 5)
        return cc_fail(CC_ERR_SHAPE, "batchnorm: expected x [N, C, ...] and 4 per-channel tensors");
    int64_t C = X->shape[1], inner = 1;
    for (int d = 2; d < X->ndim; d++)
        inner *= X->shape[d];
    if (C == 0 || inner == 0)
        return CC_OK; /* nothing to compute */
    if (C > INT32_MAX)
        return cc_fail(CC_ERR_UNSUPPORTED, "batchnorm: %lld channels exceed the kernel's int range", (long long)C);
    /* sqrt(var + eps) per channel: when var is a param (inference), a static
     * launch computes it once; otherwise (var computed in the graph) every run */
    cl_mem sd;
    cl_kernel ks, k;
    int rc = ocl_lower_scratch(lc, (size_t)C * sizeof(float), &sd);
    if (rc || (rc = ocl_lower_kernel(lc, "norm.cl", "batchnorm_sd", "", &ks)) ||
        (rc = ocl_set_args(ks, "mmf", ocl_lower_mem(lc, n->in[4]), sd, (double)n->attr.eps)))
        return rc;
    size_t gc = (size_t)C;
    rc = ocl_lower_is_param(lc, n->in[4]) ? ocl_lower_launch_static(lc, node, ks, 1, &gc, NULL)
                                          : ocl_lower_launch(lc, node, ks, 1, &gc, NULL);
    if (rc || (rc = ocl_lower_kernel(lc, "norm.cl", "batchnorm_infer", "", &k)))
        return rc;
    rc = ocl_set_args(k, "mmmmmmli", ocl_lower_mem(lc, n->in[0]), ocl_lower_mem(lc, n->in[1]),
                      ocl_lower_mem(lc, n->in[2]), ocl_lower_mem(lc, n->in[3]), sd, ocl_lower_mem(lc, n->out),
                      inner, (int)C);
    if (rc)
        return rc;
    size_t gws = (size_t)(g_numel(g, n->out) / inner);
    return ocl_lower_launch(lc, node, k, 1, &gws, NULL);
}

static int check_f32(const graph *g, const g_node *n)
{
    for (int i = 0; i < n->n_in; i++)
        if (g->tensors[n->in[i]].dtype != G_F32)
            return cc_fail(CC_ERR_UNSUPPORTED, "%s: input %d must be f32", g_op_name(n->op), i);
    return CC_OK;
}

int ocl_lower_batchnorm(ocl_lower *lc, int node)
{
    const graph *g = ocl_lower_graph(lc);
    const g_node *n = &g->nodes[node];
    int rc = check_f32(g, n);
    return rc ? rc : lower_batchnorm(lc, node, n);
}

/* The row geometry of x [..., ncols], checked against the kernels' int. */
static int row_shape(const graph *g, const g_node *n, int64_t *nrows, int64_t *ncols)
{
    int rc = check_f32(g, n);
    if (rc)
        return rc;
    const g_tensor *X = &g->tensors[n->in[0]];
    *ncols = X->shape[X->ndim - 1];
    *nrows = g_numel(g, n->in[0]) / (*ncols ? *ncols : 1);
    if (*ncols > INT32_MAX)
        return cc_fail(CC_ERR_UNSUPPORTED, "%s: rows of %lld exceed the kernel's int range", g_op_name(n->op),
                       (long long)*ncols);
    return CC_OK;
}

int ocl_lower_layernorm(ocl_lower *lc, int node)
{
    const graph *g = ocl_lower_graph(lc);
    const g_node *n = &g->nodes[node];
    int64_t nrows, ncols;
    cl_kernel k;
    int rc = row_shape(g, n, &nrows, &ncols);
    if (rc)
        return rc;
    if (n->n_in != 3)
        return cc_fail(CC_ERR_INVALID, "layernorm: expected x, gamma, beta; found %d inputs", n->n_in);
    if ((rc = ocl_lower_row_kernel(lc, "norm.cl", "layernorm", &k)) ||
        (rc = ocl_set_args(k, "mmmmif", ocl_lower_mem(lc, n->in[0]), ocl_lower_mem(lc, n->in[1]),
                           ocl_lower_mem(lc, n->in[2]), ocl_lower_mem(lc, n->out), (int)ncols, (double)n->attr.eps)))
        return rc;
    return ocl_lower_row_launch(lc, node, k, nrows);
}

int ocl_lower_l2norm(ocl_lower *lc, int node)
{
    const graph *g = ocl_lower_graph(lc);
    const g_node *n = &g->nodes[node];
    int64_t nrows, ncols;
    cl_kernel k;
    int rc = row_shape(g, n, &nrows, &ncols);
    if (rc)
        return rc;
    if ((rc = ocl_lower_row_kernel(lc, "norm.cl", "l2norm", &k)) ||
        (rc = ocl_set_args(k, "mmif", ocl_lower_mem(lc, n->in[0]), ocl_lower_mem(lc, n->out), (int)ncols,
                           (double)n->attr.eps)))
        return rc;
    return ocl_lower_row_launch(lc, node, k, nrows);
}
