/* Fused normalisations (backends/opencl/ocl_fusion_norm.c).
 *
 * add_layernorm: s = a + b and y = layernorm(s) in one launch; b may
 * broadcast over leading dims (b_rows rows of ncols, row r of s adds row
 * r % b_rows: a position embedding added to every image). The sum is
 * written too: in a transformer it is the residual stream, read again by the
 * next residual add. The normalisation is norm.cl's layernorm step for step
 * (two passes over the row, values shifted by the row's first element), so
 * the fused result equals the unfused pair's to the last bit on the same
 * device. Each work-item re-reads only the sums it wrote itself, so the
 * work-group variant needs no extra barrier.
 *
 * Two variants like every row op: *_rows, a work-item per row (CPU-class),
 * and *_wg, a work-group of WG per row with a local-memory tree sum (GPUs);
 * each a program of its own for a plan (KSEL, common.cl): a device runs one. */
#ifndef WG
#define WG 64
#endif
/* wg_sum, hsum8 and the variance pass: the same sums in the same order as
 * norm.cl's layernorm */
#include "common.cl"
#include "layernorm_stats.cl"

#if KSEL_ALL || defined(KSEL_add_layernorm_rows)
__kernel void add_layernorm_rows(__global const float *a, __global const float *b,
                                 __global const float *gamma, __global const float *beta,
                                 __global float *s, __global float *y, const int ncols, const float eps,
                                 const long b_rows)
{
    long r = get_global_id(0);
    __global const float *ar = a + r * ncols;
    __global const float *br = b + (r % b_rows) * ncols;
    __global float *xr = s + r * ncols;
    __global float *yr = y + r * ncols;
    float k = ar[0] + br[0];
    float8 s8 = (float8)(0.0f);
    int c = 0;
    for (; c + 8 <= ncols; c += 8) {
        float8 x8 = vload8(0, ar + c) + vload8(0, br + c);
        vstore8(x8, 0, xr + c);
        s8 += x8 - k;
    }
    float sum = hsum8(s8);
    for (; c < ncols; c++) {
        float x = ar[c] + br[c];
        xr[c] = x;
        sum += x - k;
    }
    float m = sum / (float)ncols; /* mean - k */
    float rstd = layernorm_rstd_item(xr, ncols, k, m, eps);
    for (c = 0; c + 8 <= ncols; c += 8)
        vstore8(((vload8(0, xr + c) - k) - m) * rstd * vload8(0, gamma + c) + vload8(0, beta + c), 0, yr + c);
    for (; c < ncols; c++)
        yr[c] = ((xr[c] - k) - m) * rstd * gamma[c] + beta[c];
}
#endif

#if KSEL_ALL || defined(KSEL_add_layernorm_wg)
__kernel void add_layernorm_wg(__global const float *a, __global const float *b,
                               __global const float *gamma, __global const float *beta,
                               __global float *s, __global float *y, const int ncols, const float eps,
                               const long b_rows)
{
    __local float buf[WG];
    long r = get_group_id(0);
    int l = get_local_id(0);
    __global const float *ar = a + r * ncols;
    __global const float *br = b + (r % b_rows) * ncols;
    __global float *xr = s + r * ncols;
    __global float *yr = y + r * ncols;
    float k = ar[0] + br[0];
    float sum = 0.0f;
    for (int c = l; c < ncols; c += WG) {
        float x = ar[c] + br[c];
        xr[c] = x;
        sum += x - k;
    }
    float m = wg_sum(buf, sum) / (float)ncols; /* mean - k */
    float v = 0.0f;
    for (int c = l; c < ncols; c += WG) {
        float d = (xr[c] - k) - m;
        v += d * d;
    }
    float rstd = 1.0f / sqrt(wg_sum(buf, v) / (float)ncols + eps);
    for (int c = l; c < ncols; c += WG)
        yr[c] = ((xr[c] - k) - m) * rstd * gamma[c] + beta[c];
}
#endif
