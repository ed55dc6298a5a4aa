/* common.cl - the kernel prelude: helpers more than one kernel file needs.
 *
 * A kernel file says `#include "common.cl"`; the runtime replaces that line
 * with this file's text when it loads the source (runtime/kernel_source.c),
 * looking it up like any kernel file: an edited copy in $CLIPCL_KERNEL_DIR
 * overrides it for every kernel, and the program caches (keyed by a hash of
 * the resolved text) rebuild when it changes. Each file is pulled in once,
 * so a file may include it and also include another that includes it.
 *
 * What is here (all `static inline`, nothing is a kernel):
 *   storage type  STORE_T and ST_LOAD / ST_STORE / ST_VLOAD / ST_VSTORE
 *   vectors       FLOATN(n), hsum4/8/16, hmax4/8/16
 *   math          erf_fast, erf_fast2/4/8/16 (FLOATN widths)
 *   work-group    wg_sum, wg_max: only when the file defines WG (the
 *                 work-group size, a power of two) before the include.
 *   selection     KSEL_ALL: a costly kernel wrapped in `#if KSEL_ALL ||`
 *                 `defined(KSEL_name)` ... `#endif` (one line) is
 *                 compiled only into the program built for it. The runtime
 *                 (rt_kernel, runtime/program.c) builds a file that uses
 *                 KSEL_ALL once per wrapped kernel a plan asks for, with
 *                 -DKSEL -DKSEL_name, and once for all its unwrapped
 *                 kernels, with -DKSEL; without -DKSEL (tests, other hosts)
 *                 the file holds every kernel as before.
 * Names a kernel file must not define: the ones above, PRELUDE_CAT(_),
 * PRELUDE_ERF_FAST. */
#ifndef CLIPCL_COMMON_CL
#define CLIPCL_COMMON_CL

#ifdef KSEL
#define KSEL_ALL 0
#else
#define KSEL_ALL 1
#endif

#define PRELUDE_CAT_(a, b) a##b
#define PRELUDE_CAT(a, b) PRELUDE_CAT_(a, b)
/* float vector type of width n (2, 3, 4, 8, 16): FLOATN(8) is float8 */
#define FLOATN(n) PRELUDE_CAT(float, n)

/* ---- storage type ----
 * Buffers a kernel reads and writes through these macros are declared
 * `__global STORE_T *`; the arithmetic stays float. Default float (the
 * macros are then plain loads and stores, the code the compiler sees is
 * what it was before). Build option -DSTORE_HALF stores half (vload_half and
 * vstore_half: core OpenCL, no cl_khr_fp16 needed), so a kernel written with
 * them can later be built for 16-bit storage without another copy of it.
 *   ST_LOAD(p, i)            -> float   p[i]
 *   ST_STORE(p, i, v)                   p[i] = v
 *   ST_VLOAD(n, i, p)        -> floatn  elements [i*n, i*n + n) (as vloadn)
 *   ST_VSTORE(n, v, i, p)               (as vstoren) */
#ifdef STORE_HALF
#define STORE_T half
#define ST_LOAD(p, i) vload_half((i), (p))
#define ST_STORE(p, i, v) vstore_half((v), (i), (p))
#define ST_VLOAD(n, i, p) PRELUDE_CAT(vload_half, n)((i), (p))
#define ST_VSTORE(n, v, i, p) PRELUDE_CAT(vstore_half, n)((v), (i), (p))
#else
#define STORE_T float
#define ST_LOAD(p, i) ((p)[i])
#define ST_STORE(p, i, v) ((p)[i] = (v))
#define ST_VLOAD(n, i, p) PRELUDE_CAT(vload, n)((i), (p))
#define ST_VSTORE(n, v, i, p) PRELUDE_CAT(vstore, n)((v), (i), (p))
#endif

/* ---- horizontal sums and maxima ----
 * Halves added as vectors down to two lanes, then one scalar add: one fixed
 * order (the same bits on every call), and the fewest instructions, which
 * counts where a dot product's sum is in an inner loop (attention scores:
 * a scalar (x + y) + (z + w) tail cost attention_cpu ~10% on PoCL). */
static inline float hsum4(float4 v)
{
    const float2 c = v.lo + v.hi;
    return c.x + c.y;
}

static inline float hsum8(float8 v)
{
    return hsum4(v.lo + v.hi);
}

static inline float hsum16(float16 v)
{
    return hsum8(v.lo + v.hi);
}

static inline float hmax4(float4 v)
{
    return fmax(fmax(v.x, v.y), fmax(v.z, v.w));
}

static inline float hmax8(float8 v)
{
    return hmax4(fmax(v.lo, v.hi));
}

static inline float hmax16(float16 v)
{
    return hmax8(fmax(v.lo, v.hi));
}

/* ---- math ----
 * erf by Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7). PoCL's built-in erf
 * is a scalar library call, ~20x slower than this on CPUs (200 ms vs 12 ms
 * for a [1600, 3072] gelu), which made gelu cost more than its GEMM. The
 * float16 form gets PoCL's vector exp. */
#define PRELUDE_ERF_FAST(T, NAME)                                                                        \
    static inline T NAME(T x)                                                                            \
    {                                                                                                    \
        T a = fabs(x);                                                                                   \
        T t = 1.0f / (1.0f + 0.3275911f * a);                                                            \
        T p = t * (0.254829592f +                                                                        \
                   t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));   \
        return copysign(1.0f - p * exp(-a * a), x);                                                      \
    }
PRELUDE_ERF_FAST(float, erf_fast)
PRELUDE_ERF_FAST(float2, erf_fast2)
PRELUDE_ERF_FAST(float4, erf_fast4)
PRELUDE_ERF_FAST(float8, erf_fast8)
PRELUDE_ERF_FAST(float16, erf_fast16)

/* ---- work-group reductions ----
 * Tree sums in local memory over the WG work-items of dim 0; every one of
 * them must call (barriers inside), each gets the result. buf holds WG
 * floats; it is free again on return. */
#ifdef WG
static float wg_sum(__local float *buf, float v)
{
    int l = get_local_id(0);
    buf[l] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = WG / 2; s > 0; s >>= 1) {
        if (l < s)
            buf[l] += buf[l + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float r = buf[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

static float wg_max(__local float *buf, float v)
{
    int l = get_local_id(0);
    buf[l] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = WG / 2; s > 0; s >>= 1) {
        if (l < s)
            buf[l] = fmax(buf[l], buf[l + s]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float r = buf[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}
#endif /* WG */

#endif /* CLIPCL_COMMON_CL */
