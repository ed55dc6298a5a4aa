/* attention.cl - fused multi-head attention: q [B,T,C], k/v [B,S,C], heads
 * of HD = C/heads channels (head i = channels [i*HD, (i+1)*HD)); per head
 * out = softmax(q k^T * scale [+ causal mask]) v, scale = 1/sqrt(HD).
 *
 * CPU-class variant: one work-item per (query row, head, batch), no local
 * memory. The softmax is computed online (running max and sum, the
 * accumulator rescaled when the max grows), so the S scores are never
 * stored and any S works in one pass over K and V.
 *
 * A variant with 4 query rows per work-item sharing each K/V load and the
 * scores in a private [4][S] array (two-pass softmax, no per-key branch) was
 * measured: the same CPU time as this one on the ViT and text shapes, so it
 * was not kept (docs/gemm.md).
 *
 * Build options: -DHD=<head dim> (the private row arrays are sized by it). */
#ifndef HD
#define HD 64
#endif

__kernel void attention_rows(__global const float *restrict q, __global const float *restrict k,
                             __global const float *restrict v, __global float *restrict out,
                             const int T, const int S, const int C, const int causal, const float scale)
{
    const int t = get_global_id(0);
    const int h = get_global_id(1);
    const long b = get_global_id(2);
    __global const float *qr = q + (b * T + t) * C + h * HD;
    __global const float *kb = k + b * S * C + h * HD;
    __global const float *vb = v + b * S * C + h * HD;
    float qs[HD], acc[HD];
    /* fold the scale into q once instead of into every score */
    for (int c = 0; c < HD; c++) {
        qs[c] = qr[c] * scale;
        acc[c] = 0.0f;
    }
    const int lim = causal ? min(t + 1, S) : S;
    float mx = -INFINITY, sum = 0.0f;
    for (int s = 0; s < lim; s++) {
        __global const float *kr = kb + (long)s * C;
        float sc = 0.0f;
        for (int c = 0; c < HD; c++)
            sc = fma(qs[c], kr[c], sc);
        __global const float *vr = vb + (long)s * C;
        if (sc > mx) {
            const float corr = exp(mx - sc); /* 0 on the first key: mx = -inf */
            sum = sum * corr + 1.0f;
            for (int c = 0; c < HD; c++)
                acc[c] = fma(acc[c], corr, vr[c]);
            mx = sc;
        } else {
            const float p = exp(sc - mx);
            sum += p;
            for (int c = 0; c < HD; c++)
                acc[c] = fma(p, vr[c], acc[c]);
        }
    }
    __global float *o = out + (b * T + t) * C + h * HD;
    const float inv = 1.0f / sum;
    for (int c = 0; c < HD; c++)
        o[c] = acc[c] * inv;
}

/* Block-online variant for CPU-class devices (attention_blk): one work-item
 * (local size 1) per (TQ query rows, head, batch); the head dim in VW-wide
 * vectors (VW = 16, 8 or 4 dividing HD), so the work-item itself is SIMD code
 * and each K/V row loaded serves TQ query rows. Keys go in blocks of KB: the
 * block's scores sit in a private [TQ][16] array, the running max moves once
 * per block (accumulator and sum rescaled once per block, not per key) and
 * the block's exps are vector exps. Online, so any S works with one
 * program and no S-sized private array.
 *
 * Build options: -DHD=<head dim> -DVW=<16|8|4, divides HD> -DTQ=<rows>
 * -DKB=<keys per block, a multiple of 16>;
 * compiled only when VW is given (the rows program stays any-HD). */
#ifdef VW
#ifndef TQ
#define TQ 4
#endif
#ifndef KB
#define KB 32
#endif
#define NCH (KB / 16)
#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define VT CAT(float, VW)
#define VLOAD CAT(vload, VW)
#define VSTORE CAT(vstore, VW)
#define NVEC (HD / VW)

static inline float hsum_v(VT v)
{
#if VW == 16
    float8 a = v.lo + v.hi;
    float4 b = a.lo + a.hi;
#elif VW == 8
    float4 b = v.lo + v.hi;
#else
    float4 b = v;
#endif
    float2 c = b.lo + b.hi;
    return c.x + c.y;
}

static inline float hmax16(float16 v)
{
    float8 a = fmax(v.lo, v.hi);
    float4 b = fmax(a.lo, a.hi);
    float2 c = fmax(b.lo, b.hi);
    return fmax(c.x, c.y);
}

