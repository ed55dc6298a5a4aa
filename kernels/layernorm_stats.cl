/* layernorm_stats.cl - the statistics of one layernorm row, shared by the
 * forward (norm.cl) and backward (grad.cl) kernels so both normalise with
 * the same numbers: values shifted by the row's first element k, the mean m
 * of the shifted values, then the squared deviations (two passes rather
 * than E[x^2] - E[x]^2, which cancels badly when the mean is large against
 * the spread; the shift keeps the float sums small too).
 * Returns (k, m, rstd): xhat = ((x - k) - m) * rstd. */
#ifndef CLIPCL_LAYERNORM_STATS_CL
#define CLIPCL_LAYERNORM_STATS_CL
#include "common.cl"

/* One work-item per row, float8 along it: the second pass, rstd of a row
 * whose shift k and shifted mean m are known (fused_norm.cl computes those
 * while it writes the row). */
static float layernorm_rstd_item(__global const float *xr, const int ncols, const float k, const float m,
                                 const float eps)
{
    float8 v8 = (float8)(0.0f);
    int c = 0;
    for (; c + 8 <= ncols; c += 8) {
        float8 d = (vload8(0, xr + c) - k) - m;
        v8 += d * d;
    }
    float v = hsum8(v8);
    for (; c < ncols; c++) {
        float d = (xr[c] - k) - m;
        v += d * d;
    }
    return 1.0f / sqrt(v / (float)ncols + eps);
}

/* Both passes, one work-item per row. */
static float3 layernorm_stats_item(__global const float *xr, const int ncols, const float eps)
{
    float k = xr[0];
    float8 s8 = (float8)(0.0f);
    int c = 0;
    for (; c + 8 <= ncols; c += 8)
        s8 += vload8(0, xr + c) - k;
    float s = hsum8(s8);
    for (; c < ncols; c++)
        s += xr[c] - k;
    float m = s / (float)ncols;
    return (float3)(k, m, layernorm_rstd_item(xr, ncols, k, m, eps));
}

#ifdef WG
/* A work-group of WG per row (every work-item calls; buf holds WG floats). */
static float3 layernorm_stats_group(__local float *buf, __global const float *xr, const int ncols, const float eps)
{
    int l = get_local_id(0);
    float k = xr[0];
    float s = 0.0f;
    for (int c = l; c < ncols; c += WG)
        s += xr[c] - k;
    float m = wg_sum(buf, s) / (float)ncols;
    float v = 0.0f;
    for (int c = l; c < ncols; c += WG) {
        float d = (xr[c] - k) - m;
        v += d * d;
    }
    return (float3)(k, m, 1.0f / sqrt(wg_sum(buf, v) / (float)ncols + eps));
}
#endif /* WG */

#endif /* CLIPCL_LAYERNORM_STATS_CL */
