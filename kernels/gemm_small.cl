/* gemm_small.cl - the small-M paths of the CPU-class GEMM (included by
 * gemm.cl, so they build into the same program as the tile they serve:
 * no extra compile at first use). backends/opencl/ocl_gemm_small.c picks
 * them; docs/gemm.md "Small M".
 *
 * Both keep the bits of the tiled kernels: every element of C is the one
 * fma chain over k = 0..K-1 from 0 (or from the sum a previous K block
 * stored), then the bias and the epilogue of gemm_store. */
#ifdef PW /* only as part of gemm.cl (its tile, gemm_store); alone: empty */

/* The one place a packed B panel is read (NV vectors of PW elements at row k
 * of the panel), in its storage type (kernels/panel.cl: f32, f16 or bf16). */
#define GEMM_SMALL_PANEL(bp, j) PANEL_LOADV(PANEL_B_DT, VW, 0, (bp) + (j) * VW)

/* Rows of the reduced last row tile: a tile whose rows past M would be more
 * than half of it runs TH rows instead of TM (M = 50 on 6-row tiles: the
 * ninth tile has 2 rows, 51 rows computed instead of 54). */
#define TH ((TM + 1) / 2)

/* gemm_kloop for the first TH rows of A only (A(i, k) = arow[i][k * a_step]:
 * a_step TM in row panels, 1 in place). acc's other rows are left alone
 * (they lie past M and are never stored). */
static inline void gemm_kloop_tail(floatV acc[TM][NV], __global const AT *arow[TM], const int a_step,
                                   __global const BT *restrict bp, const int kn)
{
    floatV h[TH][NV];
    _Pragma("unroll")
    for (int i = 0; i < TH; i++) {
        _Pragma("unroll")
        for (int j = 0; j < NV; j++) h[i][j] = acc[i][j];
    }
    for (int k = 0; k < kn; k++) {
        floatV bv[NV];
        _Pragma("unroll")
        for (int j = 0; j < NV; j++) bv[j] = GEMM_SMALL_PANEL(bp, j);
        bp += PW;
        _Pragma("unroll")
        for (int i = 0; i < TH; i++) {
            const floatV a = (floatV)(PANEL_LOAD1(PANEL_A_DT, k * a_step, arow[i]));
            _Pragma("unroll")
            for (int j = 0; j < NV; j++) h[i][j] = fma(a, bv[j], h[i][j]);
        }
    }
    _Pragma("unroll")
    for (int i = 0; i < TH; i++) {
        _Pragma("unroll")
        for (int j = 0; j < NV; j++) acc[i][j] = h[i][j];
    }
}

/* M = 1 (a pooled row times a weight: a GEMV) on packed B: one work-item per
 * column panel, so N is split across work-items (N / PW of them: 8 for
 * N = 512, 48 for 3072; enough for the cores of a CPU) and each streams its
 * panel once, PW floats per k, with one broadcast of A. gemm_tiled would
 * compute TM clamped copies of the row: TM times the FMAs for the same
 * bytes. The arguments are gemm_tiled's (M must be 1), epi included.
 * Grid: (1, panels, batch), local size 1. */
__kernel void gemm_gemv(const int M, const int N, const int K,
                        __global const float *restrict A, const long a_off, const long a_stride,
                        __global const BT *restrict Bp, const long bp_stride,
                        __global float *restrict C, const long c_off, const long c_stride,
                        __global const float *restrict bias, const long bias_off,
                        const int bias_mode, const int p_base,
                        __global const float *restrict R, const long r_off, const int epi)
{
    const int p = get_global_id(1);
    const int b = get_global_id(2);
    __global const float *a = A + a_off + (long)b * a_stride;
    __global const BT *bp = Bp + (long)b * bp_stride + (long)p * K * PW;
    floatV acc[TM][NV]; /* row 0 only; gemm_store stores no row past M = 1 */
    _Pragma("unroll")
    for (int i = 0; i < TM; i++) {
        _Pragma("unroll")
        for (int j = 0; j < NV; j++) acc[i][j] = (floatV)(0.0f);
    }
    for (int k = 0; k < K; k++) {
        const floatV av = (floatV)(a[k]);
        _Pragma("unroll")
        for (int j = 0; j < NV; j++) acc[0][j] = fma(av, GEMM_SMALL_PANEL(bp, j), acc[0][j]);
        bp += PW;
    }
    gemm_store(acc, min(M, 1), N, 0, (p_base + p) * PW, C + c_off + (long)b * c_stride, bias + bias_off,
               bias_mode, R + r_off + (long)b * c_stride, 1, epi);
}
#endif
