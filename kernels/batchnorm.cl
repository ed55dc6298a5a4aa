/* Training BatchNorm (graph/build_bn_train.c): x [N, C, inner], channel c
 * is N segments of `inner` floats at a stride of C*inner.
 *   bn_stats:     per channel mean and biased variance -> stats [2, C]
 *   bn_grad_sums: per channel sum(dy) and sum(dy * xhat) -> sums [2, C]
 *   bn_train:     y = (x - mean) rstd gamma + beta
 *   bn_grad_x:    dx = gamma rstd (dy - (sum(dy) + xhat sum(dy xhat)) / count)
 * The two per-channel reductions come as *_rows (one work-item per channel,
 * 16-wide loads along each segment: CPUs) and *_wg (a work-group of WG per
 * channel, tree sums in local memory: GPUs), chosen by the row variant of
 * the device policy. The moments are two passes over the channel (mean,
 * then the squared deviations): a one-pass E[x^2] - E[x]^2 in float loses
 * the variance to cancellation where |mean| >> std; the price is reading x
 * twice. The elementwise pair runs
 * one work-item per (n, c) segment like batchnorm_infer in norm.cl. */
#ifndef WG
#define WG 64
#endif
#include "common.cl"

/* ---- one work-item per channel ---- */

/* sum over a segment of (x - m)^p, p = 1 or 2 */
static float seg_dev(__global const float *xr, const long inner, const float m, const int p)
{
    float16 a = 0.0f;
    const long n16 = inner / 16;
    for (long i = 0; i < n16; i++) {
        float16 d = vload16(i, xr) - m;
        a += p == 2 ? d * d : d;
    }
    float r = hsum16(a);
    for (long i = n16 * 16; i < inner; i++) {
        float d = xr[i] - m;
        r += p == 2 ? d * d : d;
    }
    return r;
}

/* sum over a segment of dy (x - m) */
static float seg_dot(__global const float *dr, __global const float *xr, const long inner, const float m)
{
    float16 a = 0.0f;
    const long n16 = inner / 16;
    for (long i = 0; i < n16; i++)
        a += vload16(i, dr) * (vload16(i, xr) - m);
    float r = hsum16(a);
    for (long i = n16 * 16; i < inner; i++)
        r += dr[i] * (xr[i] - m);
    return r;
}

#if KSEL_ALL || defined(KSEL_bn_stats_rows)
__kernel void bn_stats_rows(__global const float *x, __global float *stats, const long N, const long inner,
                            const int C)
{
    const int c = get_global_id(0);
    const float cnt = (float)(N * inner);
    float s = 0.0f;
    for (long b = 0; b < N; b++)
        s += seg_dev(x + (b * C + c) * inner, inner, 0.0f, 1);
    const float mean = s / cnt;
    float ss = 0.0f;
    for (long b = 0; b < N; b++)
        ss += seg_dev(x + (b * C + c) * inner, inner, mean, 2);
    stats[c] = mean;
    stats[C + c] = ss / cnt;
}
#endif

#if KSEL_ALL || defined(KSEL_bn_grad_sums_rows)
__kernel void bn_grad_sums_rows(__global const float *x, __global const float *stats, __global const float *dy,
                                __global float *sums, const long N, const long inner, const int C, const float eps)
{
    const int c = get_global_id(0);
    const float mean = stats[c], rstd = rsqrt(stats[C + c] + eps);
    float s0 = 0.0f, s1 = 0.0f;
    for (long b = 0; b < N; b++) {
        const long o = (b * C + c) * inner;
        s0 += seg_dev(dy + o, inner, 0.0f, 1);
        s1 += seg_dot(dy + o, x + o, inner, mean);
    }
    sums[c] = s0;
    sums[C + c] = s1 * rstd;
}
#endif

/* ---- a work-group of WG per channel ---- */

