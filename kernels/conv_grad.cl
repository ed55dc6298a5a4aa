/* conv_grad.cl - backward of NCHW conv2d and avgpool2d (graph.h
 * G_OP_CONV2D_GRAD_INPUT, G_OP_CONV2D_GRAD_WEIGHT, G_OP_AVGPOOL2D_GRAD).
 *
 * Both conv grads are GEMMs through the host's GEMM entry; these kernels
 * move data around them (K = C*KH*KW, Q = OH*OW, column k = (c*KH+i)*KW+j):
 *  - dW[O, K] = sum over images n of dY[n][O, Q] @ col[n]^T. A chunk of
 *    images is ONE GEMM whose reduction runs over r = n*Q + q:
 *    A = dYp[O][r] (convg_dy_perm), B = colT[r][k] (convg_colt, or
 *    convg_colt_packed writing gemm.cl's panel layout directly). Chunks
 *    after the first add into dW in queue order (convg_accumulate): fixed
 *    summation order, no atomics.
 *  - dX = col2im(W^T @ dY[n]): convg_col2im gathers, for each input pixel,
 *    the column entries of every tap that read it.
 *
 * Geometry arguments, in this order everywhere: C, H, W, KH, KW, SH, SW,
 * PH, PWD (pad along W), OH, OW.
 * Build options: -DVW -DNV as for gemm.cl (panel width PW = NV*VW). */
#ifndef VW
#define VW 16
#endif
#ifndef NV
#define NV 2
#endif
#define PW (NV * VW)

#define CONVG_GEOM_ARGS                                                                     \
    const int C, const int H, const int W, const int KH, const int KW, const int SH,       \
        const int SW, const int PH, const int PWD, const int OH, const int OW

static inline float convg_tap(__global const float *xc, int H, int W, int ih, int iw)
{
    return (ih >= 0 && ih < H && iw >= 0 && iw < W) ? xc[(long)ih * W + iw] : 0.0f;
}

/* dst[o][n*Q + q] = dy[n0 + n][o][q]. Grid: (Q, O, images in the chunk). */
__kernel void convg_dy_perm(__global const float *restrict dy, __global float *restrict dst, const int n0)
{
    const int q = get_global_id(0);
    const int o = get_global_id(1);
    const int n = get_global_id(2);
    const int Q = get_global_size(0), O = get_global_size(1), cnt = get_global_size(2);
    dst[((long)o * cnt + n) * Q + q] = dy[(((long)(n0 + n)) * O + o) * Q + q];
}

/* colT[r][k] (row-major R x K) for rows r = n*Q + q of images n0 + n.
 * Grid: (K, R). */
__kernel void convg_colt(__global const float *restrict x, CONVG_GEOM_ARGS, const int n0,
                         __global float *restrict colT)
{
    const int k = get_global_id(0);
    const int r = get_global_id(1);
    const int K = get_global_size(0);
    const int Q = OH * OW;
    const int n = r / Q, q = r % Q;
    const int j = k % KW, i = (k / KW) % KH, c = k / (KW * KH);
    __global const float *xc = x + (((long)(n0 + n) * C + c) * H) * W;
    colT[(long)r * K + k] = convg_tap(xc, H, W, (q / OW) * SH - PH + i, (q % OW) * SW - PWD + j);
}

/* The same matrix in gemm_pack_b's layout for B = colT (GEMM K = R rows,
 * N = K columns): Bp[p][r][0..PW), zero past column K.
 * Grid: (R, ceil(K/PW)). */
__kernel void convg_colt_packed(__global const float *restrict x, CONVG_GEOM_ARGS, const int n0,
                                const int K, __global float *restrict Bp)
{
    const int r = get_global_id(0);
    const int p = get_global_id(1);
    const int R = get_global_size(0);
    const int Q = OH * OW;
    const int n = r / Q, q = r % Q;
    const int ih0 = (q / OW) * SH - PH, iw0 = (q % OW) * SW - PWD;
    __global const float *xn = x + (long)(n0 + n) * C * H * W;
    __global float *dst = Bp + ((long)p * R + r) * PW;
    int k = p * PW;
    int j = k % KW, i = (k / KW) % KH, c = k / (KW * KH);
    for (int t = 0; t < PW; t++, k++) {
        dst[t] = k < K ? convg_tap(xn + (long)c * H * W, H, W, ih0 + i, iw0 + j) : 0.0f;
        if (++j == KW) {
            j = 0;
            if (++i == KH) {
                i = 0;
                c++;
            }
        }
    }
}

