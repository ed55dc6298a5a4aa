/* Elementwise ops. One work-item per output element; PoCL vectorises across
 * work-items, GPUs coalesce. Binary ops come in three layouts chosen by the
 * host after collapsing dims (backends/opencl/ocl_lower_elementwise.c):
 *   _same : both operands contiguous with the output's shape;
 *   _rows : a 2-D walk where each operand has its own row and column stride
 *           (0 = broadcast), covering bias rows, columns and scalars;
 *   _nd   : the general numpy broadcast, up to 6 dims, shape and strides read
 *           from a small constant buffer written when the plan is built;
 *   _nd16 : CPU class, up to 3 dims, each operand contiguous along the
 *           innermost dim or broadcast over it (a per-channel mean against
 *           [N, C, H*W], BatchNorm in training): 16 elements per work-item
 *           as one float16 (the one-element kernels gather: RN50's training
 *           BatchNorm sub, mul and add took ~8 ns per element). */
#include "common.cl" /* erf_fast, erf_fast16 */

#define UNARY(NAME, EXPR)                                                      \
    __kernel void NAME(__global const float *x, __global float *y, const float alpha) \
    {                                                                          \
        size_t i = get_global_id(0);                                           \
        float v = x[i];                                                        \
        y[i] = (EXPR);                                                         \
    }

#if KSEL_ALL || defined(KSEL_ew_scale)
UNARY(ew_scale, alpha * v)
#endif
#if KSEL_ALL || defined(KSEL_ew_gelu)
UNARY(ew_gelu, 0.5f * v * (1.0f + erf_fast(v * 0.70710678118654752f)))
#endif
#if KSEL_ALL || defined(KSEL_ew_quickgelu)
UNARY(ew_quickgelu, v / (1.0f + exp(-1.702f * v)))
#endif
#if KSEL_ALL || defined(KSEL_ew_relu)
UNARY(ew_relu, v > 0.0f ? v : 0.0f)
#endif
#if KSEL_ALL || defined(KSEL_ew_sigmoid)
UNARY(ew_sigmoid, 1.0f / (1.0f + exp(-v)))
#endif
#if KSEL_ALL || defined(KSEL_ew_exp)
UNARY(ew_exp, exp(v))
#endif

/* The same ops on 16 elements per work-item, for sizes that are multiples of
 * 16 (every CLIP activation): explicit float16 math gets PoCL's vector exp,
 * where the one-element kernels above left a scalar exp call per element
 * (profiled: quickgelu at ~3% of ViT-B/32, ~6 ns per element). */
#define UNARY16(NAME, EXPR)                                                    \
    __kernel void NAME(__global const float *x, __global float *y, const float alpha) \
    {                                                                          \
        size_t i = get_global_id(0);                                           \
        float16 v = vload16(i, x);                                             \
        vstore16((EXPR), i, y);                                                \
    }

#if KSEL_ALL || defined(KSEL_ew16_scale)
UNARY16(ew16_scale, alpha * v)
#endif
#if KSEL_ALL || defined(KSEL_ew16_gelu)
UNARY16(ew16_gelu, 0.5f * v * (1.0f + erf_fast16(v * 0.70710678118654752f)))
#endif
#if KSEL_ALL || defined(KSEL_ew16_quickgelu)
UNARY16(ew16_quickgelu, v / (1.0f + exp(-1.702f * v)))
#endif
#if KSEL_ALL || defined(KSEL_ew16_relu)
UNARY16(ew16_relu, fmax(v, 0.0f))
#endif
#if KSEL_ALL || defined(KSEL_ew16_sigmoid)
UNARY16(ew16_sigmoid, 1.0f / (1.0f + exp(-v)))
#endif
#if KSEL_ALL || defined(KSEL_ew16_exp)
UNARY16(ew16_exp, exp(v))
#endif

/* silu = x * sigmoid(x) (G_OP_SILU), one- and 16-element forms. */
#if KSEL_ALL || defined(KSEL_ew_silu)
UNARY(ew_silu, v / (1.0f + exp(-v)))
#endif
#if KSEL_ALL || defined(KSEL_ew16_silu)
UNARY16(ew16_silu, v / (1.0f + exp(-v)))
#endif

