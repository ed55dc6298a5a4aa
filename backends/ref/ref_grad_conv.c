/* Reference backward of the spatial ops on NCHW: conv2d with respect to its
 * input and its weight (cross-correlation, zero padding, as ref_conv.c), and
 * avgpool2d (floor mode, count_include_pad). All three walk the forward's
 * window through ref_window.c: dw is dy times the patch rows, dx and the
 * pooling gradient fill patch rows and scatter them back. */
#include <stdlib.h>

#include "backends/ref/ref_window.h"

/* The backward ops read in[0..k-1]; a hand-appended node may have fewer. */
static int need_inputs(const g_node *n, int k)
{
    if (n->n_in < k)
        return cc_fail(CC_ERR_INVALID, "%s: has %d inputs", g_op_name(n->op), n->n_in);
    return CC_OK;
}

/* dx[b,c,iy,ix] = sum over o and the taps that read x[b,c,iy,ix] of
 * dy[b,o,oy,ox] w[o,c,ky,kx]; positions no tap reads get 0. */
int ref_conv2d_grad_input(const graph *g, const g_node *n, void **data)
{
    if (need_inputs(n, 2))
        return CC_ERR_INVALID;
    const g_tensor *tdy = ref_t(g, n->in[0]), *tw = ref_t(g, n->in[1]), *to = ref_t(g, n->out);
    if (ref_need4(n, tdy) || ref_need4(n, tw) || ref_need4(n, to))
        return CC_ERR_SHAPE;
    int64_t N = to->shape[0], C = to->shape[1], O = tw->shape[0];
    if (tw->shape[1] != C || tdy->shape[0] != N || tdy->shape[1] != O)
        return cc_fail(CC_ERR_SHAPE, "conv2d_grad_input: dy '%s' [%lld, %lld, ...], w '%s' [%lld, %lld, ...], output '%s' [%lld, %lld, ...]",
                       tdy->name, (long long)tdy->shape[0], (long long)tdy->shape[1], tw->name, (long long)O,
                       (long long)tw->shape[1], to->name, (long long)N, (long long)C);
    ref_window win = {C, to->shape[2], to->shape[3], tw->shape[2], tw->shape[3], n->attr.stride[0],
                      n->attr.stride[1], n->attr.pad[0], n->attr.pad[1], tdy->shape[2], tdy->shape[3]};
    ref_taps tp;
    int rc = ref_taps_init(&tp, n, &win, tdy->name);
    if (rc)
        return rc;
    int64_t P = tp.P, K = tp.K, plane = C * win.H * win.W;
    const float *dy = data[n->in[0]], *w = data[n->in[1]];
    float *o = data[n->out];
    for (int64_t b = 0; b < N; b++) {
        for (int64_t i = 0; i < P * K; i++)
            tp.rows[i] = 0.0;
        for (int64_t p = 0; p < P; p++)
            for (int64_t oc = 0; oc < O; oc++) {
                double gv = (double)dy[(b * O + oc) * P + p];
                const float *wr = w + oc * K;
                double *row = tp.rows + p * K;
                for (int64_t k = 0; k < K; k++)
                    row[k] += gv * (double)wr[k];
            }
        ref_taps_scatter(&tp, o + b * plane);
    }
    ref_taps_free(&tp);
    return CC_OK;
}