/* wt[k][o] = w[o][k]: W^T once per run for the dX GEMM. Grid: (K, O). */
__kernel void convg_transpose(__global const float *restrict w, __global float *restrict wt)
{
    const int k = get_global_id(0);
    const int o = get_global_id(1);
    const int K = get_global_size(0), O = get_global_size(1);
    wt[(long)k * O + o] = w[(long)o * K + k];
}

/* acc[i] += part[i]. Grid: (numel). */
__kernel void convg_accumulate(__global float *restrict acc, __global const float *restrict part)
{
    const long i = get_global_id(0);
    acc[i] += part[i];
}

/* dx[n0 + n][c][iy][ix] = sum of col[n][(c*KH + ky)*KW + kx][oy*OW + ox]
 * over the taps with oy*SH - PH + ky = iy (and likewise along W) inside the
 * output. The loops run over the output rows/cols whose window covers the
 * pixel, so a patchify conv (stride = kernel) visits one tap, not KH*KW.
 * col is K x Q per image. Grid: (W, H, images * C). */
__kernel void convg_col2im(__global const float *restrict col, CONVG_GEOM_ARGS, const int n0,
                           __global float *restrict dx)
{
    const int ix = get_global_id(0);
    const int iy = get_global_id(1);
    const int nc = get_global_id(2);
    const int n = nc / C, c = nc % C;
    const long Q = (long)OH * OW;
    __global const float *cn = col + ((long)n * C + c) * KH * KW * Q;
    /* oy*SH <= iy + PH < oy*SH + KH */
    const int ry = iy + PH, rx = ix + PWD;
    const int ay = ry - KH + 1, ax = rx - KW + 1;
    const int oy0 = ay <= 0 ? 0 : (ay + SH - 1) / SH, oy1 = min(ry / SH, OH - 1);
    const int ox0 = ax <= 0 ? 0 : (ax + SW - 1) / SW, ox1 = min(rx / SW, OW - 1);
    float s = 0.0f;
    for (int oy = oy0; oy <= oy1; oy++) {
        __global const float *cr = cn + (long)((ry - oy * SH) * KW) * Q + (long)oy * OW;
        for (int ox = ox0; ox <= ox1; ox++)
            s += cr[(long)(rx - ox * SW) * Q + ox];
    }
    dx[(((long)(n0 + n) * C + c) * H + iy) * W + ix] = s;
}

/* Average-pool backward, floor mode, count_include_pad: each input pixel
 * gathers dy/(KH*KW) from every window that covers it.
 * Grid: (W, H, N*C). */
__kernel void avgpool2d_grad(__global const float *restrict dy, __global float *restrict dx, const int H,
                             const int W, const int OH, const int OW, const int KH, const int KW,
                             const int SH, const int SW, const int PH, const int PWD)
{
    const int ix = get_global_id(0);
    const int iy = get_global_id(1);
    const long nc = get_global_id(2);
    /* windows oy with oy*SH - PH <= iy < oy*SH - PH + KH */
    const int ay = iy + PH - KH + 1, ax = ix + PWD - KW + 1;
    const int oy0 = ay <= 0 ? 0 : (ay + SH - 1) / SH, oy1 = min((iy + PH) / SH, OH - 1);
    const int ox0 = ax <= 0 ? 0 : (ax + SW - 1) / SW, ox1 = min((ix + PWD) / SW, OW - 1);
    __global const float *d = dy + nc * OH * OW;
    float s = 0.0f;
    for (int oy = oy0; oy <= oy1; oy++)
        for (int ox = ox0; ox <= ox1; ox++)
            s += d[(long)oy * OW + ox];
    dx[(nc * H + iy) * W + ix] = s / (float)(KH * KW);
}
