/* Builders for matmul, elementwise ops with broadcasting, and reductions. */
#include "graph/graph_internal.h"
#include "graph/op_table.h"


int g_matmul(graph *g, int a, int b, int bias, int trans_a, int trans_b)
{
    const char *op = "g_matmul";
    int ra = g_check_id(g, op, a), rb = g_check_id(g, op, b);
    if (ra <= 0 || rb <= 0)
        return -1;
    int rbias = bias == -1 ? 0 : g_check_id(g, op, bias);
    if (rbias < 0)
        return -1;
    if (g_need_f32(g, op, "A", a) || g_need_f32(g, op, "B", b) ||
        (rbias && g_need_f32(g, op, "bias", bias)))
        return -1;
    const g_tensor *A = &g->tensors[a], *B = &g->tensors[b];
    if (A->ndim < 2 || B->ndim < 2)
        return g_err(g, CC_ERR_SHAPE, "g_matmul: A %s vs B %s: both must be at least 2-D",
                     g_sh(g, a), g_sh(g, b));
    int na = A->ndim, nb = B->ndim;
    int64_t K = trans_a ? A->shape[na - 2] : A->shape[na - 1];
    int64_t Kb = trans_b ? B->shape[nb - 1] : B->shape[nb - 2];
    int64_t N = trans_b ? B->shape[nb - 2] : B->shape[nb - 1];
    if (K != Kb)
        return g_err(g, CC_ERR_SHAPE,
                     "g_matmul: A %s vs B %s (trans_a %d, trans_b %d): inner dims differ "
                     "(%lld vs %lld)",
                     g_sh(g, a), g_sh(g, b), trans_a ? 1 : 0, trans_b ? 1 : 0, (long long)K,
                     (long long)Kb);
    if (nb > 2) {
        int same = nb == na;
        for (int i = 0; same && i < na - 2; i++)
            same = A->shape[i] == B->shape[i];
        if (!same)
            return g_err(g, CC_ERR_SHAPE,
                         "g_matmul: A %s vs B %s: batch dims of B must equal A's, or B must "
                         "be 2-D",
                         g_sh(g, a), g_sh(g, b));
    }
    if (rbias) {
        const g_tensor *Bi = &g->tensors[bias];
        if (Bi->ndim != 1 || Bi->shape[0] != N)
            return g_err(g, CC_ERR_SHAPE, "g_matmul: A %s, B %s: bias %s, expected [%lld]",
                         g_sh(g, a), g_sh(g, b), g_sh(g, bias), (long long)N);
    }
    int in[3] = {a, b, bias};
    g_attr at = {0};
    at.trans_a = trans_a ? 1 : 0;
    at.trans_b = trans_b ? 1 : 0;
    return g_op_append(g, G_OP_MATMUL, rbias ? 3 : 2, in, &at);
}

static int binary(graph *g, g_op kind, const char *op, int a, int b)
{
    int ra = g_check_id(g, op, a), rb = g_check_id(g, op, b);
    if (ra <= 0 || rb <= 0)
        return -1;
    if (g_need_f32(g, op, "a", a) || g_need_f32(g, op, "b", b))
        return -1;
    const g_tensor *A = &g->tensors[a], *B = &g->tensors[b];
    int n = A->ndim > B->ndim ? A->ndim : B->ndim;
    /* numpy rule: align trailing dims; each pair equal or one of them 1 (the
     * op table infers the shape; this names the offending dim) */
    for (int i = 0; i < n; i++) {
        int ia = A->ndim - n + i, ib = B->ndim - n + i;
        int64_t da = ia >= 0 ? A->shape[ia] : 1, db = ib >= 0 ? B->shape[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return g_err(g, CC_ERR_SHAPE,
                         "%s: a %s vs b %s: not broadcastable (dim %d from the end: %lld vs "
                         "%lld)",
                         op, g_sh(g, a), g_sh(g, b), n - i, (long long)da, (long long)db);
    }
    int in[2] = {a, b};
    return g_op_append(g, kind, 2, in, NULL);
}

int g_add(graph *g, int a, int b) { return binary(g, G_OP_ADD, "g_add", a, b); }
int g_sub(graph *g, int a, int b) { return binary(g, G_OP_SUB, "g_sub", a, b); }
int g_mul(graph *g, int a, int b) { return binary(g, G_OP_MUL, "g_mul", a, b); }
int g_div(graph *g, int a, int b) { return binary(g, G_OP_DIV, "g_div", a, b); }

static int unary(graph *g, g_op kind, const char *op, int x, const g_attr *at)
{
    if (g_check_id(g, op, x) <= 0)
        return -1;
    if (g_need_f32(g, op, "x", x))
        return -1;
    return g_op_append(g, kind, 1, &x, at);
}

int g_scale(graph *g, int x, float alpha)
{
    g_attr at = {0};
    at.alpha = alpha;
    return unary(g, G_OP_SCALE, "g_scale", x, &at);
}

int g_gelu(graph *g, int x) { return unary(g, G_OP_GELU, "g_gelu", x, NULL); }
int g_quickgelu(graph *g, int x) { return unary(g, G_OP_QUICKGELU, "g_quickgelu", x, NULL); }
int g_relu(graph *g, int x) { return unary(g, G_OP_RELU, "g_relu", x, NULL); }
int g_sigmoid(graph *g, int x) { return unary(g, G_OP_SIGMOID, "g_sigmoid", x, NULL); }
int g_exp(graph *g, int x) { return unary(g, G_OP_EXP, "g_exp", x, NULL); }
int g_silu(graph *g, int x) { return unary(g, G_OP_SILU, "g_silu", x, NULL); }

int g_l2norm(graph *g, int x, float eps)
{
    g_attr at = {0};
    at.eps = eps;
    return unary(g, G_OP_L2NORM, "g_l2norm", x, &at);
}

static int reduce(graph *g, g_op kind, const char *op, int x)
{
    if (g_check_id(g, op, x) <= 0)
        return -1;
    if (g_need_f32(g, op, "x", x))
        return -1;
    /* the last dim dropped, [1] for a 1-D x; argmax's is i32 (the op table) */
    return g_op_append(g, kind, 1, &x, NULL);
}

int g_sum(graph *g, int x) { return reduce(g, G_OP_SUM, "g_sum", x); }
int g_mean(graph *g, int x) { return reduce(g, G_OP_MEAN, "g_mean", x); }
int g_max(graph *g, int x) { return reduce(g, G_OP_MAX, "g_max", x); }
int g_argmax(graph *g, int x) { return reduce(g, G_OP_ARGMAX, "g_argmax", x); }
