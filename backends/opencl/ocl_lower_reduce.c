/* Lowering of the reductions over the last dim (kernels/reduce.cl): sum,
 * mean, max, argmax (i32 output, first maximal index). */
#include "backends/opencl/ocl_plan_internal.h"

int ocl_lower_reduce(ocl_lower *lc, int node)
{
    const graph *g = ocl_lower_graph(lc);
    const g_node *n = &g->nodes[node];
    const g_tensor *X = &g->tensors[n->in[0]];
    const char *opname = g_op_name(n->op);
    if (X->dtype != G_F32)
        return cc_fail(CC_ERR_UNSUPPORTED, "%s: input must be f32", opname);
    int64_t ncols = X->shape[X->ndim - 1];
    int64_t nrows = g_numel(g, n->in[0]) / (ncols ? ncols : 1);
    if (ncols > INT32_MAX)
        return cc_fail(CC_ERR_UNSUPPORTED, "%s: rows of %lld exceed the kernel's int range", opname,
                       (long long)ncols);
    const char *base;
    switch (n->op) {
    case G_OP_SUM: case G_OP_MEAN: base = "sum"; break;
    case G_OP_MAX: base = "max"; break;
    case G_OP_ARGMAX: base = "argmax"; break;
    default:
        return cc_fail(CC_ERR_INVALID, "ocl_lower_reduce: %s is not a reduction", opname);
    }
    cl_kernel k;
    int rc = ocl_lower_row_kernel(lc, "reduce.cl", base, &k);
    if (rc)
        return rc;
    cl_mem x = ocl_lower_mem(lc, n->in[0]), y = ocl_lower_mem(lc, n->out);
    if (n->op == G_OP_SUM || n->op == G_OP_MEAN)
        rc = ocl_set_args(k, "mmii", x, y, (int)ncols, n->op == G_OP_MEAN);
    else
        rc = ocl_set_args(k, "mmi", x, y, (int)ncols);
    if (rc)
        return rc;
    return ocl_lower_row_launch(lc, node, k, nrows);
}
