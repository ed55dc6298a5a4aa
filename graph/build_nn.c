/* Builders for neural-network ops: softmax, norms, conv/pool, embedding, attention. */
#include "graph/graph_internal.h"
#include "graph/op_table.h"

#include <string.h>

/* Checks ids (silent -1 for chained failures) and f32 dtype of n tensors. */
static int ids_f32(graph *g, const char *op, int n, const int *ts, const char *const *what)
{
    for (int i = 0; i < n; i++)
        if (g_check_id(g, op, ts[i]) <= 0)
            return -1;
    for (int i = 0; i < n; i++)
        if (g_need_f32(g, op, what[i], ts[i]))
            return -1;
    return 0;
}

static int is_vec(const graph *g, int t, int64_t n)
{
    return g->tensors[t].ndim == 1 && g->tensors[t].shape[0] == n;
}

int g_softmax(graph *g, int x, int causal)
{
    const char *op = "g_softmax";
    const char *w[] = {"x"};
    if (ids_f32(g, op, 1, &x, w))
        return -1;
    const g_tensor *X = &g->tensors[x];
    if (causal && X->ndim < 2)
        return g_err(g, CC_ERR_SHAPE, "g_softmax: x %s: causal mask needs at least 2-D",
                     g_sh(g, x));
    g_attr at = {0};
    at.causal = causal ? 1 : 0;
    return g_op_append(g, G_OP_SOFTMAX, 1, &x, &at);
}

int g_layernorm(graph *g, int x, int gamma, int beta, float eps)
{
    const char *op = "g_layernorm";
    int in[3] = {x, gamma, beta};
    const char *w[] = {"x", "gamma", "beta"};
    if (ids_f32(g, op, 3, in, w))
        return -1;
    const g_tensor *X = &g->tensors[x];
    int64_t d = X->shape[X->ndim - 1];
    if (!is_vec(g, gamma, d) || !is_vec(g, beta, d))
        return g_err(g, CC_ERR_SHAPE, "g_layernorm: x %s: gamma %s, beta %s, expected [%lld]",
                     g_sh(g, x), g_sh(g, gamma), g_sh(g, beta), (long long)d);
    g_attr at = {0};
    at.eps = eps;
    return g_op_append(g, G_OP_LAYERNORM, 3, in, &at);
}

int g_batchnorm(graph *g, int x, int gamma, int beta, int mean, int var, float eps)
{
    const char *op = "g_batchnorm";
    int in[5] = {x, gamma, beta, mean, var};
    const char *w[] = {"x", "gamma", "beta", "mean", "var"};
    if (ids_f32(g, op, 5, in, w))
        return -1;
    const g_tensor *X = &g->tensors[x];
    if (X->ndim != 4 && X->ndim != 2)
        return g_err(g, CC_ERR_SHAPE, "g_batchnorm: x %s, expected [N, C, H, W] or [N, C]",
                     g_sh(g, x));
    int64_t c = X->shape[1];
    for (int i = 1; i < 5; i++)
        if (!is_vec(g, in[i], c))
            return g_err(g, CC_ERR_SHAPE, "g_batchnorm: x %s: %s %s, expected [%lld]",
                         g_sh(g, x), w[i], g_sh(g, in[i]), (long long)c);
    g_attr at = {0};
    at.eps = eps;
    return g_op_append(g, G_OP_BATCHNORM, 5, in, &at);
}

int g_conv2d(graph *g, int x, int w, int bias, int stride_h, int stride_w, int pad_h, int pad_w)
{
    const char *op = "g_conv2d";
    int in[3] = {x, w, bias};
    const char *wn[] = {"x", "w", "bias"};
    if (ids_f32(g, op, 2, in, wn))
        return -1;
    if (bias != -1 && ids_f32(g, op, 1, &in[2], &wn[2]))
        return -1;
    const g_tensor *X = &g->tensors[x], *W = &g->tensors[w];
    if (X->ndim != 4 || W->ndim != 4)
        return g_err(g, CC_ERR_SHAPE,
                     "g_conv2d: x %s vs w %s: expected x [N, C, H, W] and w [O, C, kh, kw]",
                     g_sh(g, x), g_sh(g, w));
    if (X->shape[1] != W->shape[1])
        return g_err(g, CC_ERR_SHAPE, "g_conv2d: x %s vs w %s: channels differ (%lld vs %lld)",
                     g_sh(g, x), g_sh(g, w), (long long)X->shape[1], (long long)W->shape[1]);
    if (stride_h < 1 || stride_w < 1 || pad_h < 0 || pad_w < 0)
        return g_err(g, CC_ERR_SHAPE,
                     "g_conv2d: x %s, w %s: stride (%d, %d) must be >= 1 and pad (%d, %d) >= 0",
                     g_sh(g, x), g_sh(g, w), stride_h, stride_w, pad_h, pad_w);
    int64_t o = W->shape[0];
    if (bias != -1 && !is_vec(g, bias, o))
        return g_err(g, CC_ERR_SHAPE, "g_conv2d: x %s, w %s: bias %s, expected [%lld]",
                     g_sh(g, x), g_sh(g, w), g_sh(g, bias), (long long)o);
    int64_t hp = X->shape[2] + 2 * (int64_t)pad_h - W->shape[2];
    int64_t wp = X->shape[3] + 2 * (int64_t)pad_w - W->shape[3];
    if (hp < 0 || wp < 0)
        return g_err(g, CC_ERR_SHAPE,
                     "g_conv2d: x %s vs w %s (pad %d, %d): kernel larger than padded input",
                     g_sh(g, x), g_sh(g, w), pad_h, pad_w);
    g_attr at = {0};
    at.stride[0] = stride_h;
    at.stride[1] = stride_w;
    at.pad[0] = pad_h;
    at.pad[1] = pad_w;
    at.kernel[0] = (int)W->shape[2];
    at.kernel[1] = (int)W->shape[3];
    return g_op_append(g, G_OP_CONV2D, bias != -1 ? 3 : 2, in, &at);
}

