/* gemm.cl - C[b] = op(A[b]) @ op(B[b]) (+ bias), row-major fp32, for the
 * own GEMM path (backends/opencl/ocl_gemm.c).
 *
 * CPU-class design (PoCL): no local memory and no barriers (both are emulated
 * in RAM and by splitting the work-item loop, and cost more than they save).
 * One work-item computes TM rows x PW = NV*VW columns of C in registers.
 * B is first packed into column panels Bp[b][N/PW][K][PW] (zero-padded past
 * N) so every work-item streams its panel sequentially: striding through a
 * row-major B with a large K misses the TLB and the prefetcher on every k.
 *
 * Build options: -DTM=8 -DVW=16 -DNV=2 (tile sizes; an autotuner may sweep).
 * The epilogue (fusion at lowering, backends/opencl/ocl_fusion_gemm.c): an
 * activation (1 gelu (erf form), 2 quickgelu, 3 relu) after the bias, then a
 * residual R laid out like C. The CPU-class kernels (gemm_tiled,
 * gemm_tiled_pa, gemm_tiled_rm, gemm_gemv) take it as their last argument,
 * epi = act | res << 2, so one program serves every epilogue; gemm_local and
 * gemm_epilogue take build options -DEPI_ACT=a -DEPI_RES=1. Without an
 * epilogue every kernel computes exactly what it did before they existed.
 * Offsets and batch strides are in elements.
 * Storage of weights packed once (kernels/panel.cl): -DPANEL_B_DT=1|2 makes
 * B's panels (packed by gemm_pack_b, read by gemm_tiled / gemm_tiled_pa;
 * gemm_local's B and gemm_transpose's / gemm_convert_b's output) f16 or
 * bf16, -DPANEL_A_DT the same for A's row panels (gemm_pack_a,
 * gemm_tiled_pa). Accumulation stays fp32; without them (0) the code and the
 * bits are those of f32 storage. Activations are never 16-bit here. */
#include "common.cl" /* FLOATN, PRELUDE_CAT, erf_fast */
#include "panel.cl"  /* PANEL_T, PANEL_LOAD1, PANEL_LOADV, PANEL_STORE1 */
#ifndef PANEL_A_DT
#define PANEL_A_DT 0
#endif
#ifndef PANEL_B_DT
#define PANEL_B_DT 0
#endif
#define AT PANEL_T(PANEL_A_DT)
#define BT PANEL_T(PANEL_B_DT)
#ifndef TM
#define TM 8
#endif
#ifndef VW
#define VW 16
#endif
#ifndef NV
#define NV 2
#endif
#define PW (NV * VW)
#define floatV FLOATN(VW)
#define vloadV PRELUDE_CAT(vload, VW)
#define vstoreV PRELUDE_CAT(vstore, VW)
#ifndef EPI_ACT
#define EPI_ACT 0
#endif
#ifndef EPI_RES
#define EPI_RES 0
#endif

/* ---- the epilogue: one copy for every kernel below ----
 * act(v) then + R. The activations are the formulas of elementwise.cl, with
 * the prelude's erf_fast, so a fused GEMM agrees with the unfused pair to
 * rounding. */
#define GEMM_ACT(T, NAME, ERF)                                                         \
    static inline T NAME(T v, const int act)                                           \
    {                                                                                  \
        if (act == 1) return 0.5f * v * (1.0f + ERF(v * 0.70710678118654752f));        \
        if (act == 2) return v / (1.0f + exp(-1.702f * v));                            \
        if (act == 3) return fmax(v, (T)(0.0f));                                       \
        return v;                                                                      \
    }
GEMM_ACT(float, gemm_act1, erf_fast)
GEMM_ACT(floatV, gemm_actV, PRELUDE_CAT(erf_fast, VW))

/* v (accumulator + bias) -> the stored value; r: this element of R. The
 * kernels built with -DEPI_ACT / -DEPI_RES (gemm_local, gemm_epilogue). */
static inline float gemm_epi1(float v, __global const float *r)
{
    v = gemm_act1(v, EPI_ACT);
    if (EPI_RES) v += r[0];
    return v;
}
/* The CPU-class kernels take the epilogue as an argument instead (epi =
 * act | res << 2, see gemm_store): one program serves every fused GEMM, so
 * a plan with GELU and residual epilogues compiles no extra programs (each
 * was ~1.7 s of PoCL compile on a cold start). r: R's elements (zeros where
 * there is no R), loaded by the caller: the partial panel passes a private
 * copy. */
