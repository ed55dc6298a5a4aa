/* Lowering of softmax over the last dim (kernels/reduce.cl), with the
 * optional causal mask whose row index is the index in dim -2. */
#include "backends/opencl/ocl_lower_ops.h"

int ocl_lower_softmax(ocl_lower *lc, int node)
{
    const graph *g = ocl_lower_graph(lc);
    const g_node *n = &g->nodes[node];
    const g_tensor *X = &g->tensors[n->in[0]];
    if (X->dtype != G_F32)
        return cc_fail(CC_ERR_UNSUPPORTED, "softmax: input must be f32");
    int64_t ncols = X->shape[X->ndim - 1];
    int64_t nrows = g_numel(g, n->in[0]) / (ncols ? ncols : 1);
    int64_t T = X->ndim >= 2 ? X->shape[X->ndim - 2] : 1;
    if (ncols > INT32_MAX)
        return cc_fail(CC_ERR_UNSUPPORTED, "softmax: rows of %lld exceed the kernel's int range", (long long)ncols);
    cl_kernel k;
    int rc = ocl_lower_row_kernel(lc, "reduce.cl", "softmax", &k);
    if (rc)
        return rc;
    rc = ocl_set_args(k, "mmiii", ocl_lower_mem(lc, n->in[0]), ocl_lower_mem(lc, n->out), (int)ncols, (int)T,
                      n->attr.causal ? 1 : 0);
    if (rc)
        return rc;
    return ocl_lower_row_launch(lc, node, k, nrows);
}
