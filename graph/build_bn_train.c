/* BatchNorm in training mode as a composite of existing ops, so autodiff
 * differentiates it (through the batch statistics) with the ordinary rules.
 * Shapes: x viewed as [N, C, M] (M = H*W, or 1 for [N, C]); statistics are
 * means over M then over N, which is the mean over N*M since every (n, c)
 * group has the same count. */
#include "graph/autodiff_internal.h"

#include <string.h>

int g_batchnorm_train(graph *g, int x, int gamma, int beta, float eps, int *batch_mean, int *batch_var)
{
    const char *op = "g_batchnorm_train";
    int ids[3] = {x, gamma, beta};
    const char *what[3] = {"x", "gamma", "beta"};
    for (int i = 0; i < 3; i++)
        if (g_check_id(g, op, ids[i]) <= 0)
            return -1;
    for (int i = 0; i < 3; i++)
        if (g_need_f32(g, op, what[i], ids[i]))
            return -1;
    const g_tensor *X = &g->tensors[x];
    if (X->ndim != 4 && X->ndim != 2)
        return g_err(g, CC_ERR_SHAPE, "%s: x %s, expected [N, C, H, W] or [N, C]", op, g_sh(g, x));
    int64_t xs[G_MAX_DIMS];
    memcpy(xs, X->shape, sizeof xs);
    int nd = X->ndim;
    int64_t C = xs[1], M = nd == 4 ? xs[2] * xs[3] : 1;
    for (int i = 1; i < 3; i++)
        if (g->tensors[ids[i]].ndim != 1 || g->tensors[ids[i]].shape[0] != C)
            return g_err(g, CC_ERR_SHAPE, "%s: x %s: %s %s, expected [%lld]", op, g_sh(g, x), what[i],
                         g_sh(g, ids[i]), (long long)C);
    int64_t s3[3] = {xs[0], C, M}, c1[2] = {C, 1};
    int x3 = g_reshape(g, x, 3, s3);
    int mean = g_mean(g, g_transpose(g, g_mean(g, x3), 0, 1));         /* [C] */
    int xc = g_sub(g, x3, g_reshape(g, mean, 2, c1));                   /* [N, C, M] */
    int var = g_mean(g, g_transpose(g, g_mean(g, g_mul(g, xc, xc)), 0, 1)); /* [C], biased */
    /* No scalar-add op: eps enters as a [C] constant built from var. */
    int rstd = g_exp(g, g_scale(g, g_log(g, g_add(g, var, ad_const_like(g, var, eps))), -0.5f));
    int a = g_reshape(g, g_mul(g, rstd, gamma), 2, c1);
    int y3 = g_add(g, g_mul(g, xc, a), g_reshape(g, beta, 2, c1));
    int y = g_reshape(g, y3, nd, xs);
    if (y < 0)
        return -1;
    g_mark_output(g, mean);
    g_mark_output(g, var);
    if (batch_mean)
        *batch_mean = mean;
    if (batch_var)
        *batch_var = var;
    return y;
}