/* dw[o,c,ky,kx] = sum over b, oy, ox of dy[b,o,oy,ox] x[b,c,oy*sh-ph+ky,ox*sw-pw+kx]. */
int ref_conv2d_grad_weight(const graph *g, const g_node *n, void **data)
{
    if (need_inputs(n, 2))
        return CC_ERR_INVALID;
    const g_tensor *tx = ref_t(g, n->in[0]), *tdy = ref_t(g, n->in[1]), *to = ref_t(g, n->out);
    if (ref_need4(n, tx) || ref_need4(n, tdy) || ref_need4(n, to))
        return CC_ERR_SHAPE;
    int64_t N = tx->shape[0], C = tx->shape[1];
    int64_t O = to->shape[0], KH = to->shape[2], KW = to->shape[3];
    int kernel_ok = (n->attr.kernel[0] == 0 || n->attr.kernel[0] == KH) &&
                    (n->attr.kernel[1] == 0 || n->attr.kernel[1] == KW);
    if (to->shape[1] != C || tdy->shape[0] != N || tdy->shape[1] != O || !kernel_ok)
        return cc_fail(CC_ERR_SHAPE, "conv2d_grad_weight: x '%s' [%lld, %lld, ...], dy '%s' [%lld, %lld, ...], output '%s' [%lld, %lld, %lld, %lld], kernel attr %dx%d",
                       tx->name, (long long)N, (long long)C, tdy->name, (long long)tdy->shape[0],
                       (long long)tdy->shape[1], to->name, (long long)O, (long long)to->shape[1],
                       (long long)KH, (long long)KW, n->attr.kernel[0], n->attr.kernel[1]);
    ref_window win = {C, tx->shape[2], tx->shape[3], KH, KW, n->attr.stride[0], n->attr.stride[1],
                      n->attr.pad[0], n->attr.pad[1], tdy->shape[2], tdy->shape[3]};
    ref_taps tp;
    int rc = ref_taps_init(&tp, n, &win, tdy->name);
    if (rc)
        return rc;
    int64_t P = tp.P, K = tp.K;
    double *acc = calloc((size_t)(O * K > 0 ? O * K : 1), sizeof *acc);
    if (!acc) {
        ref_taps_free(&tp);
        return cc_fail(CC_ERR_NOMEM, "conv2d_grad_weight: %lld accumulators for '%s'",
                       (long long)(O * K), to->name);
    }
    const float *x = data[n->in[0]], *dy = data[n->in[1]];
    for (int64_t b = 0; b < N; b++) {
        ref_taps_gather(&tp, x + b * C * win.H * win.W);
        for (int64_t oc = 0; oc < O; oc++)
            for (int64_t p = 0; p < P; p++) {
                double gv = (double)dy[(b * O + oc) * P + p];
                const double *row = tp.rows + p * K;
                double *ar = acc + oc * K;
                for (int64_t k = 0; k < K; k++)
                    ar[k] += gv * row[k];
            }
    }
    float *o = data[n->out];
    for (int64_t i = 0; i < O * K; i++)
        o[i] = (float)acc[i];
    free(acc);
    ref_taps_free(&tp);
    return CC_OK;
}

/* Each dy element spreads dy/(kh*kw) over its window (padded taps fall
 * outside x and are dropped): the forward's sums, scattered. */
int ref_avgpool2d_grad(const graph *g, const g_node *n, void **data)
{
    if (need_inputs(n, 1))
        return CC_ERR_INVALID;
    const g_tensor *tdy = ref_t(g, n->in[0]), *to = ref_t(g, n->out);
    if (ref_need4(n, tdy) || ref_need4(n, to))
        return CC_ERR_SHAPE;
    ref_window win = {1, to->shape[2], to->shape[3], 0, 0, 0, 0, 0, 0, tdy->shape[2], tdy->shape[3]};
    ref_pool_attr(&n->attr, &win.KH, &win.KW, &win.sh, &win.sw, &win.ph, &win.pw);
    int64_t NC = to->shape[0] * to->shape[1], plane = win.H * win.W;
    if (tdy->shape[0] * tdy->shape[1] != NC)
        return cc_fail(CC_ERR_SHAPE, "avgpool2d_grad: dy '%s' and output '%s' differ in N*C",
                       tdy->name, to->name);
    ref_taps tp;
    int rc = ref_taps_init(&tp, n, &win, tdy->name);
    if (rc)
        return rc;
    const float *dy = data[n->in[0]];
    float *o = data[n->out];
    double inv = 1.0 / (double)tp.K;
    for (int64_t pl = 0; pl < NC; pl++) {
        for (int64_t p = 0; p < tp.P; p++)
            for (int64_t k = 0; k < tp.K; k++)
                tp.rows[p * tp.K + k] = (double)dy[pl * tp.P + p] * inv;
        ref_taps_scatter(&tp, o + pl * plane);
    }
    ref_taps_free(&tp);
    return CC_OK;
}
