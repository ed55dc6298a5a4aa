/* attention_softmax.cl - the softmax statistics of a row of attention
 * scores, shared by the forward (attention.cl) and backward
 * (attention_grad.cl) kernels: a running max and a running sum of
 * exp(score - max), so a row is normalised without storing all its scores
 * (online) or, with every key in one block, in the plain two passes.
 * Included with `#include "attention_softmax.cl"` (after common.cl, which it
 * also includes: each file is pulled in once).
 *
 * Start a row with mx = -INFINITY, sum = 0. Its first score (or first block)
 * must hold at least one valid key: every row sees key 0 (causal rows too),
 * so both callers' first blocks do. */
#ifndef CLIPCL_ATTENTION_SOFTMAX_CL
#define CLIPCL_ATTENTION_SOFTMAX_CL
#include "common.cl"

/* One more score sc into the running *mx and *sum. Out: *corr, the factor
 * every running accumulator is scaled by, and *p, the new score's weight.
 * One of them is exactly 1: when sc raises the max, corr = exp(old - sc)
 * (0 on the first score: old = -inf) and p = 1; else corr = 1 and
 * p = exp(sc - max). A branch per score, no scores stored. */
static inline void softmax_online_step(const float sc, float *mx, float *sum, float *corr, float *p)
{
    if (sc > *mx) {
        *corr = exp(*mx - sc);
        *p = 1.0f;
        *mx = sc;
    } else {
        *corr = 1.0f;
        *p = exp(sc - *mx);
    }
    *sum = fma(*sum, *corr, *p);
}

/* acc * corr + p * x for the (corr, p) of softmax_online_step, as one fma
 * (one of the two factors is 1, so the other product needs no rounding). */
static inline float softmax_online_fold(const float acc, const float corr, const float p, const float x)
{
    return p == 1.0f ? fma(acc, corr, x) : fma(p, x, acc);
}

/* A block of scores, 16 at a time (vector max and exp): s[0, 16 * nch),
 * masked keys -INFINITY, becomes exp(s - m) with m the new running max, and
 * *mx, *sum move to include the block. Returns corr = exp(old max - m), the
 * factor for accumulators over earlier blocks (0 on the first block, 1 when
 * nothing in this block beats the max). On the first block of a row it is
 * the two-pass softmax: then *sum is the normaliser and *mx + log(*sum) the
 * row's log-sum-exp. */
static inline float softmax_block16(float *s, const int nch, float *mx, float *sum)
{
    float16 m16 = vload16(0, s);
    for (int c = 1; c < nch; c++)
        m16 = fmax(m16, vload16(c, s));
    const float mnew = fmax(*mx, hmax16(m16));
    /* no exp on a row's first block: one scalar exp per row and block was
     * measured at ~10% of attention_cpu on PoCL (a libm call per row) */
    const float corr = *mx == -INFINITY ? 0.0f : exp(*mx - mnew);
    float16 ps = (float16)(0.0f);
    for (int c = 0; c < nch; c++) {
        const float16 e = exp(vload16(c, s) - mnew);
        vstore16(e, c, s);
        ps += e;
    }
    *sum = fma(*sum, corr, hsum16(ps));
    *mx = mnew;
    return corr;
}

#endif /* CLIPCL_ATTENTION_SOFTMAX_CL */