static inline floatV gemm_epiV(floatV v, const floatV r, const int act, const int res)
{
    v = gemm_actV(v, act);
    if (res) v += r;
    return v;
}

/* Bp[b][p][k][0..PW) = op(B[b])[k][(p_base + p)*PW + 0..PW), zero past N.
 * Grid: (K, panels, batch). trans_b: B[b] is [N, K]. */
__kernel void gemm_pack_b(const int N, const int K, const int trans_b,
                          __global const float *restrict B, const long b_off,
                          const long b_stride, __global BT *restrict Bp, const int p_base)
{
    const int k = get_global_id(0);
    const int p = get_global_id(1);
    const int b = get_global_id(2);
    const int P = get_global_size(1);
    const int n0 = (p_base + p) * PW;
    __global const float *src = B + b_off + (long)b * b_stride;
    __global BT *dst = Bp + (((long)b * P + p) * K + k) * PW;
    if (!trans_b) {
        src += (long)k * N + n0;
#if PANEL_B_DT == 0
        if (n0 + PW <= N) {
            _Pragma("unroll")
            for (int j = 0; j < NV; j++) vstoreV(vloadV(0, src + j * VW), 0, dst + j * VW);
            return;
        }
#endif
        for (int j = 0; j < PW; j++) PANEL_STORE1(PANEL_B_DT, (n0 + j < N) ? src[j] : 0.0f, j, dst);
    } else {
        src += (long)n0 * K + k;
        for (int j = 0; j < PW; j++) PANEL_STORE1(PANEL_B_DT, (n0 + j < N) ? src[(long)j * K] : 0.0f, j, dst);
    }
}

/* dst[b][c][r] = src[b][r][c] for an R x Cn source. Used to turn trans_a
 * into a plain row-major A (and a weight's trans_b for gemm_local, then
 * stored as PANEL_B_DT). Grid: (Cn, ceil(R/16), batch); each work-item
 * writes 16 contiguous elements of one destination row. */
__kernel void gemm_transpose(const int R, const int Cn, __global const float *restrict src,
                             const long src_off, const long src_stride,
                             __global BT *restrict dst, const long dst_stride)
{
    const int c = get_global_id(0);
    const int r0 = get_global_id(1) * 16;
    const int b = get_global_id(2);
    __global const float *s = src + src_off + (long)b * src_stride + c;
    __global BT *d = dst + (long)b * dst_stride + (long)c * R;
    const int r1 = min(r0 + 16, R);
    for (int r = r0; r < r1; r++) PANEL_STORE1(PANEL_B_DT, s[(long)r * Cn], r, d);
}

/* dst[b][i] = src[b][i] stored as PANEL_B_DT: a weight (A or B) that
 * gemm_local reads in place, kept in 16 bits. Grid: (n, batch). */
__kernel void gemm_convert(__global const float *restrict src, const long src_off, const long src_stride,
                             __global BT *restrict dst, const long dst_stride)
{
    const long i = get_global_id(0);
    const long b = get_global_id(1);
    PANEL_STORE1(PANEL_B_DT, src[src_off + b * src_stride + i], b * dst_stride + i, dst);
}

/* The tile loop shared by every CPU-class kernel: acc[i][j] += A(i, k) *
 * B(k, j*VW ..) for k < kn, where A(i, k) = arow[i][k * a_step] (a_step 1
 * for a row-major A, TM for packed A) and the rows of B start at bp, b_step
 * floats apart (PW in a packed panel, N in a row-major B). The unroll
 * pragmas are essential on PoCL: without them LLVM keeps acc[][] in memory
 * (5-10x slower). */
