/* conv_direct.cl - stride-1 convolution as an implicit GEMM on the input in
 * place, CPU style (backends/opencl/ocl_lower_conv_direct.c).
 *
 * With stride 1 and the input zero-padded to Hp x Wp (Hp = OH + KH - 1,
 * Wp = OW + KW - 1), output pixel (oh, ow) at flat position q = oh*Wp + ow
 * reads tap (i, j) of channel c at c*Hp*Wp + i*Wp + j + q: for a fixed tap
 * the columns q are one contiguous run of the padded plane. So
 *   Y[o][q] = sum_k Ap[o][k] * Xp[c(k)][q + i(k)*Wp + j(k)],  k = (c*KH + i)*KW + j
 * is a GEMM whose B rows are shifted views of the input: the tile loop of
 * gemm.cl (TM rows x NV vectors of VW columns in registers) loads them with
 * vloads, and no im2col matrix (KH*KW times the input) is ever written. The
 * columns with ow >= OW (KW - 1 per row) are computed and not stored. A 1x1
 * unpadded conv reads x itself (Wp = W). The weight is packed once into row
 * panels Ap[t][k][0..TM) (gemm.cl's gemm_pack_a, a static launch for params).
 *
 * Build options: -DTM -DVW -DNV (the GEMM tile), -DCKH -DCKW (kernel size,
 * so the tap loops unroll), -DEPI_RES=1 to add a residual R laid out like y
 * (conv_batchnorm_add_relu), then -DEPI_ACT=3 for a ReLU. */
#include "common.cl" /* FLOATN, PRELUDE_CAT */
#ifndef TM
#define TM 6
#endif
#ifndef VW
#define VW 16
#endif
#ifndef NV
#define NV 2
#endif
#ifndef CKH
#define CKH 3
#endif
#ifndef CKW
#define CKW 3
#endif
#ifndef EPI_ACT
#define EPI_ACT 0
#endif
#ifndef EPI_RES
#define EPI_RES 0
#endif
#define PW (NV * VW)
#define floatV FLOATN(VW)
#define vloadV PRELUDE_CAT(vload, VW)
#define vstoreV PRELUDE_CAT(vstore, VW)

/* xp[n][c] = x[n0 + n][c] zero-padded by (PH, PWD) to Hp x Wp, with
 * Hp, Wp the grid's sizes. Grid: (Wp, Hp, images * C). */
__kernel void conv_pad(__global const float *restrict x, const int H, const int W, const int PH,
                       const int PWD, const long x_off, __global float *restrict xp)
{
    const int wp = get_global_id(0);
    const int hp = get_global_id(1);
    const long nc = get_global_id(2);
    const int Wp = get_global_size(0), Hp = get_global_size(1);
    const int ih = hp - PH, iw = wp - PWD;
    xp[(nc * Hp + hp) * Wp + wp] =
        ih >= 0 && ih < H && iw >= 0 && iw < W ? x[x_off + (nc * H + ih) * W + iw] : 0.0f;
}

/* acc += the taps of channels [c0, c1) for columns q0..q0+PW; xq points at
 * channel 0, column q0; returns ap past the taps. GUARD: columns at or past
 * qend are read as zero (the last channel of the last image in the last
 * panel, whose vector loads could run past the buffer). A macro, not a
 * function: PoCL left a function with a run-time guard out of line, with
 * acc[][] in memory (3x slower). */
