/* The one GEMM entry of the OpenCL backend, shared by every lowering that
 * needs a matrix product (matmul, conv via im2col, attention projections,
 * and the matmul and conv gradients of autodiff):
 *
 *   C[b] = op(A[b]) @ op(B[b]) (+ bias)   for b in [0, batch)
 *
 * row-major fp32, op(A) is M x K, op(B) is K x N, C is M x N, any sizes >= 1.
 * Two implementations: the own kernels (kernels/gemm.cl: register-tiled with
 * B packed into column panels on CPU-class devices, local-memory tiled on
 * GPU-class ones) and CLBlast. An operand that is a weight (b_static,
 * a_static) is packed once per plan, not on every run (see the args). Which one a device gets
 * is measured once per device and driver and cached (ocl_gemm_select.c).
 *
 * Launches go to a "sink": the plan's (ocl_lower_*) while lowering a graph,
 * or a direct one that owns its kernels and buffers and enqueues at once
 * (device selection, benchmarks, tests). */
#ifndef CLIPCL_OCL_GEMM_H
#define CLIPCL_OCL_GEMM_H

#include <stddef.h>

#include "backends/opencl/ocl_backend.h"
#include "runtime/rt.h"

typedef enum ocl_gemm_impl {
    OCL_GEMM_AUTO = 0,    /* what ocl_gemm_choose() says for the device */
    OCL_GEMM_OWN = 1,
    OCL_GEMM_CLBLAST = 2,
} ocl_gemm_impl;

typedef enum ocl_gemm_bias {
    OCL_BIAS_NONE = 0,
    OCL_BIAS_COL = 1,     /* bias[N] added to every row (matmul) */
    OCL_BIAS_ROW = 2,     /* bias[M] added to every column (conv: W @ X + b[O]) */
} ocl_gemm_bias;

/* What the epilogue applies after the bias (fusion at lowering,
 * ocl_fusion_gemm.c); the values are kernels/gemm.cl's EPI_ACT. */
typedef enum ocl_gemm_act {
    OCL_ACT_NONE = 0,
    OCL_ACT_GELU = 1,      /* erf form */
    OCL_ACT_QUICKGELU = 2, /* x * sigmoid(1.702 x) */
    OCL_ACT_RELU = 3,
} ocl_gemm_act;

typedef struct ocl_gemm_args {
    int M, N, K, batch;
    int trans_a;          /* A[b] stored as K x M */
    int trans_b;          /* B[b] stored as N x K */
    cl_mem a, b, c, bias; /* bias may be NULL when bias_mode is NONE */
    /* in floats */
    size_t a_off, b_off, c_off, bias_off;
    size_t a_stride, b_stride, c_stride; /* between batch items; 0 = shared by all */
    ocl_gemm_bias bias_mode;
    /* Own path only: b already holds the panel layout of ocl_gemm_panel_floats()
     * (e.g. written by conv's im2col), b_stride then counts panel floats and
     * trans_b must be 0. */
    int b_packed;
    /* Epilogue: C = act(op(A) @ op(B) + bias) + res. res (NULL: none) is laid
     * out like C (res_off floats, then c_stride per batch item). The own
     * kernels apply it in their store; the CLBlast path runs one small
     * gemm_epilogue launch after the GEMM (which then skips its bias fill). */
    ocl_gemm_act act;
    cl_mem res;
    size_t res_off;
    /* Weights packed once: 1 when B (a_static: A) holds data derived from
     * params only (a G_ROLE_PARAM tensor, or a buffer a static launch fills
     * from params, like a folded BatchNorm weight). In a plan sink its packed
     * panels (own CPU-class kernel) or its transposed copy (local-memory
     * kernel) then go to a persistent buffer through a static launch: made by
     * the first run and again only after a param change
     * (ocl_plan_params_changed), shared by every GEMM that reads the same
     * weight the same way. Direct sinks ignore it. */
    int b_static, a_static;
} ocl_gemm_args;

