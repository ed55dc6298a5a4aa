/* Normalisations. layernorm and l2norm are row ops over the last dim with the
 * same two variants as reduce.cl (*_rows: a work-item per row for CPU-class
 * devices; *_wg: a work-group of WG per row with local-memory tree sums for
 * GPUs). batchnorm (inference) is elementwise with a per-channel affine.
 * Each kernel is a program of its own for a plan (KSEL, common.cl): a device
 * runs one style, and a transformer only layernorm, so it compiles one small
 * kernel, not six. */
#ifndef WG
#define WG 64
#endif
#include "common.cl"
#include "layernorm_stats.cl"

/* The row statistics (two passes over values shifted by the row's first
 * element: layernorm_stats.cl) are shared with the backward kernels. */
#if KSEL_ALL || defined(KSEL_layernorm_rows)
__kernel void layernorm_rows(__global const float *x, __global const float *gamma,
                             __global const float *beta, __global float *y, const int ncols,
                             const float eps)
{
    long r = get_global_id(0);
    __global const float *xr = x + r * ncols;
    __global float *yr = y + r * ncols;
    const float3 st = layernorm_stats_item(xr, ncols, eps);
    const float k = st.x, m = st.y, rstd = st.z;
    /* float8 along the row: with one work-item per row PoCL has no
     * cross-item vectors to make. */
    int c = 0;
    for (; c + 8 <= ncols; c += 8)
        vstore8(((vload8(0, xr + c) - k) - m) * rstd * vload8(0, gamma + c) + vload8(0, beta + c), 0, yr + c);
    for (; c < ncols; c++)
        yr[c] = ((xr[c] - k) - m) * rstd * gamma[c] + beta[c];
}
#endif

#if KSEL_ALL || defined(KSEL_layernorm_wg)
__kernel void layernorm_wg(__global const float *x, __global const float *gamma,
                           __global const float *beta, __global float *y, const int ncols,
                           const float eps)
{
    __local float buf[WG];
    long r = get_group_id(0);
    int l = get_local_id(0);
    __global const float *xr = x + r * ncols;
    __global float *yr = y + r * ncols;
    const float3 st = layernorm_stats_group(buf, xr, ncols, eps);
    const float k = st.x, m = st.y, rstd = st.z;
    for (int c = l; c < ncols; c += WG)
        yr[c] = ((xr[c] - k) - m) * rstd * gamma[c] + beta[c];
}
#endif

/* y = x / max(||x||, eps) */
#if KSEL_ALL || defined(KSEL_l2norm_rows)
__kernel void l2norm_rows(__global const float *x, __global float *y, const int ncols, const float eps)
{
    long r = get_global_id(0);
    __global const float *xr = x + r * ncols;
    __global float *yr = y + r * ncols;
    float s = 0.0f;
    for (int c = 0; c < ncols; c++)
        s += xr[c] * xr[c];
    float inv = 1.0f / fmax(sqrt(s), eps);
    for (int c = 0; c < ncols; c++)
        yr[c] = xr[c] * inv;
}
#endif

#if KSEL_ALL || defined(KSEL_l2norm_wg)
__kernel void l2norm_wg(__global const float *x, __global float *y, const int ncols, const float eps)
{
    __local float buf[WG];
    long r = get_group_id(0);
    int l = get_local_id(0);
    __global const float *xr = x + r * ncols;
    __global float *yr = y + r * ncols;
    float s = 0.0f;
    for (int c = l; c < ncols; c += WG)
        s += xr[c] * xr[c];
    float inv = 1.0f / fmax(sqrt(wg_sum(buf, s)), eps);
    for (int c = l; c < ncols; c += WG)
        yr[c] = xr[c] * inv;
}
#endif

/* x [N, C, inner...]: channel of element i is (i / inner) % C. */
/* One work-item per (n, c) row of `inner` elements, 16 at a time. The first
 * version (one work-item per element, channel from a 64-bit division) was
 * ~25% of RN50 on PoCL; a (inner, C, N) grid was still slow for small H*W
 * (many tiny work-groups). */
/* Per-channel sqrt(var + eps), once per change of the params (a static
 * launch, see ocl_lower_launch_static), not once per row per run. */
#if KSEL_ALL || defined(KSEL_batchnorm_sd)
__kernel void batchnorm_sd(__global const float *var, __global float *sd, const float eps)
{
    const size_t c = get_global_id(0);
    sd[c] = sqrt(var[c] + eps);
}
#endif

#if KSEL_ALL || defined(KSEL_batchnorm_infer)
__kernel void batchnorm_infer(__global const float *x, __global const float *gamma,
                              __global const float *beta, __global const float *mean,
                              __global const float *sdv, __global float *y, const long inner,
                              const int C)
{
    const long row = get_global_id(0);
    const int c = (int)(row % C);
    __global const float *xr = x + row * inner;
    __global float *yr = y + row * inner;
    const float m = mean[c], sd = sdv[c], ga = gamma[c], be = beta[c];
    const long n16 = inner / 16;
    for (long i = 0; i < n16; i++)
        vstore16((vload16(i, xr) - m) / sd * ga + be, i, yr);
    for (long i = n16 * 16; i < inner; i++)
        yr[i] = (xr[i] - m) / sd * ga + be;
}
#endif