#define CONV_TAPS(GUARD, c0, c1, qend)                                                    \
    for (int c = (c0); c < (c1); c++) {                                                    \
        __global const float *xc = xq + (long)c * plane;                                   \
        _Pragma("unroll")                                                                  \
        for (int i = 0; i < CKH; i++) {                                                    \
            _Pragma("unroll")                                                              \
            for (int j = 0; j < CKW; j++) {                                                \
                __global const float *row = xc + i * Wp + j;                               \
                floatV bv[NV];                                                             \
                if (GUARD) {                                                               \
                    float tmp[PW];                                                         \
                    for (int e = 0; e < PW; e++) tmp[e] = e < (qend) ? row[e] : 0.0f;      \
                    _Pragma("unroll")                                                      \
                    for (int v = 0; v < NV; v++) bv[v] = vloadV(0, tmp + v * VW);          \
                } else {                                                                   \
                    _Pragma("unroll")                                                      \
                    for (int v = 0; v < NV; v++) bv[v] = vloadV(0, row + v * VW);          \
                }                                                                          \
                _Pragma("unroll")                                                          \
                for (int r = 0; r < TM; r++) {                                             \
                    const floatV av = (floatV)(ap[r]);                                     \
                    _Pragma("unroll")                                                      \
                    for (int v = 0; v < NV; v++) acc[r][v] = fma(av, bv[v], acc[r][v]);    \
                }                                                                          \
                ap += TM;                                                                  \
            }                                                                              \
        }                                                                                  \
    }

/* One work-item: output channels t*TM.. and flat columns p*PW.. of image n.
 * plane = Hp*Wp, x_img = C*plane floats per image of
 * xp (images n0 + get_global_id(2) of y); qn = (OH - 1)*Wp + OW, the flat
 * columns up to the last output pixel; last_n: the index of the image whose
 * end is the end of xp's buffer. Grid: (ceil(O/TM), ceil(qn/PW), images). */
__kernel void conv_direct(const int O, const int C, const int Wp, const int OH, const int OW, const long plane, const long x_img, const int qn,
                          const int last_n, __global const float *restrict xp, __global const float *restrict Ap,
                          __global const float *restrict bias, const int has_bias, const int n0,
                          __global float *restrict y, __global const float *restrict R)
{
    const int t = get_global_id(0);
    const int p = get_global_id(1);
    const int n = get_global_id(2);
    const int q0 = p * PW;
    const int K = C * CKH * CKW;
    floatV acc[TM][NV];
    _Pragma("unroll")
    for (int r = 0; r < TM; r++) {
        _Pragma("unroll")
        for (int v = 0; v < NV; v++) acc[r][v] = (floatV)(0.0f);
    }
    __global const float *xq = xp + (long)n * x_img + q0;
    __global const float *ap = Ap + (long)t * K * TM;
    /* only the last channel's reads can pass the end of the buffer */
    const int guard = n == last_n && q0 + PW > qn;
    const int qend = qn - q0; /* = plane - (KH-1)*Wp - (KW-1) - q0: the reads that stay inside */
    CONV_TAPS(0, 0, C - 1, 0)
    if (guard) {
        CONV_TAPS(1, C - 1, C, qend)
    } else {
        CONV_TAPS(0, C - 1, C, 0)
    }

    const int Q = OH * OW;
    __global float *yb = y + (long)(n0 + n) * O * Q;
    __global const float *rb = R + (long)(n0 + n) * O * Q;
    for (int r = 0; r < TM; r++) {
        const int o = t * TM + r;
        if (o >= O) break;
        const float b = has_bias ? bias[o] : 0.0f;
        __global float *yo = yb + (long)o * Q;
        __global const float *ro = rb + (long)o * Q;
        if (Wp == OW && q0 + PW <= qn) { /* 1x1 unpadded: columns are pixels */
            _Pragma("unroll")
            for (int v = 0; v < NV; v++) {
                floatV s = acc[r][v] + b;
                if (EPI_RES) s += vloadV(0, ro + q0 + v * VW);
                if (EPI_ACT == 3) s = fmax(s, (floatV)(0.0f));
                vstoreV(s, 0, yo + q0 + v * VW);
            }
        } else {
            float out[PW];
            _Pragma("unroll")
            for (int v = 0; v < NV; v++) vstoreV(acc[r][v] + b, 0, out + v * VW);
            int oh = q0 / Wp, ow = q0 % Wp;
            for (int j = 0; j < PW && q0 + j < qn; j++) {
                if (ow < OW) {
                    float s = out[j];
                    if (EPI_RES) s += ro[oh * OW + ow];
                    if (EPI_ACT == 3) s = fmax(s, 0.0f);
                    yo[oh * OW + ow] = s;
                }
                if (++ow == Wp) {
                    ow = 0;
                    oh++;
                }
            }
        }
    }
}
