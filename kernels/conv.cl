/* conv.cl - NCHW convolution helpers (im2col for the GEMM entry) and
 * average pooling.
 *
 * A convolution is Y[n] = W[O, C*KH*KW] @ col[n][C*KH*KW, OH*OW] (+ b[O]).
 * col row k = (c*KH + i)*KW + j, column q = oh*OW + ow, zero where the
 * window reaches into the padding. The own GEMM reads B in column panels, so
 * conv_im2col_packed writes the panel layout of gemm.cl's gemm_pack_b
 * directly (one pass instead of im2col + pack); conv_im2col writes the plain
 * row-major matrix for CLBlast.
 *
 * Build options: -DVW -DNV as for gemm.cl (panel width PW = NV*VW). */
#ifndef VW
#define VW 16
#endif
#ifndef NV
#define NV 2
#endif
#define PW (NV * VW)

/* x + image offset; geometry packed in ints to keep the argument list short:
 * g0 = (C, H, W, KH), g1 = (KW, stride_h, stride_w, pad_h), g2 = (pad_w, OH, OW, 0). */
#define CONV_GEOMETRY                                                         \
    const int C = g0.s0, H = g0.s1, W = g0.s2, KH = g0.s3;                    \
    const int KW = g1.s0, SH = g1.s1, SW = g1.s2, PH = g1.s3;                 \
    const int PWD = g2.s0, OH = g2.s1, OW = g2.s2;                            \
    (void)C; (void)KH; (void)OH /* not every kernel needs all: -Wunused-variable */

static inline float conv_tap(__global const float *xc, int H, int W, int ih, int iw)
{
    return (ih >= 0 && ih < H && iw >= 0 && iw < W) ? xc[(long)ih * W + iw] : 0.0f;
}

/* Bp[n][p][k][0..PW) for images n0 + get_global_id(2). Grid: (C*KH*KW, panels, images). */
__kernel void conv_im2col_packed(__global const float *restrict x, const int4 g0, const int4 g1,
                                 const int4 g2, const int n0, __global float *restrict Bp)
{
    CONV_GEOMETRY;
    const int k = get_global_id(0);
    const int p = get_global_id(1);
    const int n = get_global_id(2);
    const int K = get_global_size(0), P = get_global_size(1);
    const int j = k % KW, i = (k / KW) % KH, c = k / (KW * KH);
    const int Q = OH * OW;
    __global const float *xc = x + (((long)(n0 + n) * C + c) * H) * W;
    __global float *dst = Bp + (((long)n * P + p) * K + k) * PW;
    int q = p * PW;
    int oh = q / OW, ow = q % OW;
    for (int t = 0; t < PW; t++, q++) {
        dst[t] = q < Q ? conv_tap(xc, H, W, oh * SH - PH + i, ow * SW - PWD + j) : 0.0f;
        if (++ow == OW) {
            ow = 0;
            oh++;
        }
    }
}

/* colT[n][q][k] (one row of K taps per output pixel) for images
 * n0 + get_global_id(2), for the small-Q path that computes Y^T = colT @ W^T
 * as one tall GEMM. One work-item writes the KW taps of one (channel, kernel
 * row): the index divisions (scalar on CPUs: no vector integer divide) are
 * paid once per KW taps, and for a patchify conv the KW reads and writes are
 * contiguous runs. Grid: (C*KH, OH*OW, images). */
__kernel void conv_im2col_rows(__global const float *restrict x, const int4 g0, const int4 g1,
                               const int4 g2, const int n0, __global float *restrict colT)
{
    CONV_GEOMETRY;
    const int ci = get_global_id(0);
    const int q = get_global_id(1);
    const int n = get_global_id(2);
    const int Q = get_global_size(1);
    const int K = get_global_size(0) * KW;
    const int i = ci % KH, c = ci / KH;
    const int oh = q / OW, ow = q % OW;
    const int ih = oh * SH - PH + i, iw0 = ow * SW - PWD;
    __global const float *xc = x + (((long)(n0 + n) * C + c) * H) * W;
    __global float *dst = colT + ((long)n * Q + q) * K + (long)ci * KW;
    for (int j = 0; j < KW; j++)
        dst[j] = conv_tap(xc, H, W, ih, iw0 + j);
}

/* y[n0 + n][o][q] = yT[n][q][o]: the small-Q path's GEMM output back to
 * NCHW. Grid: (Q, O, images). */
__kernel void conv_untranspose(__global const float *restrict yT, const int O, const int n0,
                               __global float *restrict y)
{
    const int q = get_global_id(0);
    const int o = get_global_id(1);
    const long n = get_global_id(2);
    const int Q = get_global_size(0);
    y[((n0 + n) * O + o) * (long)Q + q] = yT[(n * Q + q) * (long)O + o];
}

/* col[n][k][q] for images n0 + get_global_id(2). Grid: (OH*OW, C*KH*KW, images). */
__kernel void conv_im2col(__global const float *restrict x, const int4 g0, const int4 g1,
                          const int4 g2, const int n0, __global float *restrict col)
{
    CONV_GEOMETRY;
    const int q = get_global_id(0);
    const int k = get_global_id(1);
    const int n = get_global_id(2);
    const int Q = get_global_size(0), K = get_global_size(1);
    const int j = k % KW, i = (k / KW) % KH, c = k / (KW * KH);
    const int oh = q / OW, ow = q % OW;
    __global const float *xc = x + (((long)(n0 + n) * C + c) * H) * W;
    col[((long)n * K + k) * Q + q] = conv_tap(xc, H, W, oh * SH - PH + i, ow * SW - PWD + j);
}

/* Average pooling, floor mode, count_include_pad (divide by KH*KW always, as
 * PyTorch's default). Grid: (OW, OH, N*C). */
__kernel void avgpool2d(__global const float *restrict x, __global float *restrict y, const int H,
                        const int W, const int OH, const int OW, const int KH, const int KW,
                        const int SH, const int SW, const int PH, const int PWD)
{
    const int ow = get_global_id(0);
    const int oh = get_global_id(1);
    const long nc = get_global_id(2);
    __global const float *xc = x + nc * H * W;
    const int h0 = oh * SH - PH, w0 = ow * SW - PWD;
    float s = 0.0f;
    for (int i = max(h0, 0); i < min(h0 + KH, H); i++)
        for (int j = max(w0, 0); j < min(w0 + KW, W); j++)
            s += xc[(long)i * W + j];
    y[(nc * OH + oh) * OW + ow] = s / (float)(KH * KW);
}
