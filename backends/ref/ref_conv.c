/* Reference spatial ops on NCHW: conv2d (cross-correlation, OIHW weights,
 * zero padding) and avgpool2d (floor mode, count_include_pad), each a dot
 * product over the patch rows of ref_window.c. */
#include "backends/ref/ref_window.h"

int ref_conv2d(const graph *g, const g_node *n, void **data)
{
    const g_tensor *tx = ref_t(g, n->in[0]), *tw = ref_t(g, n->in[1]), *to = ref_t(g, n->out);
    int bias_id = ref_opt_in(n, 2);
    if (ref_need4(n, tx) || ref_need4(n, tw) || ref_need4(n, to))
        return CC_ERR_SHAPE;
    int64_t N = tx->shape[0], C = tx->shape[1], O = tw->shape[0];
    int64_t sh = n->attr.stride[0], sw = n->attr.stride[1];
    if (tw->shape[1] != C || to->shape[0] != N || to->shape[1] != O || sh < 1 || sw < 1)
        return cc_fail(CC_ERR_SHAPE, "conv2d: x '%s' C=%lld, w '%s' I=%lld O=%lld, output '%s' N=%lld C=%lld, stride %lldx%lld",
                       tx->name, (long long)C, tw->name, (long long)tw->shape[1], (long long)O, to->name,
                       (long long)to->shape[0], (long long)to->shape[1], (long long)sh, (long long)sw);
    if (bias_id >= 0 && ref_numel(ref_t(g, bias_id)) != O)
        return cc_fail(CC_ERR_SHAPE, "conv2d: bias '%s' has %lld elements, expected %lld",
                       ref_t(g, bias_id)->name, (long long)ref_numel(ref_t(g, bias_id)), (long long)O);
    ref_window win = {C, tx->shape[2], tx->shape[3], tw->shape[2], tw->shape[3], sh, sw,
                      n->attr.pad[0], n->attr.pad[1], to->shape[2], to->shape[3]};
    ref_taps tp;
    int rc = ref_taps_init(&tp, n, &win, to->name);
    if (rc)
        return rc;
    const float *x = data[n->in[0]], *w = data[n->in[1]];
    const float *bias = bias_id >= 0 ? data[bias_id] : NULL;
    float *o = data[n->out];
    int64_t P = tp.P, K = tp.K, plane = C * win.H * win.W;
    for (int64_t b = 0; b < N; b++) {
        ref_taps_gather(&tp, x + b * plane);
        for (int64_t oc = 0; oc < O; oc++)
            for (int64_t p = 0; p < P; p++) {
                const double *row = tp.rows + p * K;
                const float *wr = w + oc * K;
                double acc = bias ? bias[oc] : 0.0;
                for (int64_t k = 0; k < K; k++)
                    acc += row[k] * (double)wr[k];
                o[(b * O + oc) * P + p] = (float)acc;
            }
    }
    ref_taps_free(&tp);
    return CC_OK;
}

int ref_avgpool2d(const graph *g, const g_node *n, void **data)
{
    const g_tensor *tx = ref_t(g, n->in[0]), *to = ref_t(g, n->out);
    if (ref_need4(n, tx) || ref_need4(n, to))
        return CC_ERR_SHAPE;
    ref_window win = {1, tx->shape[2], tx->shape[3], 0, 0, 0, 0, 0, 0, to->shape[2], to->shape[3]};
    ref_pool_attr(&n->attr, &win.KH, &win.KW, &win.sh, &win.sw, &win.ph, &win.pw);
    int64_t NC = tx->shape[0] * tx->shape[1];
    if (to->shape[0] * to->shape[1] != NC)
        return cc_fail(CC_ERR_SHAPE, "avgpool2d: kernel %lldx%lld stride %lldx%lld on '%s' -> '%s'",
                       (long long)win.KH, (long long)win.KW, (long long)win.sh, (long long)win.sw,
                       tx->name, to->name);
    ref_taps tp;
    int rc = ref_taps_init(&tp, n, &win, to->name);
    if (rc)
        return rc;
    const float *x = data[n->in[0]];
    float *o = data[n->out];
    /* count_include_pad: padded zeros count in the divisor */
    for (int64_t pl = 0; pl < NC; pl++) {
        ref_taps_gather(&tp, x + pl * win.H * win.W);
        for (int64_t p = 0; p < tp.P; p++) {
            double acc = 0.0;
            for (int64_t k = 0; k < tp.K; k++)
                acc += tp.rows[p * tp.K + k];
            o[pl * tp.P + p] = (float)(acc / (double)tp.K);
        }
    }
    ref_taps_free(&tp);
    return CC_OK;
}

