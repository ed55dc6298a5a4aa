/* Builders for the backward/loss ops: log, the broadcast pair sum_to /
 * broadcast_to, and one node per partial derivative of the forward ops.
 * Each checks that its inputs agree with the forward op they differentiate
 * (same shape as x, channels matching w, ...), so a wrong rule fails at
 * build time with both shapes named instead of in a kernel. */
#include "graph/graph_internal.h"
#include "graph/op_table.h"

#include <string.h>

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

static int same_shape(const graph *g, int a, int b)
{
    const g_tensor *A = &g->tensors[a], *B = &g->tensors[b];
    return A->ndim == B->ndim && memcmp(A->shape, B->shape, (size_t)A->ndim * sizeof A->shape[0]) == 0;
}

static int shape_ok(int ndim, const int64_t *shape)
{
    if (ndim < 1 || ndim > G_MAX_DIMS || !shape)
        return 0;
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 1)
            return 0;
    return 1;
}

int g_log(graph *g, int x)
{
    const char *w[] = {"x"};
    if (ids_f32(g, "g_log", 1, &x, w))
        return -1;
    return g_op_append(g, G_OP_LOG, 1, &x, NULL);
}

/* 1 when small (ns dims) broadcasts to big (nb dims) by numpy's rule. */
static int broadcasts(int ns, const int64_t *small, int nb, const int64_t *big)
{
    if (ns > nb)
        return 0;
    for (int i = 0; i < ns; i++) {
        int64_t s = small[ns - 1 - i], b = big[nb - 1 - i];
        if (s != 1 && s != b)
            return 0;
    }
    return 1;
}

int g_sum_to(graph *g, int x, int ndim, const int64_t *shape)
{
    const char *w[] = {"x"};
    if (ids_f32(g, "g_sum_to", 1, &x, w))
        return -1;
    char want[96];
    if (!shape_ok(ndim, shape))
        return g_err(g, CC_ERR_SHAPE, "g_sum_to: x %s: target ndim %d or a dim < 1", g_sh(g, x), ndim);
    const g_tensor *X = &g->tensors[x];
    if (!broadcasts(ndim, shape, X->ndim, X->shape))
        return g_err(g, CC_ERR_SHAPE, "g_sum_to: x %s to %s: the target must broadcast to x", g_sh(g, x),
                     g_fmt_shape(ndim, shape, want, sizeof want));
    return g_append_node(g, G_OP_SUM_TO, 1, &x, NULL, G_F32, ndim, shape);
}

int g_broadcast_to(graph *g, int x, int ndim, const int64_t *shape)
{
    const char *w[] = {"x"};
    if (ids_f32(g, "g_broadcast_to", 1, &x, w))
        return -1;
    char want[96];
    if (!shape_ok(ndim, shape))
        return g_err(g, CC_ERR_SHAPE, "g_broadcast_to: x %s: target ndim %d or a dim < 1", g_sh(g, x),
                     ndim);
    const g_tensor *X = &g->tensors[x];
    if (!broadcasts(X->ndim, X->shape, ndim, shape))
        return g_err(g, CC_ERR_SHAPE, "g_broadcast_to: x %s to %s: x must broadcast to the target",
                     g_sh(g, x), g_fmt_shape(ndim, shape, want, sizeof want));
    return g_append_node(g, G_OP_BROADCAST_TO, 1, &x, NULL, G_F32, ndim, shape);
}

/* The derivative ops of elementwise and row-wise ops: two same-shaped f32
 * inputs, output of that shape. */
static int pair(graph *g, g_op kind, const char *op, const char *n0, int a, int dy, const g_attr *at)
{
    int in[2] = {a, dy};
    const char *w[] = {n0, "dy"};
    if (ids_f32(g, op, 2, in, w))
        return -1;
    if (!same_shape(g, a, dy))
        return g_err(g, CC_ERR_SHAPE, "%s: %s %s vs dy %s: shapes must be equal", op, n0, g_sh(g, a),
                     g_sh(g, dy));
    return g_op_append(g, kind, 2, in, at);
}

int g_gelu_grad(graph *g, int x, int dy) { return pair(g, G_OP_GELU_GRAD, "g_gelu_grad", "x", x, dy, NULL); }
int g_quickgelu_grad(graph *g, int x, int dy)
{
    return pair(g, G_OP_QUICKGELU_GRAD, "g_quickgelu_grad", "x", x, dy, NULL);
}
int g_relu_grad(graph *g, int x, int dy) { return pair(g, G_OP_RELU_GRAD, "g_relu_grad", "x", x, dy, NULL); }
int g_sigmoid_grad(graph *g, int y, int dy)
{
    return pair(g, G_OP_SIGMOID_GRAD, "g_sigmoid_grad", "y", y, dy, NULL);
}
int g_softmax_grad(graph *g, int y, int dy)
{
    return pair(g, G_OP_SOFTMAX_GRAD, "g_softmax_grad", "y", y, dy, NULL);
}

