/* Lowering of the embedding gather (kernels/embedding.cl). Out-of-range ids
 * are clamped by the kernel (documented there), never read out of bounds. */
#include "backends/opencl/ocl_lower_ops.h"

int ocl_lower_embedding(ocl_lower *lc, int node)
{
    const graph *g = ocl_lower_graph(lc);
    const g_node *n = &g->nodes[node];
    const g_tensor *Tb = &g->tensors[n->in[0]], *Ids = &g->tensors[n->in[1]];
    if (Tb->dtype != G_F32 || Tb->ndim != 2 || Ids->dtype != G_I32)
        return cc_fail(CC_ERR_SHAPE, "embedding: expected table [V, D] f32 and i32 ids");
    int64_t V = Tb->shape[0], D = Tb->shape[1], rows = g_numel(g, n->in[1]);
    if (V > INT32_MAX || V < 1)
        return cc_fail(CC_ERR_UNSUPPORTED, "embedding: vocabulary of %lld rows not in [1, INT32_MAX]", (long long)V);
    cl_kernel k;
    int rc = ocl_lower_kernel(lc, "embedding.cl", "embedding_gather", "", &k);
    if (rc)
        return rc;
    rc = ocl_set_args(k, "mmmil", ocl_lower_mem(lc, n->in[0]), ocl_lower_mem(lc, n->in[1]), ocl_lower_mem(lc, n->out),
                      (int)V, D);
    if (rc)
        return rc;
    size_t gws[2] = { (size_t)D, (size_t)rows };
    return ocl_lower_launch(lc, node, k, 2, gws, NULL);
}
