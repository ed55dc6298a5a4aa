/* Reference backward of multi-head attention (layout as ref_attention.c:
 * q [B,T,C], k/v [B,S,C], head i = channels [i*d, (i+1)*d)). Per head, with
 * P = softmax(q k^T / sqrt(d) [+ causal mask]) and dO the output gradient:
 *   dV = P^T dO,  dP = dO V^T,  dS = P * (dP - rowsum(dP * P)),
 *   dQ = dS K / sqrt(d),  dK = dS^T Q / sqrt(d).
 * One node yields one of dq, dk, dv (attr which), recomputing P each time. */
#include <math.h>
#include <stdlib.h>

#include "backends/ref/ref_ops.h"

typedef struct head_view {
    const float *q, *k, *v, *dout;
    int64_t T, S, C, d, off_q, off_kv; /* element offsets of this (batch, head) */
} head_view;

/* Fills P (T x S, zero where masked) and dS for one head. */
static void probs_and_dscores(const head_view *hv, int causal, double scale, double *P, double *dS)
{
    int64_t T = hv->T, S = hv->S, C = hv->C, d = hv->d;
    for (int64_t t = 0; t < T; t++) {
        double *pr = P + t * S, *dr = dS + t * S;
        const float *qr = hv->q + hv->off_q + t * C;
        const float *gr = hv->dout + hv->off_q + t * C;
        int64_t lim = ref_attn_probs(qr, hv->k + hv->off_kv, C, d, S, causal, t, scale, pr);
        double dot = 0.0;
        for (int64_t s = 0; s < S; s++)
            dr[s] = 0.0;
        for (int64_t s = 0; s < lim; s++) {
            const float *vr = hv->v + hv->off_kv + s * C;
            double dp = 0.0;
            for (int64_t c = 0; c < d; c++)
                dp += (double)gr[c] * vr[c];
            dr[s] = dp; /* dP for now */
            dot += dp * pr[s];
        }
        for (int64_t s = 0; s < lim; s++)
            dr[s] = pr[s] * (dr[s] - dot);
    }
}

static void head_grad(const head_view *hv, int which, double scale, const double *P,
                      const double *dS, float *o)
{
    int64_t T = hv->T, S = hv->S, C = hv->C, d = hv->d;
    if (which == 0) {
        for (int64_t t = 0; t < T; t++)
            for (int64_t c = 0; c < d; c++) {
                double acc = 0.0;
                for (int64_t s = 0; s < S; s++)
                    acc += dS[t * S + s] * hv->k[hv->off_kv + s * C + c];
                o[hv->off_q + t * C + c] = (float)(acc * scale);
            }
        return;
    }
    for (int64_t s = 0; s < S; s++)
        for (int64_t c = 0; c < d; c++) {
            double acc = 0.0;
            for (int64_t t = 0; t < T; t++)
                acc += which == 1 ? dS[t * S + s] * hv->q[hv->off_q + t * C + c]
                                  : P[t * S + s] * hv->dout[hv->off_q + t * C + c];
            o[hv->off_kv + s * C + c] = (float)(which == 1 ? acc * scale : acc);
        }
}

static int check_shapes(const graph *g, const g_node *n)
{
    if (n->n_in < 4)
        return cc_fail(CC_ERR_INVALID, "attention_grad: needs q, k, v, dout, has %d inputs", n->n_in);
    const g_tensor *tq = ref_t(g, n->in[0]), *tk = ref_t(g, n->in[1]), *tv = ref_t(g, n->in[2]);
    const g_tensor *td = ref_t(g, n->in[3]), *to = ref_t(g, n->out);
    int which = n->attr.which;
    if (which < 0 || which > 2)
        return cc_fail(CC_ERR_INVALID, "attention_grad: which = %d, expected 0 (dq), 1 (dk) or 2 (dv)", which);
    const g_tensor *like = which == 0 ? tq : which == 1 ? tk : tv;
    int ok = tq->ndim == 3 && tk->ndim == 3 && tv->ndim == 3 && td->ndim == 3 && to->ndim == 3;
    for (int i = 0; ok && i < 3; i++)
        ok = tk->shape[i] == tv->shape[i] && td->shape[i] == tq->shape[i] && to->shape[i] == like->shape[i];
    int64_t h = n->attr.heads;
    ok = ok && tk->shape[0] == tq->shape[0] && tk->shape[2] == tq->shape[2] && h >= 1 && tq->shape[2] % h == 0;
    if (!ok)
        return cc_fail(CC_ERR_SHAPE, "attention_grad: %lld heads, q '%s', k '%s', v '%s', dout '%s', output '%s' (which %d): "
                       "expected q and dout [B, T, C], k and v [B, S, C], output shaped like input %d",
                       (long long)h, tq->name, tk->name, tv->name, td->name, to->name, which, which);
    return CC_OK;
}

int ref_attention_grad(const graph *g, const g_node *n, void **data)
{
    int rc = check_shapes(g, n);
    if (rc)
        return rc;
    const g_tensor *tq = ref_t(g, n->in[0]), *tk = ref_t(g, n->in[1]);
    int64_t B = tq->shape[0], T = tq->shape[1], C = tq->shape[2], S = tk->shape[1];
    int64_t h = n->attr.heads, d = C / h;
    double scale = 1.0 / sqrt((double)d);
    size_t cells = (size_t)(T * S > 0 ? T * S : 1);
    double *P = malloc(cells * sizeof *P), *dS = malloc(cells * sizeof *dS);
    if (!P || !dS) {
        free(P);
        free(dS);
        return cc_fail(CC_ERR_NOMEM, "attention_grad: two %lldx%lld score matrices for '%s'",
                       (long long)T, (long long)S, ref_t(g, n->out)->name);
    }
    head_view hv = {data[n->in[0]], data[n->in[1]], data[n->in[2]], data[n->in[3]], T, S, C, d, 0, 0};
    for (int64_t b = 0; b < B; b++)
        for (int64_t hi = 0; hi < h; hi++) {
            hv.off_q = b * T * C + hi * d;
            hv.off_kv = b * S * C + hi * d;
            probs_and_dscores(&hv, n->attr.causal, scale, P, dS);
            head_grad(&hv, n->attr.which, scale, P, dS, data[n->out]);
        }
    free(P);
    free(dS);
    return CC_OK;
}
