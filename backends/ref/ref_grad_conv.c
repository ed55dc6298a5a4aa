/* Reference backward of the spatial ops on NCHW: conv2d with respect to its
 * input and its weight (cross-correlation, zero padding, as ref_conv.c), and
 * avgpool2d (floor mode, count_include_pad). */
#include <stdlib.h>

#include "backends/ref/ref_ops.h"

static int need4(const g_node *n, const g_tensor *t)
{
    if (t->ndim != 4)
        return cc_fail(CC_ERR_SHAPE, "%s: '%s' must be 4-D NCHW, has %d dims",
                       g_op_name(n->op), t->name, t->ndim);
    return CC_OK;
}

/* The forward output size a builder must have given dy: floor mode. */
static int check_out_size(const g_node *n, const g_tensor *tdy, int64_t H, int64_t W, int64_t kh,
                          int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw)
{
    if (sh < 1 || sw < 1 || kh < 1 || kw < 1 || ph < 0 || pw < 0)
        return cc_fail(CC_ERR_INVALID, "%s: kernel %lldx%lld stride %lldx%lld pad %lldx%lld",
                       g_op_name(n->op), (long long)kh, (long long)kw, (long long)sh, (long long)sw,
                       (long long)ph, (long long)pw);
    int64_t oh = (H + 2 * ph - kh) / sh + 1, ow = (W + 2 * pw - kw) / sw + 1;
    if (tdy->shape[2] != oh || tdy->shape[3] != ow)
        return cc_fail(CC_ERR_SHAPE, "%s: dy '%s' is %lldx%lld spatially, the forward of %lldx%lld gives %lldx%lld",
                       g_op_name(n->op), tdy->name, (long long)tdy->shape[2], (long long)tdy->shape[3],
                       (long long)H, (long long)W, (long long)oh, (long long)ow);
    return CC_OK;
}

/* dx[b,c,iy,ix] = sum over o, ky, kx of dy[b,o,oy,ox] w[o,c,ky,kx] where
 * oy*sh - ph + ky = iy (and likewise for x): the forward's taps, gathered. */
static int conv2d_grad_input(const graph *g, const g_node *n, void **data)
{
    const g_tensor *tdy = ref_t(g, n->in[0]), *tw = ref_t(g, n->in[1]), *to = ref_t(g, n->out);
    if (need4(n, tdy) || need4(n, tw) || need4(n, to))
        return CC_ERR_SHAPE;
    int64_t N = to->shape[0], C = to->shape[1], H = to->shape[2], W = to->shape[3];
    int64_t O = tw->shape[0], KH = tw->shape[2], KW = tw->shape[3];
    int64_t OH = tdy->shape[2], OW = tdy->shape[3];
    int64_t sh = n->attr.stride[0], sw = n->attr.stride[1], ph = n->attr.pad[0], pw = n->attr.pad[1];
    if (tw->shape[1] != C || tdy->shape[0] != N || tdy->shape[1] != O)
        return cc_fail(CC_ERR_SHAPE, "conv2d_grad_input: dy '%s' [%lld, %lld, ...], w '%s' [%lld, %lld, ...], output '%s' [%lld, %lld, ...]",
                       tdy->name, (long long)tdy->shape[0], (long long)tdy->shape[1], tw->name, (long long)O,
                       (long long)tw->shape[1], to->name, (long long)N, (long long)C);
    int rc = check_out_size(n, tdy, H, W, KH, KW, sh, sw, ph, pw);
    if (rc)
        return rc;
    const float *dy = data[n->in[0]], *w = data[n->in[1]];
    float *o = data[n->out];
    for (int64_t b = 0; b < N; b++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t iy = 0; iy < H; iy++)
                for (int64_t ix = 0; ix < W; ix++) {
                    double acc = 0.0;
                    for (int64_t oc = 0; oc < O; oc++)
                        for (int64_t ky = 0; ky < KH; ky++) {
                            int64_t ty = iy + ph - ky;
                            if (ty < 0 || ty % sh || ty / sh >= OH)
                                continue;
                            for (int64_t kx = 0; kx < KW; kx++) {
                                int64_t tx = ix + pw - kx;
                                if (tx < 0 || tx % sw || tx / sw >= OW)
                                    continue;
                                acc += (double)dy[((b * O + oc) * OH + ty / sh) * OW + tx / sw] *
                                       (double)w[((oc * C + c) * KH + ky) * KW + kx];
                            }
                        }
                    o[((b * C + c) * H + iy) * W + ix] = (float)acc;
                }
    return CC_OK;
}