int g_avgpool2d(graph *g, int x, int kernel, int stride, int pad)
{
    const char *op = "g_avgpool2d";
    const char *w[] = {"x"};
    if (ids_f32(g, op, 1, &x, w))
        return -1;
    const g_tensor *X = &g->tensors[x];
    if (X->ndim != 4)
        return g_err(g, CC_ERR_SHAPE, "g_avgpool2d: x %s, expected [N, C, H, W]", g_sh(g, x));
    /* PyTorch's limit: padding beyond half the window would average pure padding. */
    if (kernel < 1 || stride < 1 || pad < 0 || pad > kernel / 2)
        return g_err(g, CC_ERR_SHAPE,
                     "g_avgpool2d: x %s: kernel %d, stride %d, pad %d: expected kernel >= 1, "
                     "stride >= 1, 0 <= pad <= kernel/2",
                     g_sh(g, x), kernel, stride, pad);
    int64_t hp = X->shape[2] + 2 * (int64_t)pad - kernel;
    int64_t wp = X->shape[3] + 2 * (int64_t)pad - kernel;
    if (hp < 0 || wp < 0)
        return g_err(g, CC_ERR_SHAPE,
                     "g_avgpool2d: x %s: kernel %d (pad %d) larger than the padded input",
                     g_sh(g, x), kernel, pad);
    g_attr at = {0};
    at.kernel[0] = at.kernel[1] = kernel;
    at.stride[0] = at.stride[1] = stride;
    at.pad[0] = at.pad[1] = pad;
    return g_op_append(g, G_OP_AVGPOOL2D, 1, &x, &at);
}

int g_embedding(graph *g, int table, int ids)
{
    const char *op = "g_embedding";
    if (g_check_id(g, op, table) <= 0 || g_check_id(g, op, ids) <= 0)
        return -1;
    if (g_need_f32(g, op, "table", table))
        return -1;
    const g_tensor *T = &g->tensors[table], *I = &g->tensors[ids];
    if (I->dtype != G_I32)
        return g_err(g, CC_ERR_SHAPE, "g_embedding: table %s, ids %s are f32, expected i32",
                     g_sh(g, table), g_sh(g, ids));
    if (T->ndim != 2)
        return g_err(g, CC_ERR_SHAPE, "g_embedding: table %s vs ids %s: table must be [V, D]",
                     g_sh(g, table), g_sh(g, ids));
    if (I->ndim + 1 > G_MAX_DIMS)
        return g_err(g, CC_ERR_SHAPE,
                     "g_embedding: table %s vs ids %s: output would exceed %d dims",
                     g_sh(g, table), g_sh(g, ids), G_MAX_DIMS);
    int in[2] = {table, ids};
    return g_op_append(g, G_OP_EMBEDDING, 2, in, NULL);
}

int g_attention(graph *g, int q, int k, int v, int heads, int causal)
{
    const char *op = "g_attention";
    int in[3] = {q, k, v};
    const char *w[] = {"q", "k", "v"};
    if (ids_f32(g, op, 3, in, w))
        return -1;
    const g_tensor *Q = &g->tensors[q], *K = &g->tensors[k], *V = &g->tensors[v];
    if (Q->ndim != 3 || K->ndim != 3 || V->ndim != 3)
        return g_err(g, CC_ERR_SHAPE, "g_attention: q %s, k %s, v %s: expected 3-D [B, T, C]",
                     g_sh(g, q), g_sh(g, k), g_sh(g, v));
    if (memcmp(K->shape, V->shape, 3 * sizeof K->shape[0]) != 0)
        return g_err(g, CC_ERR_SHAPE, "g_attention: k %s vs v %s: shapes must be equal",
                     g_sh(g, k), g_sh(g, v));
    if (Q->shape[0] != K->shape[0] || Q->shape[2] != K->shape[2])
        return g_err(g, CC_ERR_SHAPE,
                     "g_attention: q %s vs k %s: batch and channel dims must be equal",
                     g_sh(g, q), g_sh(g, k));
    if (heads < 1 || Q->shape[2] % heads != 0)
        return g_err(g, CC_ERR_SHAPE, "g_attention: q %s: %d heads do not divide C = %lld",
                     g_sh(g, q), heads, (long long)Q->shape[2]);
    if (causal && Q->shape[1] != K->shape[1])
        return g_err(g, CC_ERR_SHAPE, "g_attention: q %s vs k %s: causal needs T == S",
                     g_sh(g, q), g_sh(g, k));
    g_attr at = {0};
    at.heads = heads;
    at.causal = causal ? 1 : 0;
    return g_op_append(g, G_OP_ATTENTION, 3, in, &at);
}