#define GEMM_KLOOP(NAME, ADT, BDT)                                                                      \
    static inline void NAME(floatV acc[TM][NV], __global const PANEL_T(ADT) *arow[TM], const int a_step,  \
                            __global const PANEL_T(BDT) *restrict bp, const int b_step, const int kn)     \
    {                                                                                                   \
        for (int k = 0; k < kn; k++) {                                                                  \
            floatV bv[NV];                                                                              \
            _Pragma("unroll")                                                                           \
            for (int j = 0; j < NV; j++) bv[j] = PANEL_LOADV(BDT, VW, 0, bp + j * VW);                \
            bp += b_step;                                                                               \
            _Pragma("unroll")                                                                           \
            for (int i = 0; i < TM; i++) {                                                              \
                const floatV a = (floatV)(PANEL_LOAD1(ADT, k * a_step, arow[i]));                       \
                _Pragma("unroll")                                                                       \
                for (int j = 0; j < NV; j++) acc[i][j] = fma(a, bv[j], acc[i][j]);                      \
            }                                                                                           \
        }                                                                                               \
    }
/* f32 A, f32 B in place (gemm_tiled_rm); f32 A, B panels (gemm_tiled); A
 * and B panels (gemm_tiled_pa). All three are the same code for f32. */
GEMM_KLOOP(gemm_kloop, 0, 0)
GEMM_KLOOP(gemm_kloop_pb, 0, PANEL_B_DT)
GEMM_KLOOP(gemm_kloop_pab, PANEL_A_DT, PANEL_B_DT)

/* The epilogue over the tile gemm_store just wrote (still in cache): act
 * then + R, as vectors like the store (PoCL's vector exp and erf differ from
 * the scalar ones in the last bit), the partial panel through a private copy
 * with zeros past N. A pass of its own rather than inside the store's
 * unrolled loops: with the activation chosen at run time those loops grow
 * past what compilers unroll, and the accumulators must stay registers. */
static void gemm_epi_tile(const int M, const int N, const int m0, const int n0, __global float *restrict cb,
                          __global const float *restrict rb, const int act, const int res)
{
    const int rows = min(TM, M - m0);
    for (int i = 0; i < rows; i++) {
        const long row = (long)(m0 + i) * N + n0;
        if (n0 + PW <= N) {
            for (int j = 0; j < NV; j++) {
                const floatV r = res ? vloadV(0, rb + row + j * VW) : (floatV)(0.0f);
                vstoreV(gemm_epiV(vloadV(0, cb + row + j * VW), r, act, res), 0, cb + row + j * VW);
            }
        } else {
            float t[PW], r[PW];
            for (int j = 0; j < PW; j++) {
                t[j] = n0 + j < N ? cb[row + j] : 0.0f;
                r[j] = res && n0 + j < N ? rb[row + j] : 0.0f;
            }
            for (int j = 0; j < NV; j++)
                vstoreV(gemm_epiV(vloadV(0, t + j * VW), vloadV(0, r + j * VW), act, res), 0, t + j * VW);
            for (int j = 0; n0 + j < N; j++) cb[row + j] = t[j];
        }
    }
}

/* acc -> C rows m0.., columns n0.. (never past M or N). last: this is the
 * last K block, so the bias (bias_mode 0 none, 1 bias[N] per column, 2
 * bias[M] per row) and the epilogue (epi_code: bits 0-1 the activation, 1
 * gelu, 2 quickgelu, 3 relu; bit 2 add R; gemm_epi_tile) apply; earlier
 * blocks store raw partial sums. cb, bs and rb point at this batch item's C,
 * bias and R. */
static inline void gemm_store(floatV acc[TM][NV], const int M, const int N, const int m0, const int n0,
                              __global float *restrict cb, __global const float *restrict bs,
                              const int bias_mode, __global const float *restrict rb, const int last,
                              const int epi_code)
{
    const int bm = last ? bias_mode : 0;
    if (n0 + PW <= N) {
        floatV bcol[NV];
        _Pragma("unroll")
        for (int j = 0; j < NV; j++) bcol[j] = bm == 1 ? vloadV(0, bs + n0 + j * VW) : (floatV)(0.0f);
        _Pragma("unroll")
        for (int i = 0; i < TM; i++) {
            if (m0 + i < M) {
                const float brow = bm == 2 ? bs[m0 + i] : 0.0f;
                const long row = (long)(m0 + i) * N + n0;
                _Pragma("unroll")
                for (int j = 0; j < NV; j++) vstoreV(acc[i][j] + bcol[j] + brow, 0, cb + row + j * VW);
            }
        }
    } else {
        /* the last, partial panel: the same vector arithmetic as a full
         * one (the tile, measured per device, decides which columns land
         * here), the bias copied in with zeros past N, element stores
         * never past N */
        float bt[PW], out[PW];
        for (int j = 0; j < PW; j++) bt[j] = bm == 1 && n0 + j < N ? bs[n0 + j] : 0.0f;
        for (int i = 0; i < TM; i++) {
            if (m0 + i >= M) break;
            const float brow = bm == 2 ? bs[m0 + i] : 0.0f;
            const long row = (long)(m0 + i) * N + n0;
            _Pragma("unroll")
            for (int j = 0; j < NV; j++) vstoreV(acc[i][j] + vloadV(0, bt + j * VW) + brow, 0, out + j * VW);
            for (int j = 0; n0 + j < N; j++) cb[row + j] = out[j];
        }
    }
    if (last && epi_code)
        gemm_epi_tile(M, N, m0, n0, cb, rb, epi_code & 3, (epi_code >> 2) & 1);
}