/* Where launches go. */
typedef struct ocl_gemm_sink {
    rt_ctx *ctx;
    void *user;
    int (*kernel)(void *user, const char *file, const char *name, const char *options, cl_kernel *out);
    int (*scratch)(void *user, size_t bytes, cl_mem *out);
    int (*launch)(void *user, cl_kernel k, cl_uint dims, const size_t *gws, const size_t *lws);
    int (*call)(void *user, ocl_host_call fn, void *data); /* data is free()d by the sink's owner */
    /* Plan sinks only, NULL in a direct sink (then static operands are packed
     * every call like any other). persistent: a buffer alive as long as the
     * plan, found by key (1..OCL_GEMM_KEY_MAX ints); *found = 1 when an
     * earlier GEMM made it and emitted the launches that fill it; *out NULL
     * when the plan keeps no copies (then the operand is packed every run).
     * launch_static: a launch that runs only after a param change. */
    int (*persistent)(void *user, const int *key, int n_key, size_t bytes, cl_mem *out, int *found);
    int (*launch_static)(void *user, cl_kernel k, cl_uint dims, const size_t *gws, const size_t *lws);
    /* Plan sinks only (NULL otherwise): this GEMM reads the weight buffer
     * src through its persistent packed copy alone, so an inference plan
     * may release src once the copy is made (ocl_plan_release_originals). */
    int (*packed_only)(void *user, cl_mem src);
} ocl_gemm_sink;
#define OCL_GEMM_KEY_MAX 12

/* Tile sizes of the own kernel. */
typedef struct ocl_gemm_tile {
    int tm, vw, nv;       /* panel width = vw * nv */
} ocl_gemm_tile;

/* The tile for a device: $CLIPCL_GEMM_TILE="TMxVWxNV" if set, else the one
 * being measured (ocl_gemm_force_tile), else the one measured for the device
 * (ocl_gemm_tile_cached), else the policy's default (runtime/policy.h). */
ocl_gemm_tile ocl_gemm_tile_for(const rt_ctx *ctx);
/* "6x16x3" -> tile; 0 when malformed or out of range. */
int ocl_gemm_parse_tile(const char *text, ocl_gemm_tile *out);
/* This thread's emissions use t (NULL: back to normal). For the sweep. */
void ocl_gemm_force_tile(const ocl_gemm_tile *t);
/* "-DTM=8 -DVW=16 -DNV=2 -DKC=768" for the tile (K block: ctx's policy). */
void ocl_gemm_tile_options(const rt_ctx *ctx, ocl_gemm_tile t, char *buf, size_t len);
/* Device bytes of elems elements of a weight copy stored as dt (packed
 * panels, transposed or converted copies): the one place where the storage
 * type sizes a buffer (ctx->weight_dtype, docs/gemm.md). */
size_t ocl_gemm_stored_bytes(rt_dtype dt, size_t elems);
/* Floats of one batch item of packed B for K x N (N rounded up to the panel). */
size_t ocl_gemm_panel_floats(ocl_gemm_tile t, int K, int N);

/* 1 when the own path uses the local-memory kernel (gemm_local): ctx's
 * policy.gemm_variant (runtime/policy.h; $CLIPCL_FORCE_VARIANT=gpu|cpu
 * switches it with the row ops, so tests run both variants on PoCL). */
int ocl_gemm_use_local(const rt_ctx *ctx);

/* 1 when the own path should read a row-major B in place instead of packing
 * it first. $CLIPCL_GEMM_PACK=always|never overrides. */
int ocl_gemm_use_rowmajor_b(const rt_ctx *ctx, int M, int N, int K, ocl_gemm_tile t);
/* 1 when the product runs the row-tile kernel gemm_tiled_pa (more than two
 * row tiles; CLIPCL_GEMM_PACK_A=always|never overrides). It packs A into row
 * panels Ap[M/TM][K][TM] when A is a weight packed once or the policy says
 * always, and reads an activation A in place otherwise. */
int ocl_gemm_use_packed_a(const rt_ctx *ctx, int M, ocl_gemm_tile t);
/* 1 when gemm_tiled_pa runs its grid panels first (work-items sharing a row
 * group of A, B re-read per row group) rather than row groups first: when A
 * (a_bytes per batch item, as read) would not stay in the device's
 * last-level cache and B's panels (b_bytes) are smaller. Policy gemm_order
 * (CLIPCL_GEMM_ORDER=rows|panels) overrides. */
int ocl_gemm_panel_major(const rt_ctx *ctx, size_t a_bytes, size_t b_bytes);

