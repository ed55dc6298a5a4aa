/* Reference backward of the row-wise normalisations over the last dim:
 * softmax (from its output y), layernorm (x and gamma; mean and rstd are
 * recomputed with the biased variance, as PyTorch) and l2norm with the
 * max(||x||, eps) clamp of F.normalize. */
#include <math.h>
#include <stdlib.h>

#include "backends/ref/ref_ops.h"

static int same_count(const g_node *n, const g_tensor *a, const g_tensor *o)
{
    if (ref_numel(a) != ref_numel(o) || ref_last_dim(a) != ref_last_dim(o))
        return cc_fail(CC_ERR_SHAPE, "%s: '%s' (%lld elements, last dim %lld) does not match output '%s' (%lld, %lld)",
                       g_op_name(n->op), a->name, (long long)ref_numel(a), (long long)ref_last_dim(a),
                       o->name, (long long)ref_numel(o), (long long)ref_last_dim(o));
    return CC_OK;
}

static int need_inputs(const g_node *n, int k)
{
    if (n->n_in < k)
        return cc_fail(CC_ERR_INVALID, "%s: needs %d inputs, has %d", g_op_name(n->op), k, n->n_in);
    return CC_OK;
}

/* Masked (causal) positions have y = 0, so they get dx = 0 with no mask. */
int ref_softmax_grad(const graph *g, const g_node *n, void **data)
{
    const g_tensor *to = ref_t(g, n->out);
    if (need_inputs(n, 2) || same_count(n, ref_t(g, n->in[0]), to) || same_count(n, ref_t(g, n->in[1]), to))
        return CC_ERR_SHAPE;
    int64_t D = ref_last_dim(to), R = ref_rows(to);
    const float *y = data[n->in[0]], *dy = data[n->in[1]];
    float *o = data[n->out];
    for (int64_t r = 0; r < R; r++) {
        const float *yr = y + r * D, *dr = dy + r * D;
        double dot = 0.0;
        for (int64_t j = 0; j < D; j++)
            dot += (double)dr[j] * yr[j];
        for (int64_t j = 0; j < D; j++)
            o[r * D + j] = (float)((double)yr[j] * ((double)dr[j] - dot));
    }
    return CC_OK;
}

static void row_stats(const float *xr, int64_t D, double eps, double *mean, double *rstd)
{
    double m = 0.0, v = 0.0;
    for (int64_t j = 0; j < D; j++)
        m += xr[j];
    m /= (double)D;
    for (int64_t j = 0; j < D; j++)
        v += ((double)xr[j] - m) * ((double)xr[j] - m);
    *mean = m;
    *rstd = 1.0 / sqrt(v / (double)D + eps);
}

/* dx = rstd * (g dy - mean(g dy) - xhat * mean(g dy xhat)), g = gamma. */
int ref_layernorm_grad_x(const graph *g, const g_node *n, void **data)
{
    const g_tensor *tx = ref_t(g, n->in[0]), *to = ref_t(g, n->out);
    if (need_inputs(n, 3) || same_count(n, tx, to) || same_count(n, ref_t(g, n->in[2]), to))
        return CC_ERR_SHAPE;
    int64_t D = ref_last_dim(tx), R = ref_rows(tx);
    int gid = n->in[1];
    if (gid >= 0 && ref_numel(ref_t(g, gid)) != D)
        return cc_fail(CC_ERR_SHAPE, "layernorm_grad_x: gamma '%s' has %lld elements, expected %lld",
                       ref_t(g, gid)->name, (long long)ref_numel(ref_t(g, gid)), (long long)D);
    const float *x = data[n->in[0]], *gamma = gid >= 0 ? data[gid] : NULL, *dy = data[n->in[2]];
    float *o = data[n->out];
    for (int64_t r = 0; r < R; r++) {
        const float *xr = x + r * D, *dr = dy + r * D;
        double mean, rstd, s1 = 0.0, s2 = 0.0;
        row_stats(xr, D, n->attr.eps, &mean, &rstd);
        for (int64_t j = 0; j < D; j++) {
            double gd = (double)dr[j] * (gamma ? gamma[j] : 1.0);
            s1 += gd;
            s2 += gd * ((double)xr[j] - mean) * rstd;
        }
        s1 /= (double)D;
        s2 /= (double)D;
        for (int64_t j = 0; j < D; j++) {
            double gd = (double)dr[j] * (gamma ? gamma[j] : 1.0);
            double xhat = ((double)xr[j] - mean) * rstd;
            o[r * D + j] = (float)(rstd * (gd - s1 - xhat * s2));
        }
    }
    return CC_OK;
}