/* One work-item of the row-major-A kernels: rows m0..m0+TM of C, columns
 * n0..n0+PW. A[b] is M x K row-major at abase; rows past M are clamped on
 * load and not stored. */
#define GEMM_TILE(NAME, KLOOP, BDT)                                                                     \
    static inline void NAME(const int M, const int N, const int K, const int m0, const int n0,          \
                            __global const float *restrict abase, __global const PANEL_T(BDT) *restrict bp, \
                            const int b_step, __global float *restrict cb,                              \
                            __global const float *restrict bs, const int bias_mode,                     \
                            __global const float *restrict rb, const int epi)                           \
    {                                                                                                   \
        floatV acc[TM][NV];                                                                             \
        __global const float *arow[TM];                                                                 \
        _Pragma("unroll")                                                                               \
        for (int i = 0; i < TM; i++) {                                                                  \
            arow[i] = abase + (long)min(m0 + i, M - 1) * K;                                             \
            _Pragma("unroll")                                                                           \
            for (int j = 0; j < NV; j++) acc[i][j] = (floatV)(0.0f);                                    \
        }                                                                                               \
        KLOOP(acc, arow, 1, bp, b_step, K);                                                             \
        gemm_store(acc, M, N, m0, n0, cb, bs, bias_mode, rb, 1, epi);                                   \
    }
GEMM_TILE(gemm_tile, gemm_kloop, 0)              /* B row-major f32, in place */
GEMM_TILE(gemm_tile_pb, gemm_kloop_pb, PANEL_B_DT) /* B packed */

#include "gemm_small.cl" /* the small-M paths: gemm_gemv, gemm_kloop_tail */

/* B packed by gemm_pack_b (bp_stride floats per batch item, 0 = shared
 * weight); panel p of the grid is column panel p_base + p. R (epi bit 2) is
 * laid out like C from r_off. Grid: (ceil(M/TM), panels, batch), local size 1. */
#if KSEL_ALL || defined(KSEL_gemm_tiled)
__kernel void gemm_tiled(const int M, const int N, const int K,
                         __global const float *restrict A, const long a_off, const long a_stride,
                         __global const BT *restrict Bp, const long bp_stride,
                         __global float *restrict C, const long c_off, const long c_stride,
                         __global const float *restrict bias, const long bias_off,
                         const int bias_mode, const int p_base,
                         __global const float *restrict R, const long r_off, const int epi)
{
    const int m0 = get_global_id(0) * TM;
    const int p = get_global_id(1);
    const int b = get_global_id(2);
    if (m0 >= M) return;
    gemm_tile_pb(M, N, K, m0, (p_base + p) * PW, A + a_off + (long)b * a_stride,
              Bp + (long)b * bp_stride + (long)p * K * PW, PW, C + c_off + (long)b * c_stride,
              bias + bias_off, bias_mode, R + r_off + (long)b * c_stride, epi);
}
#endif

/* Ap[b][t][k][0..TM) = A[b][t*TM + 0..TM)[k], zero past M: A in row panels
 * (one pack per run, like OpenBLAS) so the product reads one sequential
 * stream of A instead of TM strided rows. Grid: (K, row tiles, batch). */