/* Small M (ocl_gemm_small.c, kernels/gemm_small.cl; policy gemm_small_m):
 * 1 when an M = 1 product on packed B runs gemm_gemv (one work-item per
 * column panel) instead of a TM-row tile; 1 when the packed-A kernel's last
 * row tile runs only its first ceil(TM/2) rows (it has no more before M). */
int ocl_gemm_use_gemv(const rt_ctx *ctx, int M);
int ocl_gemm_use_tail(const rt_ctx *ctx, int M, ocl_gemm_tile t);

/* Append the launches for one GEMM. impl AUTO resolves per device. */
int ocl_gemm_emit(const ocl_gemm_sink *s, const ocl_gemm_args *a, ocl_gemm_impl impl);

/* The GEMM arguments of a G_OP_MATMUL node (ocl_lower_matmul.c), for
 * lowerings that change its output or add an epilogue (fusion). */
int ocl_matmul_gemm_args(ocl_lower *lc, int node, ocl_gemm_args *out);

/* A sink into a plan being lowered; `storage` must outlive the sink's use. */
typedef struct ocl_gemm_plan_user { ocl_lower *lc; int node; } ocl_gemm_plan_user;
void ocl_gemm_plan_sink(ocl_lower *lc, int node, ocl_gemm_plan_user *storage, ocl_gemm_sink *out);

/* A direct sink: owns every kernel, buffer and host-call datum it is given. */
typedef struct ocl_gemm_direct ocl_gemm_direct;
int ocl_gemm_direct_create(rt_ctx *ctx, ocl_gemm_direct **out);
void ocl_gemm_direct_sink(ocl_gemm_direct *d, ocl_gemm_sink *out);
/* Enqueue everything recorded so far, in order, on ctx->queue (no finish). */
int ocl_gemm_direct_run(ocl_gemm_direct *d);
void ocl_gemm_direct_free(ocl_gemm_direct *d);

/* ---- selection (ocl_gemm_select.c) ----
 * ctx->policy.gemm_impl ($CLIPCL_GEMM=own|clblast) overrides; else the choice cached under
 * rt_cache_dir()/tuning/gemm-<hash of device and driver>.txt (`clipcl tune`,
 * ocl_gemm_tune.h); else the GEMM database's entry (runtime/gemm_db.h);
 * else, with no entry, a quick tune bounded to 5 s whose result is stored. */
int ocl_gemm_choose(rt_ctx *ctx, ocl_gemm_impl *out);
const char *ocl_gemm_impl_name(ocl_gemm_impl impl);
/* The tuning file for ctx's device; -1 when there is no cache folder (then
 * every process measures again). */
int ocl_gemm_tuning_path(const rt_ctx *ctx, char *buf, size_t len);
/* The tile stored for ctx's device (memo, then the tuning file's "tile"
 * line); 0 when none is known. Never measures. */
int ocl_gemm_tile_cached(const rt_ctx *ctx, ocl_gemm_tile *out);
/* The tuned overlay of ctx's policy (runtime/policy.h): the choice and tile
 * known for the device (memo, then the tuning file) set policy.gemm_impl and
 * the tile unless the environment set them. Never measures (ocl_gemm_choose
 * does, and overlays its result too). 1 when something was known. */
int ocl_gemm_policy_overlay(rt_ctx *ctx);
/* Forget the choices remembered in this process (tests). */
void ocl_gemm_choose_reset(void);

/* Times one implementation on batch x (M x K) @ (K x N) (B shared by the
 * batch when shared_b): one warm-up call, then at least `runs` calls and at
 * least min_seconds of calls, each followed by clFinish; *gflops is the
 * median. For selection and benchmarks. */
int ocl_gemm_measure(rt_ctx *ctx, ocl_gemm_impl impl, int M, int N, int K, int batch,
                     int shared_b, int runs, double min_seconds, double *gflops);
/* The same, also giving GFLOP per CPU-second of the whole process (user +
 * system time of every thread over the timed calls), which load from other
 * processes on a shared machine inflates far less than wall time. */
int ocl_gemm_measure_cpu(rt_ctx *ctx, ocl_gemm_impl impl, int M, int N, int K, int batch, int shared_b,
                         int runs, double min_seconds, double *gflops, double *gflops_per_cpu_s);

#endif
