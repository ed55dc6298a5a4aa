/* attention.cl - fused multi-head attention, forward: q [B,T,C], k/v
 * [B,S,C], heads of HD = C/heads channels (head i = channels [i*HD,
 * (i+1)*HD)); per head out = softmax(q k^T * scale [+ causal mask]) v,
 * scale = 1/sqrt(HD) (passed in). Same semantics as backends/ref. Both
 * kernels are online (attention_softmax.cl): no S-sized array, any S.
 *
 *   attention_rows  GPU class (and any head dim): one work-item per (query
 *                   row, head, batch); scores one key at a time.
 *   attention_cpu   CPU class (PoCL), head dim a multiple of 4: one
 *                   work-item, local size 1, per (TQ query rows, head,
 *                   batch). The head dim is held in VW-wide vectors, so the
 *                   work-item itself is SIMD code (PoCL vectorises nothing
 *                   across work-items of local size 1), and each K/V row
 *                   loaded serves TQ query rows. Keys go in blocks of KB:
 *                   scores in a private [TQ][KB] array, max, exp and sum 16
 *                   at a time, the accumulator rescaled once per block. With
 *                   KB >= S (the lowering's choice for S up to its cap) that
 *                   is the plain two-pass softmax.
 *
 * This kernel replaced two: attention_cpu.cl (two-pass, S <= 1024) and
 * attention_blk (blocks of a fixed 32 keys); measured on PoCL (2 vCPUs,
 * CPU ms per call, B = 8) it is as fast as the first at the CLIP shapes and
 * as the second on long sequences, see docs/opencl-backend.md. A variant
 * with 4 query rows per work-item sharing each K/V load in the row kernel
 * was measured earlier: no faster on PoCL, not kept (docs/gemm.md).
 *
 * Storage: q, k, v and out are STORE_T (common.cl; float unless built with
 * -DSTORE_HALF), the arithmetic is float.
 *
 * Build options: -DHD=<head dim> (private rows are sized by it); for
 * attention_cpu also -DVW=<16|8|4, divides HD> -DTQ=<rows> -DKB=<keys per
 * block, a multiple of 16>; attention_cpu is compiled only when VW is given
 * (the rows program stays any-HD). For a plan each kernel is a program of
 * its own (KSEL, common.cl): a CPU's plan does not compile attention_rows. */
#include "common.cl"
#include "attention_softmax.cl"

#ifndef HD
#define HD 64
#endif

#if KSEL_ALL || defined(KSEL_attention_rows)
__kernel void attention_rows(__global const STORE_T *restrict q, __global const STORE_T *restrict k,
                             __global const STORE_T *restrict v, __global STORE_T *restrict out,
                             const int T, const int S, const int C, const int causal, const float scale)
{
    const int t = get_global_id(0);
    const int h = get_global_id(1);
    const long b = get_global_id(2);
    __global const STORE_T *qr = q + (b * T + t) * C + h * HD;
    __global const STORE_T *kb = k + b * S * C + h * HD;
    __global const STORE_T *vb = v + b * S * C + h * HD;
    float qs[HD], acc[HD];
    /* fold the scale into q once instead of into every score */
    for (int c = 0; c < HD; c++) {
        qs[c] = ST_LOAD(qr, c) * scale;
        acc[c] = 0.0f;
    }
    const int lim = causal ? min(t + 1, S) : S;
    float mx = -INFINITY, sum = 0.0f;
    for (int s = 0; s < lim; s++) {
        __global const STORE_T *kr = kb + (long)s * C;
        float sc = 0.0f;
        for (int c = 0; c < HD; c++)
            sc = fma(qs[c], ST_LOAD(kr, c), sc);
        __global const STORE_T *vr = vb + (long)s * C;
        float corr, p;
        softmax_online_step(sc, &mx, &sum, &corr, &p);
        for (int c = 0; c < HD; c++)
            acc[c] = softmax_online_fold(acc[c], corr, p, ST_LOAD(vr, c));
    }
    __global STORE_T *o = out + (b * T + t) * C + h * HD;
    const float inv = 1.0f / sum;
    for (int c = 0; c < HD; c++)
        ST_STORE(o, c, acc[c] * inv);
}
#endif

