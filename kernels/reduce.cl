/* Row ops over the last dim: softmax (optionally causal) and the reductions
 * sum, mean, max, argmax. Each comes in two variants:
 *   *_rows : one work-item per row, no local memory. For CPU-class devices
 *            (PoCL emulates local memory and barriers expensively; the rows
 *            themselves give all the parallelism a CPU needs).
 *   *_wg   : one work-group of WG work-items per row, strided loads and a
 *            tree reduction in local memory. For GPUs. WG is a power of two
 *            given as a build option.
 * Each kernel is a program of its own for a plan (KSEL, common.cl): a device
 * runs one style, and a plan few of the ops. */
#ifndef WG
#define WG 64
#endif
#include "common.cl" /* wg_sum, wg_max, hsum8, hmax8 */

/* ---- softmax ----
 * causal: columns c > t are masked, t = row index within dim -2 (period T). */

#if KSEL_ALL || defined(KSEL_softmax_rows)
__kernel void softmax_rows(__global const float *x, __global float *y, const int ncols, const int T,
                           const int causal)
{
    long r = get_global_id(0);
    __global const float *xr = x + r * ncols;
    __global float *yr = y + r * ncols;
    int lim = causal ? min(ncols, (int)(r % T) + 1) : ncols;
    /* float8 within the row: PoCL's vector exp is much faster than a scalar
     * libm call, and one work-item per row gives no cross-item vectors. */
    int c = 0;
    float8 m8 = (float8)(-INFINITY);
    for (; c + 8 <= lim; c += 8)
        m8 = fmax(m8, vload8(0, xr + c));
    float m = hmax8(m8);
    for (; c < lim; c++)
        m = fmax(m, xr[c]);
    float8 s8 = (float8)(0.0f);
    for (c = 0; c + 8 <= lim; c += 8) {
        float8 e = exp(vload8(0, xr + c) - m);
        vstore8(e, 0, yr + c);
        s8 += e;
    }
    float s = hsum8(s8);
    for (; c < lim; c++) {
        float e = exp(xr[c] - m);
        yr[c] = e;
        s += e;
    }
    float inv = 1.0f / s;
    for (c = 0; c + 8 <= lim; c += 8)
        vstore8(vload8(0, yr + c) * inv, 0, yr + c);
    for (; c < lim; c++)
        yr[c] *= inv;
    for (c = lim; c < ncols; c++)
        yr[c] = 0.0f;
}
#endif

#if KSEL_ALL || defined(KSEL_softmax_wg)
__kernel void softmax_wg(__global const float *x, __global float *y, const int ncols, const int T,
                         const int causal)
{
    __local float buf[WG];
    long r = get_group_id(0);
    int l = get_local_id(0);
    __global const float *xr = x + r * ncols;
    __global float *yr = y + r * ncols;
    int lim = causal ? min(ncols, (int)(r % T) + 1) : ncols;
    float m = -INFINITY;
    for (int c = l; c < lim; c += WG)
        m = fmax(m, xr[c]);
    m = wg_max(buf, m);
    float s = 0.0f;
    for (int c = l; c < lim; c += WG)
        s += exp(xr[c] - m);
    s = wg_sum(buf, s);
    float inv = 1.0f / s;
    for (int c = l; c < ncols; c += WG)
        yr[c] = c < lim ? exp(xr[c] - m) * inv : 0.0f;
}
#endif

/* ---- sum / mean (mean != 0 divides by ncols) ---- */

#if KSEL_ALL || defined(KSEL_sum_rows)
__kernel void sum_rows(__global const float *x, __global float *y, const int ncols, const int mean)
{
    long r = get_global_id(0);
    __global const float *xr = x + r * ncols;
    /* Four partial sums: shorter dependency chains, smaller rounding error. */
    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
    int c = 0;
    for (; c + 4 <= ncols; c += 4) {
        s0 += xr[c];
        s1 += xr[c + 1];
        s2 += xr[c + 2];
        s3 += xr[c + 3];
    }
    for (; c < ncols; c++)
        s0 += xr[c];
    float s = (s0 + s1) + (s2 + s3);
    y[r] = mean ? s / (float)ncols : s;
}
#endif

#if KSEL_ALL || defined(KSEL_sum_wg)
__kernel void sum_wg(__global const float *x, __global float *y, const int ncols, const int mean)
{
    __local float buf[WG];
    long r = get_group_id(0);
    int l = get_local_id(0);
    __global const float *xr = x + r * ncols;
    float s = 0.0f;
    for (int c = l; c < ncols; c += WG)
        s += xr[c];
    s = wg_sum(buf, s);
    if (l == 0)
        y[r] = mean ? s / (float)ncols : s;
}
#endif

/* ---- max ---- */

#if KSEL_ALL || defined(KSEL_max_rows)
__kernel void max_rows(__global const float *x, __global float *y, const int ncols)
{
    long r = get_global_id(0);
    __global const float *xr = x + r * ncols;
    float m = -INFINITY;
    for (int c = 0; c < ncols; c++)
        m = fmax(m, xr[c]);
    y[r] = m;
}
#endif

#if KSEL_ALL || defined(KSEL_max_wg)
__kernel void max_wg(__global const float *x, __global float *y, const int ncols)
{
    __local float buf[WG];
    long r = get_group_id(0);
    int l = get_local_id(0);
    __global const float *xr = x + r * ncols;
    float m = -INFINITY;
    for (int c = l; c < ncols; c += WG)
        m = fmax(m, xr[c]);
    m = wg_max(buf, m);
    if (l == 0)
        y[r] = m;
}
#endif

/* ---- argmax: the first maximal index ---- */

#if KSEL_ALL || defined(KSEL_argmax_rows)
__kernel void argmax_rows(__global const float *x, __global int *y, const int ncols)
{
    long r = get_global_id(0);
    __global const float *xr = x + r * ncols;
    float m = xr[0];
    int best = 0;
    for (int c = 1; c < ncols; c++)
        if (xr[c] > m) {
            m = xr[c];
            best = c;
        }
    y[r] = best;
}
#endif

#if KSEL_ALL || defined(KSEL_argmax_wg)
__kernel void argmax_wg(__global const float *x, __global int *y, const int ncols)
{
    __local float bv[WG];
    __local int bi[WG];
    long r = get_group_id(0);
    int l = get_local_id(0);
    __global const float *xr = x + r * ncols;
    float m = -INFINITY;
    int best = ncols; /* "none yet": loses every tie */
    for (int c = l; c < ncols; c += WG)
        if (xr[c] > m || best == ncols) {
            m = xr[c];
            best = c;
        }
    bv[l] = m;
    bi[l] = best;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = WG / 2; s > 0; s >>= 1) {
        if (l < s) {
            float ov = bv[l + s];
            int oi = bi[l + s];
            if (oi < ncols && (bi[l] == ncols || ov > bv[l] || (ov == bv[l] && oi < bi[l]))) {
                bv[l] = ov;
                bi[l] = oi;
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (l == 0)
        y[r] = bi[0];
}
#endif
