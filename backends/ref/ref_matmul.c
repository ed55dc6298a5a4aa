/* Reference matmul: out[..., M, N] = op(A)[..., M, K] @ op(B)[..., K, N] (+ bias[N]).
 * Batch dims broadcast right-aligned, so a 2-D B is shared by all of A's
 * batches (and a 2-D A by all of B's). */
#include "backends/ref/ref_ops.h"

/* Element offset of operand t's matrix for output batch number bi. */
static int64_t batch_offset(const g_tensor *t, const g_tensor *out, int64_t bi)
{
    int nb_out = out->ndim - 2, nb_t = t->ndim - 2;
    int64_t off = 0, stride = t->shape[t->ndim - 1] * t->shape[t->ndim - 2];
    for (int i = nb_out - 1; i >= 0; i--) {
        int64_t c = bi % out->shape[i];
        bi /= out->shape[i];
        int k = i - (nb_out - nb_t);
        if (k < 0)
            continue;
        if (t->shape[k] != 1)
            off += c * stride;
        stride *= t->shape[k];
    }
    return off;
}

static int check_batch(const g_tensor *t, const g_tensor *out)
{
    int nb_out = out->ndim - 2, nb_t = t->ndim - 2;
    if (nb_t > nb_out)
        return cc_fail(CC_ERR_SHAPE, "matmul: operand '%s' has more batch dims than output '%s'",
                       t->name, out->name);
    for (int k = 0; k < nb_t; k++) {
        int64_t d = t->shape[k], o = out->shape[k + nb_out - nb_t];
        if (d != o && d != 1)
            return cc_fail(CC_ERR_SHAPE, "matmul: operand '%s' batch dim %d is %lld, output has %lld",
                           t->name, k, (long long)d, (long long)o);
    }
    return CC_OK;
}

int ref_matmul(const graph *g, const g_node *n, void **data)
{
    const g_tensor *ta = ref_t(g, n->in[0]), *tb = ref_t(g, n->in[1]), *to = ref_t(g, n->out);
    int bias_id = ref_opt_in(n, 2);
    int ta_ = n->attr.trans_a, tb_ = n->attr.trans_b;
    if (ta->ndim < 2 || tb->ndim < 2 || to->ndim < 2)
        return cc_fail(CC_ERR_SHAPE, "matmul: operands and output need >= 2 dims ('%s' %d, '%s' %d, '%s' %d)",
                       ta->name, ta->ndim, tb->name, tb->ndim, to->name, to->ndim);
    int64_t M = to->shape[to->ndim - 2], N = to->shape[to->ndim - 1];
    int64_t am = ta->shape[ta->ndim - (ta_ ? 1 : 2)], K = ta->shape[ta->ndim - (ta_ ? 2 : 1)];
    int64_t bk = tb->shape[tb->ndim - (tb_ ? 1 : 2)], bn = tb->shape[tb->ndim - (tb_ ? 2 : 1)];
    if (am != M || bn != N || bk != K)
        return cc_fail(CC_ERR_SHAPE, "matmul: A '%s' gives [%lld, %lld], B '%s' gives [%lld, %lld], output is [%lld, %lld]",
                       ta->name, (long long)am, (long long)K, tb->name, (long long)bk, (long long)bn,
                       (long long)M, (long long)N);
    int rc = check_batch(ta, to);
    if (!rc)
        rc = check_batch(tb, to);
    if (rc)
        return rc;
    if (bias_id >= 0 && ref_numel(ref_t(g, bias_id)) != N)
        return cc_fail(CC_ERR_SHAPE, "matmul: bias '%s' has %lld elements, expected N = %lld",
                       ref_t(g, bias_id)->name, (long long)ref_numel(ref_t(g, bias_id)), (long long)N);

    const float *A = data[n->in[0]], *B = data[n->in[1]];
    const float *bias = bias_id >= 0 ? data[bias_id] : NULL;
    float *O = data[n->out];
    int64_t batches = (M > 0 && N > 0) ? ref_numel(to) / (M * N) : 0;
    /* element strides of op(A)[m, k] and op(B)[k, n] inside one matrix */
    int64_t a_m = ta_ ? 1 : K, a_k = ta_ ? M : 1;
    int64_t b_k = tb_ ? 1 : N, b_n = tb_ ? K : 1;
    for (int64_t bi = 0; bi < batches; bi++) {
        const float *a = A + batch_offset(ta, to, bi);
        const float *b = B + batch_offset(tb, to, bi);
        float *o = O + bi * M * N;
        for (int64_t m = 0; m < M; m++)
            for (int64_t j = 0; j < N; j++) {
                double acc = bias ? bias[j] : 0.0;
                for (int64_t k = 0; k < K; k++)
                    acc += (double)a[m * a_m + k * a_k] * (double)b[k * b_k + j * b_n];
                o[m * N + j] = (float)acc;
            }
    }
    return CC_OK;
}