__kernel void gemm_pack_a(const int M, const int K, __global const float *restrict A, const long a_off,
                          const long a_stride, __global AT *restrict Ap)
{
    const int k = get_global_id(0);
    const int t = get_global_id(1);
    const int b = get_global_id(2);
    const int T = get_global_size(1);
    __global const float *src = A + a_off + (long)b * a_stride + (long)t * TM * K + k;
    __global AT *dst = Ap + (((long)b * T + t) * K + k) * TM;
    _Pragma("unroll")
    for (int i = 0; i < TM; i++) PANEL_STORE1(PANEL_A_DT, (t * TM + i < M) ? src[(long)i * K] : 0.0f, i, dst);
}

#ifndef KC
#define KC 0
#endif

/* The product over packed B and A either in place or packed: per k TM
 * elements of A (broadcast per row) and NV vectors of the B panel. One
 * work-item sweeps rt consecutive row tiles of one column panel, K in blocks
 * of KC (0 = all of K; partial sums go through C, the bias and epilogue come
 * with the last block), so the B panel slice is re-read from cache and PoCL
 * schedules rt times fewer work-groups. tail: 1 = a last row tile with at
 * most TH rows before M runs only those (gemm_small.cl).
 * A: lda 0 = row panels Ap[b][t][k][TM] (gemm_pack_a: a weight packed once,
 * or CLIPCL_GEMM_PACK_A=always); lda > 0 = A read in place, row-major with
 * rows lda apart from ap_off (an activation: f32, the program's PANEL_A_DT
 * is then 0). The kernel reads TM sequential streams of A either way, so a
 * per-run pack bought nothing but a copy of M x K and a second copy of A in
 * the last-level cache (docs/gemm.md "A in place").
 * pmajor 0: grid (ceil(M/(TM*rt)), panels, batch), row groups fastest, so
 * consecutive work-items share a B panel and all of A is re-read once per
 * panel; pmajor 1: grid (panels, row groups, batch), consecutive work-items
 * share a row group of A and all of B is re-read once per row group (the
 * host picks the order whose re-read operand fits the cache,
 * ocl_gemm_panel_major). Local size 1. */
#if KSEL_ALL || defined(KSEL_gemm_tiled_pa)
__kernel void gemm_tiled_pa(const int M, const int N, const int K,
                            __global const AT *restrict Ap, const long ap_off, const long ap_stride,
                            const int lda,
                            __global const BT *restrict Bp, const long bp_stride,
                            __global float *restrict C, const long c_off, const long c_stride,
                            __global const float *restrict bias, const long bias_off,
                            const int bias_mode, const int p_base, const int rt,
                            __global const float *restrict R, const long r_off, const int tail,
                            const int pmajor, const int epi)
{
    const int p = get_global_id(pmajor ? 0 : 1);
    const int g = get_global_id(pmajor ? 1 : 0);
    const int b = get_global_id(2);
    const int n0 = (p_base + p) * PW;
    const int kc = KC > 0 ? KC : K;
    __global float *cb = C + c_off + (long)b * c_stride;
    __global const float *bs = bias + bias_off;
    __global const float *rb = R + r_off + (long)b * c_stride;
    for (int k0 = 0; k0 < K; k0 += kc) {
        const int k1 = min(k0 + kc, K);
        for (int r = 0; r < rt; r++) {
            const int t = g * rt + r;
            const int m0 = t * TM;
            if (m0 >= M) break;
            __global const AT *ap = Ap + ap_off + (long)b * ap_stride + (lda ? (long)k0 : ((long)t * K + k0) * TM);
            __global const BT *bp = Bp + (long)b * bp_stride + ((long)p * K + k0) * PW;
            floatV acc[TM][NV];
            __global const AT *arow[TM];
            /* The K blocks continue the sums stored in C by the earlier
             * blocks, in full and partial panels alike: every element is
             * then one fma chain over k = 0..K-1, the same as without
             * blocks, whatever the tile (which is measured per device and
             * decides which columns fall in the partial panel). Adding
             * the stored sum after the block instead rounds differently:
             * reruns that measured another tile differed by ~1e-6. */
            if (k0 == 0) {
                _Pragma("unroll")
                for (int i = 0; i < TM; i++) {
                    _Pragma("unroll")
                    for (int j = 0; j < NV; j++) acc[i][j] = (floatV)(0.0f);
                }
            } else if (n0 + PW <= N) {
                _Pragma("unroll")
                for (int i = 0; i < TM; i++) {
                    const long row = (long)min(m0 + i, M - 1) * N + n0;
                    _Pragma("unroll")
                    for (int j = 0; j < NV; j++) acc[i][j] = vloadV(0, cb + row + j * VW);
                }
            } else { /* partial panel: the columns before N, zeros past it */
                for (int i = 0; i < TM; i++) {
                    const long row = (long)min(m0 + i, M - 1) * N + n0;
                    float tmp[PW];
                    for (int j = 0; j < PW; j++) tmp[j] = n0 + j < N ? cb[row + j] : 0.0f;
                    _Pragma("unroll")
                    for (int j = 0; j < NV; j++) acc[i][j] = vloadV(0, tmp + j * VW);
                }
            }
            /* the tile's rows: TM rows of A in place (rows past M read
             * the last row again and are never stored), or the row panel */
            _Pragma("unroll")
            for (int i = 0; i < TM; i++) arow[i] = lda ? ap + (long)min(m0 + i, M - 1) * lda : ap + i;
            /* no && on a constant (TH < TM): -Wconstant-logical-operand */
            if ((TH < TM ? tail : 0) && M - m0 <= TH)
                gemm_kloop_tail(acc, arow, lda ? 1 : TM, bp, k1 - k0);
            else if (lda) /* two instances: the A step a constant in each */
                gemm_kloop_pab(acc, arow, 1, bp, PW, k1 - k0);
            else
                gemm_kloop_pab(acc, arow, TM, bp, PW, k1 - k0);
            gemm_store(acc, M, N, m0, n0, cb, bs, bias_mode, rb, k1 == K, epi);
        }
    }
}
#endif

