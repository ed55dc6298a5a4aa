/* Elementwise ops. One work-item per output element; PoCL vectorises across
 * work-items, GPUs coalesce. Binary ops come in three layouts chosen by the
 * host after collapsing dims (backends/opencl/ocl_lower_elementwise.c):
 *   _same : both operands contiguous with the output's shape;
 *   _rows : a 2-D walk where each operand has its own row and column stride
 *           (0 = broadcast), covering bias rows, columns and scalars;
 *   _nd   : the general numpy broadcast, up to 6 dims, shape and strides read
 *           from a small constant buffer. */

#define UNARY(NAME, EXPR)                                                      \
    __kernel void NAME(__global const float *x, __global float *y, const float alpha) \
    {                                                                          \
        size_t i = get_global_id(0);                                           \
        float v = x[i];                                                        \
        y[i] = (EXPR);                                                         \
    }

UNARY(ew_scale, alpha * v)
UNARY(ew_gelu, 0.5f * v * (1.0f + erf(v * 0.70710678118654752f)))
UNARY(ew_quickgelu, v / (1.0f + exp(-1.702f * v)))
UNARY(ew_relu, v > 0.0f ? v : 0.0f)
UNARY(ew_sigmoid, 1.0f / (1.0f + exp(-v)))
UNARY(ew_exp, exp(v))

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
    /* meta: shape[6], a strides[6], b strides[6]; unused dims are size 1. */  \
    __kernel void ew_##OP##_nd(__global const float *a, __global const float *b, \
                               __global float *y, __constant long *meta)       \
    {                                                                          \
        long i = get_global_id(0), rem = i, ia = 0, ib = 0;                    \
        for (int d = 5; d >= 0; d--) {                                         \
            long n = meta[d], k = rem % n;                                     \
            rem /= n;                                                          \
            ia += k * meta[6 + d];                                             \
            ib += k * meta[12 + d];                                            \
        }                                                                      \
        float u = a[ia], v = b[ib];                                            \
        y[i] = (EXPR);                                                         \
    }

BINARY(add, u + v)
BINARY(sub, u - v)
BINARY(mul, u * v)
BINARY(div, u / v)