__kernel void attention_blk(__global const float *restrict q, __global const float *restrict k,
                            __global const float *restrict v, __global float *restrict out,
                            const int T, const int S, const int C, const int causal, const float scale)
{
    const int t0 = get_global_id(0) * TQ;
    const int h = get_global_id(1);
    const long b = get_global_id(2);
    __global const float *kb = k + b * S * C + h * HD;
    __global const float *vb = v + b * S * C + h * HD;
    const int nr = min(TQ, T - t0);

    VT qr[TQ][NVEC], acc[TQ][NVEC];
    float mx[TQ], sum[TQ];
    int nk[TQ]; /* keys row r sees */
#pragma unroll
    for (int r = 0; r < TQ; r++) {
        /* rows past T repeat the last valid one: computed, never stored */
        __global const float *src = q + (b * T + t0 + min(r, nr - 1)) * C + h * HD;
#pragma unroll
        for (int j = 0; j < NVEC; j++) {
            qr[r][j] = VLOAD(j, src) * scale;
            acc[r][j] = (VT)(0.0f);
        }
        mx[r] = -INFINITY;
        sum[r] = 0.0f;
        nk[r] = causal ? min(t0 + min(r, nr - 1) + 1, S) : S;
    }
    const int lim = causal ? min(t0 + nr, S) : S; /* keys any row of the tile sees */

    float sc[TQ][KB];
    for (int s0 = 0; s0 < lim; s0 += KB) {
        const int nb = min(KB, lim - s0);
        for (int j = 0; j < nb; j++) {
            __global const float *kr = kb + (long)(s0 + j) * C;
            VT kv[NVEC];
#pragma unroll
            for (int c = 0; c < NVEC; c++)
                kv[c] = VLOAD(c, kr);
#pragma unroll
            for (int r = 0; r < TQ; r++) {
                VT p = qr[r][0] * kv[0];
#pragma unroll
                for (int c = 1; c < NVEC; c++)
                    p = fma(qr[r][c], kv[c], p);
                sc[r][j] = hsum_v(p);
            }
        }
#pragma unroll
        for (int r = 0; r < TQ; r++) {
            /* keys past the block's end or the row's own limit weigh 0 */
            const int valid = clamp(nk[r] - s0, 0, nb);
            for (int j = valid; j < KB; j++)
                sc[r][j] = -INFINITY;
            float16 m16 = vload16(0, sc[r]);
#pragma unroll
            for (int c = 1; c < NCH; c++)
                m16 = fmax(m16, vload16(c, sc[r]));
            const float mnew = fmax(mx[r], hmax16(m16));
            /* exp(-inf) = 0 on the first block; a row with no valid key in
             * this block keeps mnew = mx and corr = 1 */
            const float corr = exp(mx[r] - mnew);
            float16 ps = (float16)(0.0f);
#pragma unroll
            for (int c = 0; c < NCH; c++) {
                const float16 p = exp(vload16(c, sc[r]) - mnew);
                vstore16(p, c, sc[r]);
                ps += p;
            }
            float8 p8 = ps.lo + ps.hi;
            float4 p4 = p8.lo + p8.hi;
            sum[r] = sum[r] * corr + (p4.x + p4.y + p4.z + p4.w);
            mx[r] = mnew;
#pragma unroll
            for (int c = 0; c < NVEC; c++)
                acc[r][c] *= corr;
        }
        for (int j = 0; j < nb; j++) {
            __global const float *vr = vb + (long)(s0 + j) * C;
            VT vv[NVEC];
#pragma unroll
            for (int c = 0; c < NVEC; c++)
                vv[c] = VLOAD(c, vr);
#pragma unroll
            for (int r = 0; r < TQ; r++)
#pragma unroll
                for (int c = 0; c < NVEC; c++)
                    acc[r][c] = fma((VT)(sc[r][j]), vv[c], acc[r][c]);
        }
    }
#pragma unroll
    for (int r = 0; r < TQ; r++) {
        if (r < nr) {
            __global float *o = out + (b * T + t0 + r) * C + h * HD;
            const float inv = 1.0f / sum[r];
#pragma unroll
            for (int c = 0; c < NVEC; c++)
                VSTORE(acc[r][c] * inv, c, o);
        }
    }
}
#endif /* VW */
