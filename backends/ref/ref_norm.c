/* Reference row-wise normalisations: softmax, layernorm, batchnorm, l2norm. */
#include <math.h>

#include "backends/ref/ref_ops.h"

static int same_numel(const g_node *n, const g_tensor *x, const g_tensor *o)
{
    if (ref_numel(x) != ref_numel(o))
        return cc_fail(CC_ERR_SHAPE, "%s: input '%s' has %lld elements, output '%s' %lld",
                       g_op_name(n->op), x->name, (long long)ref_numel(x), o->name, (long long)ref_numel(o));
    return CC_OK;
}

int ref_softmax(const graph *g, const g_node *n, void **data)
{
    int rc = same_numel(n, ref_t(g, n->in[0]), ref_t(g, n->out));
    if (rc)
        return rc;
    const g_tensor *tx = ref_t(g, n->in[0]);
    int64_t D = ref_last_dim(tx), R = ref_rows(tx);
    int64_t T = tx->ndim >= 2 ? tx->shape[tx->ndim - 2] : 1;
    const float *x = data[n->in[0]];
    float *o = data[n->out];
    for (int64_t r = 0; r < R; r++) {
        const float *xr = x + r * D;
        float *orow = o + r * D;
        /* causal: row i (index in dim -2) sees columns 0..i */
        int64_t lim = n->attr.causal ? (r % T) + 1 : D;
        if (lim > D)
            lim = D;
        double mx = -INFINITY, s = 0.0;
        for (int64_t j = 0; j < lim; j++)
            mx = xr[j] > mx ? xr[j] : mx;
        for (int64_t j = 0; j < lim; j++)
            s += exp((double)xr[j] - mx);
        for (int64_t j = 0; j < D; j++)
            orow[j] = j < lim ? (float)(exp((double)xr[j] - mx) / s) : 0.0f;
    }
    return CC_OK;
}

static int check_vec(const g_node *n, const g_tensor *t, int64_t want)
{
    if (ref_numel(t) != want)
        return cc_fail(CC_ERR_SHAPE, "%s: '%s' has %lld elements, expected %lld",
                       g_op_name(n->op), t->name, (long long)ref_numel(t), (long long)want);
    return CC_OK;
}

int ref_layernorm(const graph *g, const g_node *n, void **data)
{
    int rc = same_numel(n, ref_t(g, n->in[0]), ref_t(g, n->out));
    if (rc)
        return rc;
    const g_tensor *tx = ref_t(g, n->in[0]);
    int64_t D = ref_last_dim(tx), R = ref_rows(tx);
    int gid = ref_opt_in(n, 1), bid = ref_opt_in(n, 2);
    if (gid >= 0 && check_vec(n, ref_t(g, gid), D))
        return CC_ERR_SHAPE;
    if (bid >= 0 && check_vec(n, ref_t(g, bid), D))
        return CC_ERR_SHAPE;
    const float *x = data[n->in[0]];
    const float *gamma = gid >= 0 ? data[gid] : NULL, *beta = bid >= 0 ? data[bid] : NULL;
    float *o = data[n->out];
    for (int64_t r = 0; r < R; r++) {
        const float *xr = x + r * D;
        double mean = 0.0, var = 0.0;
        for (int64_t j = 0; j < D; j++)
            mean += xr[j];
        mean /= (double)D;
        for (int64_t j = 0; j < D; j++)
            var += ((double)xr[j] - mean) * ((double)xr[j] - mean);
        var /= (double)D; /* biased, as PyTorch */
        double inv = 1.0 / sqrt(var + (double)n->attr.eps);
        for (int64_t j = 0; j < D; j++) {
            double y = ((double)xr[j] - mean) * inv;
            if (gamma)
                y *= gamma[j];
            if (beta)
                y += beta[j];
            o[r * D + j] = (float)y;
        }
    }
    return CC_OK;
}

int ref_batchnorm(const graph *g, const g_node *n, void **data)
{
    int rc = same_numel(n, ref_t(g, n->in[0]), ref_t(g, n->out));
    if (rc)
        return rc;
    const g_tensor *tx = ref_t(g, n->in[0]);
    if (tx->ndim < 2 || n->n_in < 5)
        return cc_fail(CC_ERR_SHAPE, "batchnorm: x '%s' needs >= 2 dims and 5 inputs (has %d dims, %d inputs)",
                       tx->name, tx->ndim, n->n_in);
    int64_t N = tx->shape[0], C = tx->shape[1], inner = 1;
    for (int i = 2; i < tx->ndim; i++)
        inner *= tx->shape[i];
    for (int k = 1; k < 5; k++)
        if (check_vec(n, ref_t(g, n->in[k]), C))
            return CC_ERR_SHAPE;
    const float *x = data[n->in[0]], *gamma = data[n->in[1]], *beta = data[n->in[2]];
    const float *mean = data[n->in[3]], *var = data[n->in[4]];
    float *o = data[n->out];
    for (int64_t b = 0; b < N; b++)
        for (int64_t c = 0; c < C; c++) {
            double inv = 1.0 / sqrt((double)var[c] + (double)n->attr.eps);
            int64_t base = (b * C + c) * inner;
            for (int64_t i = 0; i < inner; i++)
                o[base + i] = (float)(((double)x[base + i] - mean[c]) * inv * gamma[c] + beta[c]);
        }
    return CC_OK;
}

int ref_l2norm(const graph *g, const g_node *n, void **data)
{
    int rc = same_numel(n, ref_t(g, n->in[0]), ref_t(g, n->out));
    if (rc)
        return rc;
    const g_tensor *tx = ref_t(g, n->in[0]);
    int64_t D = ref_last_dim(tx), R = ref_rows(tx);
    const float *x = data[n->in[0]];
    float *o = data[n->out];
    for (int64_t r = 0; r < R; r++) {
        double ss = 0.0;
        for (int64_t j = 0; j < D; j++)
            ss += (double)x[r * D + j] * x[r * D + j];
        double den = sqrt(ss);
        if (den < (double)n->attr.eps)
            den = n->attr.eps; /* F.normalize: x / max(||x||, eps) */
        for (int64_t j = 0; j < D; j++)
            o[r * D + j] = (float)(x[r * D + j] / den);
    }
    return CC_OK;
}

