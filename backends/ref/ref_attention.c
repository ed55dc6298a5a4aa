/* Reference multi-head attention: q [B,T,C], k/v [B,S,C], h heads of d = C/h
 * channels (head i = channels [i*d, (i+1)*d)); per head
 * softmax(q k^T / sqrt(d) [+ causal mask]) v, heads written back into C. */
#include <math.h>
#include <stdlib.h>

#include "backends/ref/ref_ops.h"

int64_t ref_attn_probs(const float *qr, const float *k, int64_t ldk, int64_t d, int64_t S,
                       int causal, int64_t t, double scale, double *p)
{
    int64_t lim = causal ? (t + 1 < S ? t + 1 : S) : S;
    double mx = -INFINITY, sum = 0.0;
    for (int64_t s = 0; s < lim; s++) {
        const float *kr = k + s * ldk;
        double acc = 0.0;
        for (int64_t c = 0; c < d; c++)
            acc += (double)qr[c] * kr[c];
        p[s] = acc * scale;
        mx = p[s] > mx ? p[s] : mx;
    }
    for (int64_t s = 0; s < lim; s++) {
        p[s] = exp(p[s] - mx);
        sum += p[s];
    }
    for (int64_t s = 0; s < lim; s++)
        p[s] /= sum;
    for (int64_t s = lim; s < S; s++)
        p[s] = 0.0;
    return lim;
}

int ref_attention(const graph *g, const g_node *n, void **data)
{
    const g_tensor *tq = ref_t(g, n->in[0]), *tk = ref_t(g, n->in[1]), *tv = ref_t(g, n->in[2]);
    const g_tensor *to = ref_t(g, n->out);
    if (tq->ndim != 3 || tk->ndim != 3 || tv->ndim != 3 || to->ndim != 3)
        return cc_fail(CC_ERR_SHAPE, "attention: q '%s', k '%s', v '%s', out '%s' must all be 3-D",
                       tq->name, tk->name, tv->name, to->name);
    int64_t B = tq->shape[0], T = tq->shape[1], C = tq->shape[2], S = tk->shape[1];
    int64_t h = n->attr.heads;
    int ok = h >= 1 && C % h == 0;
    for (int i = 0; i < 3; i++)
        ok = ok && tk->shape[i] == tv->shape[i] && to->shape[i] == tq->shape[i];
    if (!ok || tk->shape[0] != B || tk->shape[2] != C)
        return cc_fail(CC_ERR_SHAPE, "attention: %lld heads with q '%s' [%lld, %lld, %lld], k '%s' and v '%s' must be [%lld, S, %lld]",
                       (long long)h, tq->name, (long long)B, (long long)T, (long long)C, tk->name, tv->name,
                       (long long)B, (long long)C);
    int64_t d = C / h;
    double scale = 1.0 / sqrt((double)d);
    const float *q = data[n->in[0]], *k = data[n->in[1]], *v = data[n->in[2]];
    float *o = data[n->out];
    double *w = malloc((size_t)(S > 0 ? S : 1) * sizeof *w);
    if (!w)
        return cc_fail(CC_ERR_NOMEM, "attention: %lld score row for '%s'", (long long)S, to->name);
    for (int64_t b = 0; b < B; b++)
        for (int64_t hi = 0; hi < h; hi++)
            for (int64_t t = 0; t < T; t++) {
                int64_t lim = ref_attn_probs(q + (b * T + t) * C + hi * d, k + b * S * C + hi * d, C,
                                             d, S, n->attr.causal, t, scale, w);
                for (int64_t c = 0; c < d; c++) {
                    double acc = 0.0;
                    for (int64_t s = 0; s < lim; s++)
                        acc += w[s] * v[(b * S + s) * C + hi * d + c];
                    o[(b * T + t) * C + hi * d + c] = (float)acc;
                }
            }
    free(w);
    return CC_OK;
}
