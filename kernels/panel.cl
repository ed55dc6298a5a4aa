/* panel.cl - the element type of weights kept on the device in packed form
 * (GEMM panels packed once, docs/gemm.md "Half-precision storage").
 *
 * A weight's storage type DT is a number, a build option of the kernels
 * that write or read it:
 *   0  f32   float, plain loads and stores (the code is what it was before
 *            16-bit storage existed: the same bits)
 *   1  f16   half through vload_half / vstore_half_rte: core OpenCL, no
 *            cl_khr_fp16 needed (PoCL's CPU device has none)
 *   2  bf16  ushort holding the upper 16 bits of the float, rounded to
 *            nearest even; read back by a 16-bit shift (exact)
 * The arithmetic stays float (fp32 accumulation) whatever the storage.
 *
 *   PANEL_T(DT)               the element type: float, half or ushort
 *   PANEL_LOAD1(DT, i, p)     -> float   element i of p
 *   PANEL_LOADV(DT, n, i, p)  -> floatn  elements [i*n, i*n + n) (as vloadn)
 *   PANEL_STORE1(DT, v, i, p)            element i of p = v (rounded)
 * Every kernel that reads a panel goes through these, so a new kernel over
 * the same panels (small-M GEMMs) reads any storage type for free. */
#ifndef CLIPCL_PANEL_CL
#define CLIPCL_PANEL_CL
#include "common.cl" /* PRELUDE_CAT */

#define PANEL_T_0 float
#define PANEL_T_1 half
#define PANEL_T_2 ushort
#define PANEL_T(DT) PRELUDE_CAT(PANEL_T_, DT)

#define PANEL_LOAD1_0(i, p) ((p)[i])
#define PANEL_LOAD1_1(i, p) vload_half((i), (p))
#define PANEL_LOAD1_2(i, p) as_float((uint)((p)[i]) << 16)
#define PANEL_LOAD1(DT, i, p) PRELUDE_CAT(PANEL_LOAD1_, DT)(i, p)

#define PANEL_LOADV_0(n, i, p) PRELUDE_CAT(vload, n)((i), (p))
#define PANEL_LOADV_1(n, i, p) PRELUDE_CAT(vload_half, n)((i), (p))
#define PANEL_LOADV_2(n, i, p)                                                                     \
    PRELUDE_CAT(as_float, n)(PRELUDE_CAT(convert_uint, n)(PRELUDE_CAT(vload, n)((i), (p))) << 16)
#define PANEL_LOADV(DT, n, i, p) PRELUDE_CAT(PANEL_LOADV_, DT)(n, i, p)

/* float -> bf16 bits, round to nearest even; a NaN stays a (quiet) NaN */
static inline ushort panel_bf16(const float v)
{
    const uint u = as_uint(v);
    if (isnan(v)) return (ushort)((u >> 16) | 0x40u);
    return (ushort)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
#define PANEL_STORE1_0(v, i, p) ((p)[i] = (v))
#define PANEL_STORE1_1(v, i, p) vstore_half_rte((v), (i), (p))
#define PANEL_STORE1_2(v, i, p) ((p)[i] = panel_bf16(v))
#define PANEL_STORE1(DT, v, i, p) PRELUDE_CAT(PANEL_STORE1_, DT)(v, i, p)

#endif