#if KSEL_ALL || defined(KSEL_bn_stats_wg)
__kernel void bn_stats_wg(__global const float *x, __global float *stats, const long N, const long inner,
                          const int C)
{
    __local float buf[WG];
    const int c = get_group_id(0), l = get_local_id(0);
    const float cnt = (float)(N * inner);
    float s = 0.0f;
    for (long b = 0; b < N; b++) {
        __global const float *xr = x + (b * C + c) * inner;
        for (long i = l; i < inner; i += WG)
            s += xr[i];
    }
    const float mean = wg_sum(buf, s) / cnt;
    float ss = 0.0f;
    for (long b = 0; b < N; b++) {
        __global const float *xr = x + (b * C + c) * inner;
        for (long i = l; i < inner; i += WG) {
            float d = xr[i] - mean;
            ss += d * d;
        }
    }
    ss = wg_sum(buf, ss);
    if (l == 0) {
        stats[c] = mean;
        stats[C + c] = ss / cnt;
    }
}
#endif

#if KSEL_ALL || defined(KSEL_bn_grad_sums_wg)
__kernel void bn_grad_sums_wg(__global const float *x, __global const float *stats, __global const float *dy,
                              __global float *sums, const long N, const long inner, const int C, const float eps)
{
    __local float buf[WG];
    const int c = get_group_id(0), l = get_local_id(0);
    const float mean = stats[c], rstd = rsqrt(stats[C + c] + eps);
    float s0 = 0.0f, s1 = 0.0f;
    for (long b = 0; b < N; b++) {
        const long o = (b * C + c) * inner;
        for (long i = l; i < inner; i += WG) {
            s0 += dy[o + i];
            s1 += dy[o + i] * (x[o + i] - mean);
        }
    }
    s0 = wg_sum(buf, s0);
    s1 = wg_sum(buf, s1);
    if (l == 0) {
        sums[c] = s0;
        sums[C + c] = s1 * rstd;
    }
}
#endif

/* ---- elementwise, one work-item per (n, c) segment ---- */

#if KSEL_ALL || defined(KSEL_bn_train)
__kernel void bn_train(__global const float *x, __global const float *gamma, __global const float *beta,
                       __global const float *stats, __global float *y, const long inner, const int C,
                       const float eps)
{
    const long row = get_global_id(0);
    const int c = (int)(row % C);
    __global const float *xr = x + row * inner;
    __global float *yr = y + row * inner;
    const float m = stats[c], a = rsqrt(stats[C + c] + eps) * gamma[c], be = beta[c];
    const long n16 = inner / 16;
    for (long i = 0; i < n16; i++)
        vstore16((vload16(i, xr) - m) * a + be, i, yr);
    for (long i = n16 * 16; i < inner; i++)
        yr[i] = (xr[i] - m) * a + be;
}
#endif

#if KSEL_ALL || defined(KSEL_bn_grad_x)
__kernel void bn_grad_x(__global const float *x, __global const float *gamma, __global const float *stats,
                        __global const float *dy, __global const float *sums, __global float *dx,
                        const long inner, const int C, const float eps, const float inv_count)
{
    const long row = get_global_id(0);
    const int c = (int)(row % C);
    __global const float *xr = x + row * inner;
    __global const float *dr = dy + row * inner;
    __global float *o = dx + row * inner;
    const float m = stats[c], rstd = rsqrt(stats[C + c] + eps), k = gamma[c] * rstd;
    const float m0 = sums[c] * inv_count, m1 = sums[C + c] * inv_count * rstd;
    /* dx = k (dy - m0 - (x - m) rstd m1) */
    const long n16 = inner / 16;
    for (long i = 0; i < n16; i++)
        vstore16(k * (vload16(i, dr) - m0 - (vload16(i, xr) - m) * m1), i, o);
    for (long i = n16 * 16; i < inner; i++)
        o[i] = k * (dr[i] - m0 - (xr[i] - m) * m1);
}
#endif