#ifdef VW
#ifndef TQ
#define TQ 4
#endif
#ifndef KB
#define KB 64
#endif
#define ATTN_VT FLOATN(VW)
#define ATTN_HSUM PRELUDE_CAT(hsum, VW)
#define NVEC (HD / VW)

#if KSEL_ALL || defined(KSEL_attention_cpu)
__kernel void attention_cpu(__global const STORE_T *restrict q, __global const STORE_T *restrict k,
                            __global const STORE_T *restrict v, __global STORE_T *restrict out,
                            const int T, const int S, const int C, const int causal, const float scale)
{
    const int t0 = get_global_id(0) * TQ;
    const int h = get_global_id(1);
    const long b = get_global_id(2);
    __global const STORE_T *kb = k + b * S * C + h * HD;
    __global const STORE_T *vb = v + b * S * C + h * HD;
    const int nr = min(TQ, T - t0);

    ATTN_VT acc[TQ][NVEC], qr[TQ][NVEC];
    float mx[TQ], sum[TQ];
    int nk[TQ]; /* keys row r sees */
#pragma unroll
    for (int r = 0; r < TQ; r++) {
        /* rows past T repeat the last valid one: computed, never stored */
        __global const STORE_T *src = q + (b * T + t0 + min(r, nr - 1)) * C + h * HD;
#pragma unroll
        for (int j = 0; j < NVEC; j++) {
            qr[r][j] = ST_VLOAD(VW, j, src) * scale;
            acc[r][j] = (ATTN_VT)(0.0f);
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
            __global const STORE_T *kr = kb + (long)(s0 + j) * C;
            ATTN_VT kv[NVEC];
#pragma unroll
            for (int c = 0; c < NVEC; c++)
                kv[c] = ST_VLOAD(VW, c, kr);
#pragma unroll
            for (int r = 0; r < TQ; r++) {
                ATTN_VT p = qr[r][0] * kv[0];
#pragma unroll
                for (int c = 1; c < NVEC; c++)
                    p = fma(qr[r][c], kv[c], p);
                sc[r][j] = ATTN_HSUM(p);
            }
        }
        const int nch = (nb + 15) / 16;
#pragma unroll
        for (int r = 0; r < TQ; r++) {
            /* keys past the block's end or the row's own limit weigh 0 */
            const int valid = clamp(nk[r] - s0, 0, nb);
            for (int j = valid; j < nch * 16; j++)
                sc[r][j] = -INFINITY;
            const float corr = softmax_block16(sc[r], nch, &mx[r], &sum[r]);
#pragma unroll
            for (int c = 0; c < NVEC; c++)
                acc[r][c] *= corr;
        }
        for (int j = 0; j < nb; j++) {
            __global const STORE_T *vr = vb + (long)(s0 + j) * C;
            ATTN_VT vv[NVEC];
#pragma unroll
            for (int c = 0; c < NVEC; c++)
                vv[c] = ST_VLOAD(VW, c, vr);
#pragma unroll
            for (int r = 0; r < TQ; r++)
#pragma unroll
                for (int c = 0; c < NVEC; c++)
                    acc[r][c] = fma((ATTN_VT)(sc[r][j]), vv[c], acc[r][c]);
        }
    }
#pragma unroll
    for (int r = 0; r < TQ; r++) {
        if (r < nr) {
            __global STORE_T *o = out + (b * T + t0 + r) * C + h * HD;
            const float inv = 1.0f / sum[r];
#pragma unroll
            for (int c = 0; c < NVEC; c++)
                ST_VSTORE(VW, acc[r][c] * inv, c, o);
        }
    }
}
#endif
#endif /* VW */