int g_l2norm_grad(graph *g, int x, int dy, float eps)
{
    g_attr at = {0};
    at.eps = eps;
    return pair(g, G_OP_L2NORM_GRAD, "g_l2norm_grad", "x", x, dy, &at);
}

int g_layernorm_grad_x(graph *g, int x, int gamma, int dy, float eps)
{
    const char *op = "g_layernorm_grad_x";
    int in[3] = {x, gamma, dy};
    const char *w[] = {"x", "gamma", "dy"};
    if (ids_f32(g, op, 3, in, w))
        return -1;
    if (!same_shape(g, x, dy))
        return g_err(g, CC_ERR_SHAPE, "%s: x %s vs dy %s: shapes must be equal", op, g_sh(g, x), g_sh(g, dy));
    const g_tensor *X = &g->tensors[x], *G = &g->tensors[gamma];
    if (G->ndim != 1 || G->shape[0] != X->shape[X->ndim - 1])
        return g_err(g, CC_ERR_SHAPE, "%s: x %s: gamma %s, expected [%lld]", op, g_sh(g, x), g_sh(g, gamma),
                     (long long)X->shape[X->ndim - 1]);
    g_attr at = {0};
    at.eps = eps;
    return g_op_append(g, G_OP_LAYERNORM_GRAD_X, 3, in, &at);
}

int g_layernorm_grad_gamma(graph *g, int x, int dy, float eps)
{
    const char *op = "g_layernorm_grad_gamma";
    int in[2] = {x, dy};
    const char *w[] = {"x", "dy"};
    if (ids_f32(g, op, 2, in, w))
        return -1;
    if (!same_shape(g, x, dy))
        return g_err(g, CC_ERR_SHAPE, "%s: x %s vs dy %s: shapes must be equal", op, g_sh(g, x), g_sh(g, dy));
    g_attr at = {0};
    at.eps = eps;
    return g_op_append(g, G_OP_LAYERNORM_GRAD_GAMMA, 2, in, &at);
}

/* Output extent of a window op along one dim, or -1 when the window does
 * not fit the padded input. */
static int64_t win_out(int64_t in, int k, int s, int p)
{
    int64_t span = in + 2 * (int64_t)p - k;
    return span < 0 ? -1 : span / s + 1;
}

static int conv_attrs(graph *g, const char *op, int sh, int sw, int ph, int pw, g_attr *at)
{
    if (sh < 1 || sw < 1 || ph < 0 || pw < 0)
        return g_err(g, CC_ERR_SHAPE, "%s: stride (%d, %d) must be >= 1 and pad (%d, %d) >= 0", op, sh, sw,
                     ph, pw);
    memset(at, 0, sizeof *at);
    at->stride[0] = sh;
    at->stride[1] = sw;
    at->pad[0] = ph;
    at->pad[1] = pw;
    return 0;
}

int g_conv2d_grad_input(graph *g, int dy, int w, int stride_h, int stride_w, int pad_h, int pad_w, int ndim,
                        const int64_t *x_shape)
{
    const char *op = "g_conv2d_grad_input";
    int in[2] = {dy, w};
    const char *wn[] = {"dy", "w"};
    if (ids_f32(g, op, 2, in, wn))
        return -1;
    g_attr at;
    if (conv_attrs(g, op, stride_h, stride_w, pad_h, pad_w, &at))
        return -1;
    const g_tensor *D = &g->tensors[dy], *W = &g->tensors[w];
    char xs[96];
    if (ndim != 4 || !shape_ok(ndim, x_shape) || D->ndim != 4 || W->ndim != 4)
        return g_err(g, CC_ERR_SHAPE, "%s: dy %s, w %s, x of %d dims: expected all 4-D", op, g_sh(g, dy),
                     g_sh(g, w), ndim);
    at.kernel[0] = (int)W->shape[2];
    at.kernel[1] = (int)W->shape[3];
    if (D->shape[0] != x_shape[0] || D->shape[1] != W->shape[0] || W->shape[1] != x_shape[1] ||
        D->shape[2] != win_out(x_shape[2], at.kernel[0], stride_h, pad_h) ||
        D->shape[3] != win_out(x_shape[3], at.kernel[1], stride_w, pad_w))
        return g_err(g, CC_ERR_SHAPE,
                     "%s: dy %s, w %s, x %s (stride %d, %d, pad %d, %d): dy is not the conv output of x and w",
                     op, g_sh(g, dy), g_sh(g, w), g_fmt_shape(4, x_shape, xs, sizeof xs), stride_h, stride_w,
                     pad_h, pad_w);
    return g_append_node(g, G_OP_CONV2D_GRAD_INPUT, 2, in, &at, G_F32, 4, x_shape);
}