int ref_layernorm_grad_gamma(const graph *g, const g_node *n, void **data)
{
    if (need_inputs(n, 2))
        return CC_ERR_INVALID;
    const g_tensor *tx = ref_t(g, n->in[0]), *td = ref_t(g, n->in[1]), *to = ref_t(g, n->out);
    int64_t D = ref_last_dim(tx), R = ref_rows(tx);
    if (ref_numel(td) != ref_numel(tx) || ref_numel(to) != D)
        return cc_fail(CC_ERR_SHAPE, "layernorm_grad_gamma: x '%s' (%lld), dy '%s' (%lld), output '%s' must have %lld elements",
                       tx->name, (long long)ref_numel(tx), td->name, (long long)ref_numel(td), to->name, (long long)D);
    const float *x = data[n->in[0]], *dy = data[n->in[1]];
    float *o = data[n->out];
    double *acc = calloc((size_t)(D > 0 ? D : 1), sizeof *acc);
    if (!acc)
        return cc_fail(CC_ERR_NOMEM, "layernorm_grad_gamma: %lld accumulators for '%s'", (long long)D, to->name);
    for (int64_t r = 0; r < R; r++) {
        double mean, rstd;
        row_stats(x + r * D, D, n->attr.eps, &mean, &rstd);
        for (int64_t j = 0; j < D; j++)
            acc[j] += (double)dy[r * D + j] * ((double)x[r * D + j] - mean) * rstd;
    }
    for (int64_t j = 0; j < D; j++)
        o[j] = (float)acc[j];
    free(acc);
    return CC_OK;
}

/* Above the clamp: dx = dy/|x| - x (x.dy)/|x|^3. Below it the denominator
 * is the constant eps: dx = dy/eps. At |x| == eps PyTorch's clamp_min
 * passes the gradient (self >= min), so the norm branch is taken. */
int ref_l2norm_grad(const graph *g, const g_node *n, void **data)
{
    const g_tensor *tx = ref_t(g, n->in[0]), *to = ref_t(g, n->out);
    if (need_inputs(n, 2) || same_count(n, tx, to) || same_count(n, ref_t(g, n->in[1]), to))
        return CC_ERR_SHAPE;
    int64_t D = ref_last_dim(tx), R = ref_rows(tx);
    const float *x = data[n->in[0]], *dy = data[n->in[1]];
    float *o = data[n->out];
    double eps = n->attr.eps;
    for (int64_t r = 0; r < R; r++) {
        const float *xr = x + r * D, *dr = dy + r * D;
        double ss = 0.0, dot = 0.0;
        for (int64_t j = 0; j < D; j++) {
            ss += (double)xr[j] * xr[j];
            dot += (double)xr[j] * dr[j];
        }
        double nrm = sqrt(ss);
        int active = nrm >= eps;
        double den = active ? nrm : eps;
        /* PyTorch's norm backward masks |x| == 0 to a zero gradient */
        double k = active && nrm > 0.0 ? dot / (nrm * nrm * nrm) : 0.0;
        for (int64_t j = 0; j < D; j++)
            o[r * D + j] = (float)((double)dr[j] / den - (double)xr[j] * k);
    }
    return CC_OK;
}