/* dw[o,c,ky,kx] = sum over b, oy, ox of dy[b,o,oy,ox] x[b,c,oy*sh-ph+ky,ox*sw-pw+kx]. */
static int conv2d_grad_weight(const graph *g, const g_node *n, void **data)
{
    const g_tensor *tx = ref_t(g, n->in[0]), *tdy = ref_t(g, n->in[1]), *to = ref_t(g, n->out);
    if (need4(n, tx) || need4(n, tdy) || need4(n, to))
        return CC_ERR_SHAPE;
    int64_t N = tx->shape[0], C = tx->shape[1], H = tx->shape[2], W = tx->shape[3];
    int64_t O = to->shape[0], KH = to->shape[2], KW = to->shape[3];
    int64_t OH = tdy->shape[2], OW = tdy->shape[3];
    int64_t sh = n->attr.stride[0], sw = n->attr.stride[1], ph = n->attr.pad[0], pw = n->attr.pad[1];
    int kernel_ok = (n->attr.kernel[0] == 0 || n->attr.kernel[0] == KH) &&
                    (n->attr.kernel[1] == 0 || n->attr.kernel[1] == KW);
    if (to->shape[1] != C || tdy->shape[0] != N || tdy->shape[1] != O || !kernel_ok)
        return cc_fail(CC_ERR_SHAPE, "conv2d_grad_weight: x '%s' [%lld, %lld, ...], dy '%s' [%lld, %lld, ...], output '%s' [%lld, %lld, %lld, %lld], kernel attr %dx%d",
                       tx->name, (long long)N, (long long)C, tdy->name, (long long)tdy->shape[0],
                       (long long)tdy->shape[1], to->name, (long long)O, (long long)to->shape[1],
                       (long long)KH, (long long)KW, n->attr.kernel[0], n->attr.kernel[1]);
    int rc = check_out_size(n, tdy, H, W, KH, KW, sh, sw, ph, pw);
    if (rc)
        return rc;
    const float *x = data[n->in[0]], *dy = data[n->in[1]];
    float *o = data[n->out];
    for (int64_t oc = 0; oc < O; oc++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t ky = 0; ky < KH; ky++)
                for (int64_t kx = 0; kx < KW; kx++) {
                    double acc = 0.0;
                    for (int64_t b = 0; b < N; b++)
                        for (int64_t oy = 0; oy < OH; oy++) {
                            int64_t iy = oy * sh - ph + ky;
                            if (iy < 0 || iy >= H)
                                continue;
                            for (int64_t ox = 0; ox < OW; ox++) {
                                int64_t ix = ox * sw - pw + kx;
                                if (ix >= 0 && ix < W)
                                    acc += (double)dy[((b * O + oc) * OH + oy) * OW + ox] *
                                           (double)x[((b * C + c) * H + iy) * W + ix];
                            }
                        }
                    o[((oc * C + c) * KH + ky) * KW + kx] = (float)acc;
                }
    return CC_OK;
}

/* Each dy element spreads dy/(kh*kw) over its window (padded taps fall
 * outside x and are dropped): the forward's sums, scattered. */
static int avgpool2d_grad(const graph *g, const g_node *n, void **data)
{
    const g_tensor *tdy = ref_t(g, n->in[0]), *to = ref_t(g, n->out);
    if (need4(n, tdy) || need4(n, to))
        return CC_ERR_SHAPE;
    /* Same attribute reading as the forward: square size in [0] alone, or both. */
    const g_attr *a = &n->attr;
    int both = a->kernel[1] != 0;
    int64_t kh = a->kernel[0], kw = both ? a->kernel[1] : a->kernel[0];
    int64_t sh = a->stride[0], sw = both ? a->stride[1] : a->stride[0];
    int64_t ph = a->pad[0], pw = both ? a->pad[1] : a->pad[0];
    int64_t NC = to->shape[0] * to->shape[1], H = to->shape[2], W = to->shape[3];
    int64_t OH = tdy->shape[2], OW = tdy->shape[3];
    if (tdy->shape[0] * tdy->shape[1] != NC)
        return cc_fail(CC_ERR_SHAPE, "avgpool2d_grad: dy '%s' and output '%s' differ in N*C",
                       tdy->name, to->name);
    int rc = check_out_size(n, tdy, H, W, kh, kw, sh, sw, ph, pw);
    if (rc)
        return rc;
    int64_t total = ref_numel(to);
    double *acc = calloc((size_t)(total > 0 ? total : 1), sizeof *acc);
    if (!acc)
        return cc_fail(CC_ERR_NOMEM, "avgpool2d_grad: %lld accumulators for '%s'", (long long)total, to->name);
    const float *dy = data[n->in[0]];
    double inv = 1.0 / (double)(kh * kw);
    for (int64_t p = 0; p < NC; p++)
        for (int64_t oy = 0; oy < OH; oy++)
            for (int64_t ox = 0; ox < OW; ox++) {
                double v = (double)dy[(p * OH + oy) * OW + ox] * inv;
                for (int64_t ky = 0; ky < kh; ky++) {
                    int64_t iy = oy * sh - ph + ky;
                    if (iy < 0 || iy >= H)
                        continue;
                    for (int64_t kx = 0; kx < kw; kx++) {
                        int64_t ix = ox * sw - pw + kx;
                        if (ix >= 0 && ix < W)
                            acc[(p * H + iy) * W + ix] += v;
                    }
                }
            }
    float *o = data[n->out];
    for (int64_t i = 0; i < total; i++)
        o[i] = (float)acc[i];
    free(acc);
    return CC_OK;
}

int ref_grad_conv(const graph *g, const g_node *n, void **data)
{
    if (n->n_in < (n->op == G_OP_AVGPOOL2D_GRAD ? 1 : 2))
        return cc_fail(CC_ERR_INVALID, "%s: has %d inputs", g_op_name(n->op), n->n_in);
    switch (n->op) {
    case G_OP_CONV2D_GRAD_INPUT: return conv2d_grad_input(g, n, data);
    case G_OP_CONV2D_GRAD_WEIGHT: return conv2d_grad_weight(g, n, data);
    default: return avgpool2d_grad(g, n, data);
    }
}
