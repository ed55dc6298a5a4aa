/* attention_cpu.cl - multi-head attention for CPU-class devices (PoCL):
 * q [B,T,C], k/v [B,S,C], head h = channels [h*HD, (h+1)*HD), per head
 * out = softmax(q k^T * scale [+ causal mask]) v. Same semantics as
 * attention.cl and backends/ref.
 *
 * One work-item (work-group size 1) per (tile of TQ query rows, head,
 * batch). The head dim is held in float16 vectors (HD % 16 == 0), so the
 * work-item itself is SIMD code and PoCL has nothing to vectorise across
 * work-items (which, with per-item private arrays and a data-dependent
 * branch, is what made the one-row-per-item kernel slow on PoCL). Each K and
 * V row loaded is used for TQ query rows. The S scores of a row are kept in a
 * private array of SMAX floats (SMAX >= S, a build option), so the softmax is
 * the plain two-pass one (max, exp and sum, then the weighted sum of V) and
 * runs 16 keys at a time: a scalar exp per score cost more than the dot
 * products.
 *
 * Build options: -DHD=<head dim, multiple of 16> -DSMAX=<multiple of 16, >= S>
 * -DTQ=<rows per work-item>. */
#ifndef HD
#define HD 64
#endif
#ifndef SMAX
#define SMAX 80
#endif
#ifndef TQ
#define TQ 4
#endif
#define NV (HD / 16)

static inline float hsum16(float16 v)
{
    float8 a = v.lo + v.hi;
    float4 b = a.lo + a.hi;
    float2 c = b.lo + b.hi;
    return c.x + c.y;
}

__kernel void attention_cpu(__global const float *restrict q, __global const float *restrict k,
                            __global const float *restrict v, __global float *restrict out,
                            const int T, const int S, const int C, const int causal, const float scale)
{
    const int t0 = get_global_id(0) * TQ;
    const int h = get_global_id(1);
    const long b = get_global_id(2);
    __global const float *kb = k + b * S * C + h * HD;
    __global const float *vb = v + b * S * C + h * HD;
    const int nr = min(TQ, T - t0);

    float16 qr[TQ][NV];
#pragma unroll
    for (int r = 0; r < TQ; r++) {
        /* rows past T repeat the last valid one: computed, never stored */
        __global const float *src = q + (b * T + t0 + min(r, nr - 1)) * C + h * HD;
#pragma unroll
        for (int j = 0; j < NV; j++)
            qr[r][j] = vload16(j, src) * scale;
    }

    /* keys any row of the tile can see */
    const int lim = causal ? min(t0 + nr, S) : S;
    float sc[TQ][SMAX];
    for (int s = 0; s < lim; s++) {
        __global const float *kr = kb + (long)s * C;
        float16 kv[NV];
#pragma unroll
        for (int j = 0; j < NV; j++)
            kv[j] = vload16(j, kr);
#pragma unroll
        for (int r = 0; r < TQ; r++) {
            float16 p = qr[r][0] * kv[0];
#pragma unroll
            for (int j = 1; j < NV; j++)
                p = fma(qr[r][j], kv[j], p);
            sc[r][s] = hsum16(p);
        }
    }

    /* softmax over 16 keys at a time (vector exp): keys past lim and, for
     * causal rows, past the row's own position score -inf and weigh 0 */
    const int nch = (lim + 15) / 16;
    float inv[TQ];
#pragma unroll
    for (int r = 0; r < TQ; r++) {
        const int n = causal ? min(t0 + r + 1, lim) : lim;
        for (int s = n; s < nch * 16; s++)
            sc[r][s] = -INFINITY;
        float16 m16 = vload16(0, sc[r]);
        for (int c = 1; c < nch; c++)
            m16 = fmax(m16, vload16(c, sc[r]));
        float8 m8 = fmax(m16.lo, m16.hi);
        float4 m4 = fmax(m8.lo, m8.hi);
        float2 m2 = fmax(m4.lo, m4.hi);
        const float mx = fmax(m2.x, m2.y);
        float16 sum = (float16)(0.0f);
        for (int c = 0; c < nch; c++) {
            const float16 e = exp(vload16(c, sc[r]) - mx);
            vstore16(e, c, sc[r]);
            sum += e;
        }
        inv[r] = 1.0f / hsum16(sum);
    }

    float16 acc[TQ][NV];
#pragma unroll
    for (int r = 0; r < TQ; r++)
#pragma unroll
        for (int j = 0; j < NV; j++)
            acc[r][j] = (float16)(0.0f);
    for (int s = 0; s < lim; s++) {
        __global const float *vr = vb + (long)s * C;
        float16 vv[NV];
#pragma unroll
        for (int j = 0; j < NV; j++)
            vv[j] = vload16(j, vr);
#pragma unroll
        for (int r = 0; r < TQ; r++)
#pragma unroll
            for (int j = 0; j < NV; j++)
                acc[r][j] = fma((float16)(sc[r][s]), vv[j], acc[r][j]);
    }
#pragma unroll
    for (int r = 0; r < TQ; r++) {
        if (r < nr) {
            __global float *o = out + (b * T + t0 + r) * C + h * HD;
#pragma unroll
            for (int j = 0; j < NV; j++)
                vstore16(acc[r][j] * inv[r], j, o);
        }
    }
}
