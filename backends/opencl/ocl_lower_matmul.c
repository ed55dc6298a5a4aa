/* G_OP_MATMUL through the GEMM entry: A [..., M, K] (trans_a [..., K, M]),
 * B [K, N] shared by every batch item or [..., K, N] per item (trans_b swaps
 * its last two dims), optional bias [N], out [..., M, N]. */
#include "backends/opencl/ocl_gemm.h"
#include "backends/opencl/ocl_lower_ops.h"
#include "backends/opencl/ocl_plan_internal.h"
#include "runtime/status.h"

int ocl_matmul_gemm_args(ocl_lower *lc, int node, ocl_gemm_args *out)
{
    const graph *g = ocl_lower_graph(lc);
    const g_node *n = &g->nodes[node];
    const g_tensor *ta = &g->tensors[n->in[0]], *tb = &g->tensors[n->in[1]], *to = &g->tensors[n->out];
    if (ta->ndim < 2 || tb->ndim < 2 || to->ndim < 2)
        return cc_fail(CC_ERR_SHAPE, "ocl matmul '%s': operands need >= 2 dims", n->name);
    const int64_t M = to->shape[to->ndim - 2], N = to->shape[to->ndim - 1];
    const int64_t K = ta->shape[ta->ndim - (n->attr.trans_a ? 2 : 1)];
    int64_t batch = 1, b_batch = 1;
    for (int i = 0; i < to->ndim - 2; i++)
        batch *= to->shape[i];
    for (int i = 0; i < tb->ndim - 2; i++)
        b_batch *= tb->shape[i];
    if (g_numel(g, n->in[0]) != batch * M * K || (b_batch != 1 && b_batch != batch))
        return cc_fail(CC_ERR_SHAPE, "ocl matmul '%s': A has %lld elements for %lld x [%lld, %lld], B batch %lld vs %lld",
                       n->name, (long long)g_numel(g, n->in[0]), (long long)batch, (long long)M, (long long)K,
                       (long long)b_batch, (long long)batch);
    if (M > 0x7fffffff || N > 0x7fffffff || K > 0x7fffffff || batch > 0x7fffffff)
        return cc_fail(CC_ERR_UNSUPPORTED, "ocl matmul '%s': a dim exceeds 2^31", n->name);

    ocl_gemm_args a = {0};
    a.M = (int)M;
    a.N = (int)N;
    a.K = (int)K;
    a.batch = (int)batch;
    a.trans_a = n->attr.trans_a;
    a.trans_b = n->attr.trans_b;
    a.a = ocl_lower_mem(lc, n->in[0]);
    a.b = ocl_lower_mem(lc, n->in[1]);
    a.c = ocl_lower_mem(lc, n->out);
    a.a_stride = (size_t)(M * K);
    a.b_stride = b_batch == 1 ? 0 : (size_t)(K * N);
    a.c_stride = (size_t)(M * N);
    /* weights (params, or views of them) are packed once per plan */
    a.a_static = ocl_lower_is_param_data(lc, n->in[0]);
    a.b_static = ocl_lower_is_param_data(lc, n->in[1]);
    if (n->n_in > 2 && n->in[2] >= 0) {
        a.bias = ocl_lower_mem(lc, n->in[2]);
        a.bias_mode = OCL_BIAS_COL;
    }
    *out = a;
    return CC_OK;
}

int ocl_lower_matmul(ocl_lower *lc, int node)
{
    ocl_gemm_args a;
    int rc = ocl_matmul_gemm_args(lc, node, &a);
    if (rc)
        return rc;
    ocl_gemm_plan_user u;
    ocl_gemm_sink s;
    ocl_gemm_plan_sink(lc, node, &u, &s);
    return ocl_gemm_emit(&s, &a, OCL_GEMM_AUTO);
}