int g_conv2d_grad_weight(graph *g, int x, int dy, int stride_h, int stride_w, int pad_h, int pad_w, int kh,
                         int kw)
{
    const char *op = "g_conv2d_grad_weight";
    int in[2] = {x, dy};
    const char *wn[] = {"x", "dy"};
    if (ids_f32(g, op, 2, in, wn))
        return -1;
    g_attr at;
    if (conv_attrs(g, op, stride_h, stride_w, pad_h, pad_w, &at))
        return -1;
    const g_tensor *X = &g->tensors[x], *D = &g->tensors[dy];
    if (X->ndim != 4 || D->ndim != 4 || kh < 1 || kw < 1)
        return g_err(g, CC_ERR_SHAPE, "%s: x %s, dy %s, kernel %dx%d: expected 4-D tensors, kernel >= 1", op,
                     g_sh(g, x), g_sh(g, dy), kh, kw);
    if (D->shape[0] != X->shape[0] || D->shape[2] != win_out(X->shape[2], kh, stride_h, pad_h) ||
        D->shape[3] != win_out(X->shape[3], kw, stride_w, pad_w))
        return g_err(g, CC_ERR_SHAPE,
                     "%s: x %s, dy %s (kernel %dx%d, stride %d, %d, pad %d, %d): dy is not the conv output of x",
                     op, g_sh(g, x), g_sh(g, dy), kh, kw, stride_h, stride_w, pad_h, pad_w);
    at.kernel[0] = kh;
    at.kernel[1] = kw;
    return g_op_append(g, G_OP_CONV2D_GRAD_WEIGHT, 2, in, &at);
}

int g_avgpool2d_grad(graph *g, int dy, int kernel, int stride, int pad, int ndim, const int64_t *x_shape)
{
    const char *op = "g_avgpool2d_grad";
    const char *wn[] = {"dy"};
    if (ids_f32(g, op, 1, &dy, wn))
        return -1;
    const g_tensor *D = &g->tensors[dy];
    char xs[96];
    if (ndim != 4 || !shape_ok(ndim, x_shape) || D->ndim != 4)
        return g_err(g, CC_ERR_SHAPE, "%s: dy %s, x of %d dims: expected both 4-D", op, g_sh(g, dy), ndim);
    if (kernel < 1 || stride < 1 || pad < 0 || pad > kernel / 2)
        return g_err(g, CC_ERR_SHAPE, "%s: kernel %d, stride %d, pad %d: expected kernel >= 1, stride >= 1, "
                     "0 <= pad <= kernel/2", op, kernel, stride, pad);
    if (D->shape[0] != x_shape[0] || D->shape[1] != x_shape[1] ||
        D->shape[2] != win_out(x_shape[2], kernel, stride, pad) ||
        D->shape[3] != win_out(x_shape[3], kernel, stride, pad))
        return g_err(g, CC_ERR_SHAPE, "%s: dy %s, x %s (kernel %d, stride %d, pad %d): dy is not the pool "
                     "output of x", op, g_sh(g, dy), g_fmt_shape(4, x_shape, xs, sizeof xs), kernel, stride, pad);
    g_attr at = {0};
    at.kernel[0] = at.kernel[1] = kernel;
    at.stride[0] = at.stride[1] = stride;
    at.pad[0] = at.pad[1] = pad;
    return g_append_node(g, G_OP_AVGPOOL2D_GRAD, 1, &dy, &at, G_F32, 4, x_shape);
}

