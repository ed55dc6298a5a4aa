/* Reference training BatchNorm: the batch moments (bn_stats), the
 * normalisation with them (bn_train) and its backward ops (bn_grad_sums,
 * bn_grad_x). x is [N, C, inner...]; every sum is in double. The moments
 * are two passes (mean, then the mean squared deviation), the textbook form,
 * independent of the kernel's. */
#include <math.h>

#include "backends/ref/ref_ops.h"

typedef struct bn_geom {
    int64_t N, C, inner;
} bn_geom;

static int geom(const graph *g, const g_node *n, bn_geom *s)
{
    const g_tensor *tx = ref_t(g, n->in[0]);
    if (tx->ndim < 2)
        return cc_fail(CC_ERR_SHAPE, "%s: x '%s' needs >= 2 dims", g_op_name(n->op), tx->name);
    s->N = tx->shape[0], s->C = tx->shape[1], s->inner = 1;
    for (int i = 2; i < tx->ndim; i++)
        s->inner *= tx->shape[i];
    return CC_OK;
}

static const float *at(const bn_geom *s, const float *p, int64_t b, int64_t c)
{
    return p + (b * s->C + c) * s->inner;
}

static double rstd_of(const float *stats, int64_t C, int64_t c, float eps)
{
    return 1.0 / sqrt((double)stats[C + c] + (double)eps);
}

int ref_bn_stats(const graph *g, const g_node *n, void **data)
{
    bn_geom s = {0, 0, 0};
    int rc = geom(g, n, &s);
    if (rc)
        return rc;
    const float *x = data[n->in[0]];
    float *o = data[n->out];
    double cnt = (double)(s.N * s.inner);
    for (int64_t c = 0; c < s.C; c++) {
        double sum = 0.0, ss = 0.0;
        for (int64_t b = 0; b < s.N; b++)
            for (int64_t i = 0; i < s.inner; i++)
                sum += at(&s, x, b, c)[i];
        double mean = sum / cnt;
        for (int64_t b = 0; b < s.N; b++)
            for (int64_t i = 0; i < s.inner; i++) {
                double d = at(&s, x, b, c)[i] - mean;
                ss += d * d;
            }
        o[c] = (float)mean;
        o[s.C + c] = (float)(ss / cnt);
    }
    return CC_OK;
}

int ref_bn_train(const graph *g, const g_node *n, void **data)
{
    bn_geom s = {0, 0, 0};
    int rc = geom(g, n, &s);
    if (rc)
        return rc;
    const float *x = data[n->in[0]], *gamma = data[n->in[1]], *beta = data[n->in[2]], *st = data[n->in[3]];
    float *o = data[n->out];
    for (int64_t c = 0; c < s.C; c++) {
        double r = rstd_of(st, s.C, c, n->attr.eps);
        for (int64_t b = 0; b < s.N; b++) {
            const float *xr = at(&s, x, b, c);
            float *orow = o + (b * s.C + c) * s.inner;
            for (int64_t i = 0; i < s.inner; i++)
                orow[i] = (float)(((double)xr[i] - st[c]) * r * gamma[c] + beta[c]);
        }
    }
    return CC_OK;
}

int ref_bn_grad_sums(const graph *g, const g_node *n, void **data)
{
    bn_geom s = {0, 0, 0};
    int rc = geom(g, n, &s);
    if (rc)
        return rc;
    const float *x = data[n->in[0]], *st = data[n->in[1]], *dy = data[n->in[2]];
    float *o = data[n->out];
    for (int64_t c = 0; c < s.C; c++) {
        double r = rstd_of(st, s.C, c, n->attr.eps), s0 = 0.0, s1 = 0.0;
        for (int64_t b = 0; b < s.N; b++) {
            const float *xr = at(&s, x, b, c), *dr = at(&s, dy, b, c);
            for (int64_t i = 0; i < s.inner; i++) {
                s0 += dr[i];
                s1 += (double)dr[i] * ((double)xr[i] - st[c]) * r;
            }
        }
        o[c] = (float)s0;
        o[s.C + c] = (float)s1;
    }
    return CC_OK;
}

int ref_bn_grad_x(const graph *g, const g_node *n, void **data)
{
    bn_geom s = {0, 0, 0};
    int rc = geom(g, n, &s);
    if (rc)
        return rc;
    const float *x = data[n->in[0]], *gamma = data[n->in[1]], *st = data[n->in[2]];
    const float *dy = data[n->in[3]], *sums = data[n->in[4]];
    float *o = data[n->out];
    double cnt = (double)(s.N * s.inner);
    for (int64_t c = 0; c < s.C; c++) {
        double r = rstd_of(st, s.C, c, n->attr.eps), k = gamma[c] * r;
        double m0 = sums[c] / cnt, m1 = sums[s.C + c] / cnt;
        for (int64_t b = 0; b < s.N; b++) {
            const float *xr = at(&s, x, b, c), *dr = at(&s, dy, b, c);
            float *orow = o + (b * s.C + c) * s.inner;
            for (int64_t i = 0; i < s.inner; i++) {
                double xh = ((double)xr[i] - st[c]) * r;
                orow[i] = (float)(k * ((double)dr[i] - m0 - xh * m1));
            }
        }
    }
    return CC_OK;
}
