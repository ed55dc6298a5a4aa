/* conv_local.cl - convolution as an implicit GEMM with local-memory tiles,
 * GPU style (backends/opencl/ocl_lower_conv_direct.c).
 *
 * Y[o][col] = sum_k W[o][k] * X(k, col) + b[o], where col runs over every
 * output pixel of every image (n*OH*OW + oh*OW + ow: the images of a batch
 * form one GEMM, so layer4's 7x7 maps still fill work-groups) and
 * X(k, col) is the input tap k = (c*KH + i)*KW + j of that pixel, read
 * straight from NCHW x (zero in the padding): no im2col matrix, any stride
 * and padding. A 16x16 work-group computes 64 channels x 64 columns, each
 * work-item a 4x4 block strided by 16 (conflict-free local reads); K goes
 * in steps of 16 through two local tiles, each work-item loading four
 * elements of each. Every column a work-item loads stays the same across K,
 * so its (image, oh, ow) is decoded once.
 *
 * Build options: -DEPI_RES=1 adds a residual R laid out like y, then
 * -DEPI_ACT=3 a ReLU. */
#ifndef EPI_ACT
#define EPI_ACT 0
#endif
#ifndef EPI_RES
#define EPI_RES 0
#endif
#define LT 16        /* work-group side */
#define BT 64        /* tile side: LT * 4 */
#define KB 16        /* K step */

/* geo0 = (C, H, W, KH), geo1 = (KW, SH, SW, PH), geo2 = (PW, OH, OW, O);
 * ncol = images * OH * OW. Grid: (ceil(ncol/64)*16, ceil(O/64)*16). */
__kernel __attribute__((reqd_work_group_size(LT, LT, 1)))
void conv_local(__global const float *restrict x, __global const float *restrict w,
                __global const float *restrict bias, const int has_bias, const int4 geo0,
                const int4 geo1, const int4 geo2, const int ncol, __global float *restrict y,
                __global const float *restrict R)
{
    const int C = geo0.s0, H = geo0.s1, W = geo0.s2, KH = geo0.s3;
    const int KW = geo1.s0, SH = geo1.s1, SW = geo1.s2, PH = geo1.s3;
    const int PWD = geo2.s0, OH = geo2.s1, OW = geo2.s2, O = geo2.s3;
    const int K = C * KH * KW, Q = OH * OW, KHW = KH * KW;
    const int lx = get_local_id(0), ly = get_local_id(1);
    const int lid = ly * LT + lx;
    const int col0 = get_group_id(0) * BT, o0 = get_group_id(1) * BT;
    __local float As[KB][BT + 1];
    __local float Bs[KB][BT];

    /* the B column this work-item loads: rows lid/64 + 4r of the K step */
    const int bn = lid % BT, bk = lid / BT;
    const int bcol = col0 + bn;
    const int bimg = bcol / Q, bq = bcol % Q;
    const int bh0 = (bq / OW) * SH - PH, bw0 = (bq % OW) * SW - PWD;
    __global const float *xb = x + (long)bimg * C * H * W;
    /* the A row this work-item loads: columns 4*(lid%4) .. +4 of the K step */
    const int am = lid / 4, ak = (lid % 4) * 4;
    const int arow = min(o0 + am, O - 1);
    __global const float *wa = w + (long)arow * K;

    float acc[4][4];
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 4; b++) acc[a][b] = 0.0f;

    for (int k0 = 0; k0 < K; k0 += KB) {
        for (int r = 0; r < 4; r++) {
            const int k = k0 + ak + r;
            As[ak + r][am] = k < K ? wa[k] : 0.0f;
        }
        for (int r = 0; r < 4; r++) {
            const int kr = bk + 4 * r, k = k0 + kr;
            float v = 0.0f;
            if (k < K && bcol < ncol) {
                const int c = k / KHW, t = k % KHW;
                const int ih = bh0 + t / KW, iw = bw0 + t % KW;
                if (ih >= 0 && ih < H && iw >= 0 && iw < W) v = xb[((long)c * H + ih) * W + iw];
            }
            Bs[kr][bn] = v;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int kk = 0; kk < KB; kk++) {
            float av[4], bv[4];
            for (int a = 0; a < 4; a++) av[a] = As[kk][ly + LT * a];
            for (int b = 0; b < 4; b++) bv[b] = Bs[kk][lx + LT * b];
            for (int a = 0; a < 4; a++)
                for (int b = 0; b < 4; b++) acc[a][b] = fma(av[a], bv[b], acc[a][b]);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }

    for (int a = 0; a < 4; a++) {
        const int o = o0 + ly + LT * a;
        if (o >= O) break;
        const float bo = has_bias ? bias[o] : 0.0f;
        for (int b = 0; b < 4; b++) {
            const int col = col0 + lx + LT * b;
            if (col >= ncol) break;
            const long at = ((long)(col / Q) * O + o) * Q + col % Q;
            float v = acc[a][b] + bo;
            if (EPI_RES) v += R[at];
            if (EPI_ACT == 3) v = fmax(v, 0.0f);
            y[at] = v;
        }
    }
}