int g_embedding_grad(graph *g, int ids, int dy, int64_t vocab)
{
    const char *op = "g_embedding_grad";
    if (g_check_id(g, op, ids) <= 0 || g_check_id(g, op, dy) <= 0)
        return -1;
    if (g_need_f32(g, op, "dy", dy))
        return -1;
    const g_tensor *I = &g->tensors[ids], *D = &g->tensors[dy];
    if (I->dtype != G_I32)
        return g_err(g, CC_ERR_SHAPE, "%s: ids %s are f32, expected i32", op, g_sh(g, ids));
    int ok = vocab >= 1 && D->ndim == I->ndim + 1 &&
             memcmp(D->shape, I->shape, (size_t)I->ndim * sizeof I->shape[0]) == 0;
    if (!ok)
        return g_err(g, CC_ERR_SHAPE, "%s: ids %s, dy %s, vocab %lld: dy must be ids' shape plus [D], vocab >= 1",
                     op, g_sh(g, ids), g_sh(g, dy), (long long)vocab);
    int64_t out[2] = {vocab, D->shape[D->ndim - 1]};
    int in[2] = {ids, dy};
    return g_append_node(g, G_OP_EMBEDDING_GRAD, 2, in, NULL, G_F32, 2, out);
}

int g_slice_grad(graph *g, int dy, int axis, int64_t start, int64_t end, int64_t step, int ndim,
                 const int64_t *x_shape)
{
    const char *op = "g_slice_grad";
    const char *wn[] = {"dy"};
    if (ids_f32(g, op, 1, &dy, wn))
        return -1;
    const g_tensor *D = &g->tensors[dy];
    char xs[96];
    if (!shape_ok(ndim, x_shape) || D->ndim != ndim)
        return g_err(g, CC_ERR_SHAPE, "%s: dy %s vs x of %d dims: ranks must be equal", op, g_sh(g, dy), ndim);
    g_fmt_shape(ndim, x_shape, xs, sizeof xs);
    int ax = axis < 0 ? axis + ndim : axis;
    if (ax < 0 || ax >= ndim || step < 1)
        return g_err(g, CC_ERR_SHAPE, "%s: x %s: axis %d, step %lld: expected a valid axis and step >= 1", op,
                     xs, axis, (long long)step);
    /* The same Python-style bounds as g_slice, so forward attrs pass as-is. */
    int64_t n = x_shape[ax];
    int64_t s = start < 0 ? start + n : start, e = end < 0 ? end + n : end;
    s = s < 0 ? 0 : s > n ? n : s;
    e = e < 0 ? 0 : e > n ? n : e;
    int ok = e > s;
    for (int d = 0; ok && d < ndim; d++)
        ok = D->shape[d] == (d == ax ? (e - s + step - 1) / step : x_shape[d]);
    if (!ok)
        return g_err(g, CC_ERR_SHAPE, "%s: dy %s is not x %s sliced on axis %d [%lld:%lld:%lld]", op,
                     g_sh(g, dy), xs, ax, (long long)start, (long long)end, (long long)step);
    g_attr at = {0};
    at.axis = ax;
    at.start = s;
    at.end = e;
    at.step = step;
    return g_append_node(g, G_OP_SLICE_GRAD, 1, &dy, &at, G_F32, ndim, x_shape);
}

int g_attention_grad(graph *g, int q, int k, int v, int dout, int heads, int causal, int which)
{
    const char *op = "g_attention_grad";
    int in[4] = {q, k, v, dout};
    const char *w[] = {"q", "k", "v", "dout"};
    if (ids_f32(g, op, 4, in, w))
        return -1;
    if (which < 0 || which > 2)
        return g_err(g, CC_ERR_INVALID, "%s: which %d, expected 0 (dq), 1 (dk) or 2 (dv)", op, which);
    if (!same_shape(g, q, dout))
        return g_err(g, CC_ERR_SHAPE, "%s: q %s vs dout %s: shapes must be equal", op, g_sh(g, q),
                     g_sh(g, dout));
    /* The forward builder's conditions, so a rule can only differentiate
     * an attention that g_attention would have accepted. */
    const g_tensor *Q = &g->tensors[q], *K = &g->tensors[k];
    int ok = Q->ndim == 3 && K->ndim == 3 && same_shape(g, k, v) && Q->shape[0] == K->shape[0] &&
             Q->shape[2] == K->shape[2] && heads >= 1 && Q->shape[2] % heads == 0 &&
             (!causal || Q->shape[1] == K->shape[1]);
    if (!ok)
        return g_err(g, CC_ERR_SHAPE, "%s: q %s, k %s, v %s, %d heads, causal %d: not a valid attention", op,
                     g_sh(g, q), g_sh(g, k), g_sh(g, v), heads, causal ? 1 : 0);
    g_attr at = {0};
    at.heads = heads;
    at.causal = causal ? 1 : 0;
    at.which = which;
    return g_op_append(g, G_OP_ATTENTION_GRAD, 4, in, &at);
}
