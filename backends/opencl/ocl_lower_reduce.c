/* Lowering of the reductions over the last dim (kernels/reduce.cl): sum,
 * mean, max, argmax (i32 output, first maximal index). */
#include "backends/opencl/ocl_lower_ops.h"

/* base names the row kernel (reduce.cl); mean is the sum kernel's flag (0
 * sum, 1 mean), -1 for the max/argmax kernels, which take none. */
static int lower_reduce(ocl_lower *lc, int node, const char *base, int mean)
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
    cl_kernel k;
    int rc = ocl_lower_row_kernel(lc, "reduce.cl", base, &k);
    if (rc)
        return rc;
    cl_mem x = ocl_lower_mem(lc, n->in[0]), y = ocl_lower_mem(lc, n->out);
    if (mean >= 0)
        rc = ocl_set_args(k, "mmii", x, y, (int)ncols, mean);
    else
        rc = ocl_set_args(k, "mmi", x, y, (int)ncols);
    if (rc)
        return rc;
    return ocl_lower_row_launch(lc, node, k, nrows);
}

int ocl_lower_sum(ocl_lower *lc, int node) { return lower_reduce(lc, node, "sum", 0); }
int ocl_lower_mean(ocl_lower *lc, int node) { return lower_reduce(lc, node, "sum", 1); }
int ocl_lower_max(ocl_lower *lc, int node) { return lower_reduce(lc, node, "max", -1); }
int ocl_lower_argmax(ocl_lower *lc, int node) { return lower_reduce(lc, node, "argmax", -1); }