/* B read in place, row-major K x N (b_stride floats per batch item): no
 * packing pass, for the full panels only (columns < N / PW * PW); the caller
 * packs the partial last panel and runs gemm_tiled on it. Worth it where
 * packing costs more than the strided reads (few row tiles, moderate K).
 * Grid: (ceil(M/TM), N / PW, batch), local size 1. */
#if KSEL_ALL || defined(KSEL_gemm_tiled_rm)
__kernel void gemm_tiled_rm(const int M, const int N, const int K,
                            __global const float *restrict A, const long a_off, const long a_stride,
                            __global const float *restrict B, const long b_off, const long b_stride,
                            __global float *restrict C, const long c_off, const long c_stride,
                            __global const float *restrict bias, const long bias_off,
                            const int bias_mode, __global const float *restrict R, const long r_off,
                            const int epi)
{
    const int m0 = get_global_id(0) * TM;
    const int n0 = get_global_id(1) * PW;
    const int b = get_global_id(2);
    if (m0 >= M) return;
    gemm_tile(M, N, K, m0, n0, A + a_off + (long)b * a_stride, B + b_off + (long)b * b_stride + n0, N,
              C + c_off + (long)b * c_stride, bias + bias_off, bias_mode, R + r_off + (long)b * c_stride, epi);
}
#endif

/* GPU-class variant (A and B as PANEL_A_DT / PANEL_B_DT: weights kept in
 * 16 bits are converted copies): a 16x16 work-group computes a 64x64 block of C, each
 * work-item a 4x4 micro-tile strided by 16 (so neighbouring work-items touch
 * neighbouring addresses); K is walked in steps of 16 through local-memory
 * tiles of A and B. A row-major M x K (trans_a already resolved), B
 * row-major K x N read in place (trans_b resolved by gemm_transpose). Loads
 * past M, N or K read zeros; stores past M or N are skipped. Grid:
 * (ceil(N/64)*16, ceil(M/64)*16, batch), local size (16, 16, 1). */
