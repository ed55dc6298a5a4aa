/* Reference spatial ops on NCHW: conv2d (cross-correlation, OIHW weights,
 * zero padding) and avgpool2d (floor mode, count_include_pad). */
#include "backends/ref/ref_ops.h"

static int need4(const g_node *n, const g_tensor *t)
{
    if (t->ndim != 4)
        return cc_fail(CC_ERR_SHAPE, "%s: '%s' must be 4-D NCHW, has %d dims",
                       g_op_name(n->op), t->name, t->ndim);
    return CC_OK;
}

static int conv2d(const graph *g, const g_node *n, void **data)
{
    const g_tensor *tx = ref_t(g, n->in[0]), *tw = ref_t(g, n->in[1]), *to = ref_t(g, n->out);
    int bias_id = ref_opt_in(n, 2);
    if (need4(n, tx) || need4(n, tw) || need4(n, to))
        return CC_ERR_SHAPE;
    int64_t N = tx->shape[0], C = tx->shape[1], H = tx->shape[2], W = tx->shape[3];
    int64_t O = tw->shape[0], KH = tw->shape[2], KW = tw->shape[3];
    int64_t OH = to->shape[2], OW = to->shape[3];
    int64_t sh = n->attr.stride[0], sw = n->attr.stride[1], ph = n->attr.pad[0], pw = n->attr.pad[1];
    if (tw->shape[1] != C || to->shape[0] != N || to->shape[1] != O || sh < 1 || sw < 1)
        return cc_fail(CC_ERR_SHAPE, "conv2d: x '%s' C=%lld, w '%s' I=%lld O=%lld, output '%s' N=%lld C=%lld, stride %lldx%lld",
                       tx->name, (long long)C, tw->name, (long long)tw->shape[1], (long long)O, to->name,
                       (long long)to->shape[0], (long long)to->shape[1], (long long)sh, (long long)sw);
    if (bias_id >= 0 && ref_numel(ref_t(g, bias_id)) != O)
        return cc_fail(CC_ERR_SHAPE, "conv2d: bias '%s' has %lld elements, expected %lld",
                       ref_t(g, bias_id)->name, (long long)ref_numel(ref_t(g, bias_id)), (long long)O);
    const float *x = data[n->in[0]], *w = data[n->in[1]];
    const float *bias = bias_id >= 0 ? data[bias_id] : NULL;
    float *o = data[n->out];
    for (int64_t b = 0; b < N; b++)
        for (int64_t oc = 0; oc < O; oc++)
            for (int64_t oy = 0; oy < OH; oy++)
                for (int64_t ox = 0; ox < OW; ox++) {
                    double acc = bias ? bias[oc] : 0.0;
                    for (int64_t c = 0; c < C; c++)
                        for (int64_t ky = 0; ky < KH; ky++) {
                            int64_t iy = oy * sh - ph + ky;
                            if (iy < 0 || iy >= H)
                                continue;
                            for (int64_t kx = 0; kx < KW; kx++) {
                                int64_t ix = ox * sw - pw + kx;
                                if (ix < 0 || ix >= W)
                                    continue;
                                acc += (double)x[((b * C + c) * H + iy) * W + ix] *
                                       (double)w[((oc * C + c) * KH + ky) * KW + kx];
                            }
                        }
                    o[((b * O + oc) * OH + oy) * OW + ox] = (float)acc;
                }
    return CC_OK;
}

static int avgpool2d(const graph *g, const g_node *n, void **data)
{
    const g_tensor *tx = ref_t(g, n->in[0]), *to = ref_t(g, n->out);
    if (need4(n, tx) || need4(n, to))
        return CC_ERR_SHAPE;
    /* The builder takes one square size; accept it in [0] alone or in both. */
    const g_attr *a = &n->attr;
    int both = a->kernel[1] != 0;
    int64_t kh = a->kernel[0], kw = both ? a->kernel[1] : a->kernel[0];
    int64_t sh = a->stride[0], sw = both ? a->stride[1] : a->stride[0];
    int64_t ph = a->pad[0], pw = both ? a->pad[1] : a->pad[0];
    int64_t NC = tx->shape[0] * tx->shape[1], H = tx->shape[2], W = tx->shape[3];
    int64_t OH = to->shape[2], OW = to->shape[3];
    if (kh < 1 || kw < 1 || sh < 1 || sw < 1 || to->shape[0] * to->shape[1] != NC)
        return cc_fail(CC_ERR_SHAPE, "avgpool2d: kernel %lldx%lld stride %lldx%lld on '%s' -> '%s'",
                       (long long)kh, (long long)kw, (long long)sh, (long long)sw, tx->name, to->name);
    const float *x = data[n->in[0]];
    float *o = data[n->out];
    for (int64_t p = 0; p < NC; p++)
        for (int64_t oy = 0; oy < OH; oy++)
            for (int64_t ox = 0; ox < OW; ox++) {
                double acc = 0.0;
                for (int64_t ky = 0; ky < kh; ky++) {
                    int64_t iy = oy * sh - ph + ky;
                    if (iy < 0 || iy >= H)
                        continue;
                    for (int64_t kx = 0; kx < kw; kx++) {
                        int64_t ix = ox * sw - pw + kx;
                        if (ix >= 0 && ix < W)
                            acc += x[(p * H + iy) * W + ix];
                    }
                }
                /* count_include_pad: padded zeros count in the divisor */
                o[(p * OH + oy) * OW + ox] = (float)(acc / (double)(kh * kw));
            }
    return CC_OK;
}

int ref_conv(const graph *g, const g_node *n, void **data)
{
    return n->op == G_OP_CONV2D ? conv2d(g, n, data) : avgpool2d(g, n, data);
}
