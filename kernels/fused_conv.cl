/* Inference BatchNorm folded into the preceding convolution
 * (backends/opencl/ocl_fusion_conv.c): with s = gamma / sqrt(var + eps),
 *   w'[o][k] = w[o][k] * s[o]
 *   b'[o]    = (b[o] - mean[o]) * s[o] + beta[o]   (b = 0 without a conv bias)
 * so conv(x, w', b') = batchnorm(conv(x, w, b)). Computed by a static launch
 * (params only): once, and again only after the params change.
 * Grid: (O * Kc), Kc = C * KH * KW; work-item k == 0 of each row writes b'. */
__kernel void bn_fold(__global const float *w, __global const float *bias, const int has_bias,
                      __global const float *gamma, __global const float *beta,
                      __global const float *mean, __global const float *var, const float eps,
                      const int kc, __global float *w2, __global float *b2)
{
    const long e = get_global_id(0);
    const int o = (int)(e / kc);
    const float s = gamma[o] / sqrt(var[o] + eps);
    w2[e] = w[e] * s;
    if (e % kc == 0)
        b2[o] = ((has_bias ? bias[o] : 0.0f) - mean[o]) * s + beta[o];
}