#define BINARY(OP, EXPR)                                                       \
    __kernel void ew_##OP##_same(__global const float *a, __global const float *b, \
                                 __global float *y)                            \
    {                                                                          \
        size_t i = get_global_id(0);                                           \
        float u = a[i], v = b[i];                                              \
        y[i] = (EXPR);                                                         \
    }                                                                          \
    __kernel void ew_##OP##_rows(__global const float *a, __global const float *b, \
                                 __global float *y, const long ncols,          \
                                 const long ars, const long acs,               \
                                 const long brs, const long bcs)               \
    {                                                                          \
        long c = get_global_id(0), r = get_global_id(1);                       \
        float u = a[r * ars + c * acs], v = b[r * brs + c * bcs];              \
        y[r * ncols + c] = (EXPR);                                             \
    }                                                                          \
    /* meta: shape[6], a strides[6], b strides[6], y strides[6]; unused     \
     * leading dims have size 1. 3-D launch over dims 5, 4, 3; each         \
     * work-item loops over dims 0..2, so no element pays for a division. */ \
    __kernel void ew_##OP##_nd(__global const float *a, __global const float *b, \
                               __global float *y, __constant long *meta)       \
    {                                                                          \
        long c = get_global_id(0), r = get_global_id(1), q = get_global_id(2); \
        long ia = c * meta[11] + r * meta[10] + q * meta[9];                   \
        long ib = c * meta[17] + r * meta[16] + q * meta[15];                  \
        long iy = c * meta[23] + r * meta[22] + q * meta[21];                  \
        for (long i0 = 0; i0 < meta[0]; i0++)                                  \
            for (long i1 = 0; i1 < meta[1]; i1++)                              \
                for (long i2 = 0; i2 < meta[2]; i2++) {                        \
                    float u = a[ia + i0 * meta[6] + i1 * meta[7] + i2 * meta[8]]; \
                    float v = b[ib + i0 * meta[12] + i1 * meta[13] + i2 * meta[14]]; \
                    y[iy + i0 * meta[18] + i1 * meta[19] + i2 * meta[20]] = (EXPR); \
                }                                                              \
    }                                                                          \
    /* Grid (ceil(n2 / 16), n1, n0); y contiguous [n0, n1, n2]; an operand's \
     * element (q, r, e) at q * s0 + r * s1 + e * inner (inner 0 or 1). The \
     * last chunk of a row (n2 not a multiple of 16) runs in scalars. */     \
    __kernel void ew_##OP##_nd16(__global const float *a, __global const float *b, \
                                 __global float *y, const long n2,             \
                                 const long as0, const long as1, const int ain, \
                                 const long bs0, const long bs1, const int bin) \
    {                                                                          \
        const long j = (long)get_global_id(0) * 16, r = get_global_id(1), q = get_global_id(2); \
        const long ia = q * as0 + r * as1 + (ain ? j : 0);                     \
        const long ib = q * bs0 + r * bs1 + (bin ? j : 0);                     \
        const long iy = (q * (long)get_global_size(1) + r) * n2 + j;           \
        if (j + 16 <= n2) {                                                    \
            const float16 u = ain ? vload16(0, a + ia) : (float16)(a[ia]);     \
            const float16 v = bin ? vload16(0, b + ib) : (float16)(b[ib]);     \
            vstore16((EXPR), 0, y + iy);                                       \
            return;                                                            \
        }                                                                      \
        for (long e = 0; j + e < n2; e++) {                                    \
            const float u = a[ia + (ain ? e : 0)], v = b[ib + (bin ? e : 0)];  \
            y[iy + e] = (EXPR);                                                \
        }                                                                      \
    }

#if KSEL_ALL || defined(KSEL_ew_add_same) || defined(KSEL_ew_add_rows) || defined(KSEL_ew_add_nd) \
    || defined(KSEL_ew_add_nd16)
BINARY(add, u + v)
#endif
#if KSEL_ALL || defined(KSEL_ew_sub_same) || defined(KSEL_ew_sub_rows) || defined(KSEL_ew_sub_nd) \
    || defined(KSEL_ew_sub_nd16)
BINARY(sub, u - v)
#endif
#if KSEL_ALL || defined(KSEL_ew_mul_same) || defined(KSEL_ew_mul_rows) || defined(KSEL_ew_mul_nd) \
    || defined(KSEL_ew_mul_nd16)
BINARY(mul, u * v)
#endif
#if KSEL_ALL || defined(KSEL_ew_div_same) || defined(KSEL_ew_div_rows) || defined(KSEL_ew_div_nd) \
    || defined(KSEL_ew_div_nd16)
BINARY(div, u / v)
#endif
