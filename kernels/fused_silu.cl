/* y = (a * sigmoid(a)) * b, elementwise (backends/opencl/ocl_fusion_silu.c). */
__kernel void silu_mul(__global const float *a, __global const float *b, __global float *y)
{
    const size_t i = get_global_id(0);
    const float v = a[i];
    y[i] = (v * (1.0f / (1.0f + exp(-v)))) * b[i];
}
