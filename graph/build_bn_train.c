/* BatchNorm in training mode: the per-channel batch moments in one op
 * (BN_STATS, one pass over x), the normalisation with them (BN_TRAIN), and
 * the two ops its backward rule uses (BN_GRAD_SUMS: sum(dy) and
 * sum(dy * xhat) per channel; BN_GRAD_X: the closed-form dx). It replaces a
 * composite of ~15 generic ops (means, transposes, log/exp for the rsqrt)
 * that cost ~15 launches forward and several full passes over x backward.
 * x is [N, C, H, W] or [N, C]; the statistics are over N*H*W (or N). */
#include "graph/autodiff_internal.h"
#include "graph/op_table.h"

#include <string.h>

static int check_x(graph *g, const char *op, int x)
{
    const g_tensor *X = &g->tensors[x];
    if (X->ndim != 4 && X->ndim != 2)
        return g_err(g, CC_ERR_SHAPE, "%s: x %s, expected [N, C, H, W] or [N, C]", op, g_sh(g, x));
    return 0;
}

/* ids valid, f32; x [N, C(, H, W)]; the [C] ones (bit i of vec) [C]; the
 * [2, C] ones (bit i of pair) [2, C]; the rest x's shape. */
static int check_args(graph *g, const char *op, int n, const int *ids, const char *const *what, unsigned vec,
                      unsigned pair)
{
    for (int i = 0; i < n; i++)
        if (g_check_id(g, op, ids[i]) <= 0)
            return -1;
    for (int i = 0; i < n; i++)
        if (g_need_f32(g, op, what[i], ids[i]))
            return -1;
    if (check_x(g, op, ids[0]))
        return -1;
    const g_tensor *X = &g->tensors[ids[0]];
    int64_t C = X->shape[1];
    for (int i = 1; i < n; i++) {
        const g_tensor *T = &g->tensors[ids[i]];
        if (vec & (1u << i)) {
            if (T->ndim != 1 || T->shape[0] != C)
                return g_err(g, CC_ERR_SHAPE, "%s: x %s: %s %s, expected [%lld]", op, g_sh(g, ids[0]), what[i],
                             g_sh(g, ids[i]), (long long)C);
        } else if (pair & (1u << i)) {
            if (T->ndim != 2 || T->shape[0] != 2 || T->shape[1] != C)
                return g_err(g, CC_ERR_SHAPE, "%s: x %s: %s %s, expected [2, %lld]", op, g_sh(g, ids[0]),
                             what[i], g_sh(g, ids[i]), (long long)C);
        } else if (T->ndim != X->ndim || memcmp(T->shape, X->shape, (size_t)X->ndim * sizeof X->shape[0])) {
            return g_err(g, CC_ERR_SHAPE, "%s: x %s vs %s %s: shapes must be equal", op, g_sh(g, ids[0]), what[i],
                         g_sh(g, ids[i]));
        }
    }
    return 0;
}

int g_bn_stats(graph *g, int x)
{
    const char *what[1] = {"x"};
    if (check_args(g, "g_bn_stats", 1, &x, what, 0, 0))
        return -1;
    return g_op_append(g, G_OP_BN_STATS, 1, &x, NULL);
}

int g_bn_train(graph *g, int x, int gamma, int beta, int stats, float eps)
{
    int in[4] = {x, gamma, beta, stats};
    const char *what[4] = {"x", "gamma", "beta", "stats"};
    if (check_args(g, "g_bn_train", 4, in, what, 0x6u, 0x8u))
        return -1;
    g_attr at = {0};
    at.eps = eps;
    return g_op_append(g, G_OP_BN_TRAIN, 4, in, &at);
}

int g_bn_grad_sums(graph *g, int x, int stats, int dy, float eps)
{
    int in[3] = {x, stats, dy};
    const char *what[3] = {"x", "stats", "dy"};
    if (check_args(g, "g_bn_grad_sums", 3, in, what, 0, 0x2u))
        return -1;
    g_attr at = {0};
    at.eps = eps;
    return g_op_append(g, G_OP_BN_GRAD_SUMS, 3, in, &at);
}

int g_bn_grad_x(graph *g, int x, int gamma, int stats, int dy, int sums, float eps)
{
    int in[5] = {x, gamma, stats, dy, sums};
    const char *what[5] = {"x", "gamma", "stats", "dy", "sums"};
    if (check_args(g, "g_bn_grad_x", 5, in, what, 0x2u, 0x14u))
        return -1;
    g_attr at = {0};
    at.eps = eps;
    return g_op_append(g, G_OP_BN_GRAD_X, 5, in, &at);
}

/* Row `row` of a [2, C] tensor as a [C] tensor. */
int g_bn_row(graph *g, int pair, int row)
{
    int64_t c = g->tensors[pair].shape[1];
    return g_reshape(g, g_slice(g, pair, 0, row, row + 1, 1), 1, &c);
}

int g_batchnorm_train(graph *g, int x, int gamma, int beta, float eps, int *batch_mean, int *batch_var)
{
    const char *op = "g_batchnorm_train";
    int ids[3] = {x, gamma, beta};
    const char *what[3] = {"x", "gamma", "beta"};
    if (check_args(g, op, 3, ids, what, 0x6u, 0))
        return -1;
    int stats = g_bn_stats(g, x);
    int y = g_bn_train(g, x, gamma, beta, stats, eps);
    /* the [C] views the caller keeps for the running statistics: two small
     * copies, as outputs so that they survive the run */
    int mean = g_bn_row(g, stats, 0), var = g_bn_row(g, stats, 1);
    if (y < 0 || mean < 0 || var < 0)
        return -1;
    g_mark_output(g, mean);
    g_mark_output(g, var);
    if (batch_mean)
        *batch_mean = mean;
    if (batch_var)
        *batch_var = var;
    return y;
}