#define LT 16
#define LR 4
#define LB (LT * LR)
#if KSEL_ALL || defined(KSEL_gemm_local)
__kernel __attribute__((reqd_work_group_size(LT, LT, 1)))
void gemm_local(const int M, const int N, const int K,
                __global const AT *restrict A, const long a_off, const long a_stride,
                __global const BT *restrict B, const long b_off, const long b_stride,
                __global float *restrict C, const long c_off, const long c_stride,
                __global const float *restrict bias, const long bias_off, const int bias_mode,
                __global const float *restrict R, const long r_off)
{
    __local float As[LT][LB + 1]; /* [k][m], padded against bank conflicts */
    __local float Bs[LT][LB];     /* [k][n] */
    const int lx = get_local_id(0), ly = get_local_id(1);
    const int tid = ly * LT + lx;
    const int bn0 = get_group_id(0) * LB, bm0 = get_group_id(1) * LB;
    const int b = get_global_id(2);
    __global const AT *ab = A + a_off + (long)b * a_stride;
    __global const BT *bb = B + b_off + (long)b * b_stride;
    float acc[LR][LR];
    for (int i = 0; i < LR; i++)
        for (int j = 0; j < LR; j++) acc[i][j] = 0.0f;
    for (int k0 = 0; k0 < K; k0 += LT) {
        for (int e = tid; e < LB * LT; e += LT * LT) {
            const int r = e / LT, c = e % LT; /* A: 64 rows x 16 k */
            As[c][r] = (bm0 + r < M && k0 + c < K) ? PANEL_LOAD1(PANEL_A_DT, (long)(bm0 + r) * K + k0 + c, ab) : 0.0f;
            const int kr = e / LB, nc = e % LB; /* B: 16 k x 64 columns */
            Bs[kr][nc] = (k0 + kr < K && bn0 + nc < N) ? PANEL_LOAD1(PANEL_B_DT, (long)(k0 + kr) * N + bn0 + nc, bb) : 0.0f;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int kk = 0; kk < LT; kk++) {
            float av[LR], bv[LR];
            for (int i = 0; i < LR; i++) av[i] = As[kk][ly + LT * i];
            for (int j = 0; j < LR; j++) bv[j] = Bs[kk][lx + LT * j];
            for (int i = 0; i < LR; i++)
                for (int j = 0; j < LR; j++) acc[i][j] = fma(av[i], bv[j], acc[i][j]);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    __global float *cb = C + c_off + (long)b * c_stride;
    __global const float *bs = bias + bias_off;
    __global const float *rb = R + r_off + (long)b * c_stride;
    for (int i = 0; i < LR; i++) {
        const int m = bm0 + ly + LT * i;
        if (m >= M) continue;
        for (int j = 0; j < LR; j++) {
            const int n = bn0 + lx + LT * j;
            if (n < N) {
                float v = acc[i][j] + (bias_mode == 1 ? bs[n] : bias_mode == 2 ? bs[m] : 0.0f);
                if (EPI_ACT || EPI_RES) v = gemm_epi1(v, rb + (long)m * N + n);
                cb[(long)m * N + n] = v;
            }
        }
    }
}
#endif

/* C[b][m][n] = bias[n] (mode 1) or bias[m] (mode 2), before a beta = 1 GEMM
 * (the CLBlast path). Grid: (N, M, batch). */
__kernel void gemm_bias_fill(const int M, const int N, __global float *restrict C,
                             const long c_off, const long c_stride,
                             __global const float *restrict bias, const long bias_off,
                             const int bias_mode)
{
    const int n = get_global_id(0);
    const int m = get_global_id(1);
    const int b = get_global_id(2);
    const float v = bias_mode == 2 ? bias[bias_off + m] : bias[bias_off + n];
    C[c_off + (long)b * c_stride + (long)m * N + n] = v;
}

/* C = epilogue(C + bias) in place, after a beta = 0 GEMM that has no
 * epilogue of its own (the CLBlast path of a fused GEMM): the bias, the
 * activation and the residual in one pass instead of a bias fill before the
 * GEMM and an elementwise launch after it. Build with EPI_ACT / EPI_RES.
 * Grid: (N, M, batch). */
__kernel void gemm_epilogue(const int M, const int N, __global float *restrict C,
                            const long c_off, const long c_stride,
                            __global const float *restrict bias, const long bias_off,
                            const int bias_mode, __global const float *restrict R, const long r_off)
{
    const int n = get_global_id(0);
    const int m = get_global_id(1);
    const int b = get_global_id(2);
    const long e = (long)b * c_stride + (long)m * N + n;
    float v = C[c_off + e] + (bias_mode == 1 ? bias[bias_off + n] : bias_mode == 2 ? bias[bias_off + m] : 0.0f);
    C[c_off + e] = gemm_epi1(v, R + r_off + e);
    (void)M;
}
