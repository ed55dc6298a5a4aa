/* The GEMM entry: emits the launches of the own tiled kernel (pack B,
 * optional transpose of A, tiled product with the bias in the epilogue) or a
 * CLBlast host call, into a plan or a direct sink. */
#include "backends/opencl/ocl_gemm.h"

#include <clblast_c.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/opencl/ocl_plan_internal.h"
#include "backends/opencl/ocl_shared_scratch.h"
#include "runtime/status.h"

/* Row tiles per work-item: up to 16 (best of a sweep on the PoCL Xeon,
 * docs/gemm.md), fewer where that would leave under 4 work-items per compute
 * unit. K blocks of 768: only K > 768 is blocked (fc2: a 3072 x 64 B panel
 * outgrows L2). CLIPCL_GEMM_RT / CLIPCL_GEMM_KC override for a sweep. */
static int pa_rt(const rt_ctx *ctx, size_t row_tiles, size_t cols)
{
    int rt = ctx->policy.gemm_rt;
    if (rt)
        return rt;
    size_t want = 4 * (size_t)(ctx->dev.compute_units ? ctx->dev.compute_units : 1);
    rt = 16;
    while (rt > 1 && (row_tiles + (size_t)rt - 1) / (size_t)rt * cols < want)
        rt /= 2;
    return rt;
}
void ocl_gemm_tile_options(const rt_ctx *ctx, ocl_gemm_tile t, char *buf, size_t len)
{
    snprintf(buf, len, "-DTM=%d -DVW=%d -DNV=%d -DKC=%d", t.tm, t.vw, t.nv, ctx->policy.gemm_kc);
}

size_t ocl_gemm_stored_bytes(rt_dtype dt, size_t elems) { return elems * rt_dtype_bytes(dt); }

/* base + " -DPANEL_A_DT=a -DPANEL_B_DT=b" for 16-bit panels (nothing for
 * f32: the programs and cache entries of f32 storage stay as they were). */
static void dt_options(const char *base, rt_dtype a_dt, rt_dtype b_dt, char *buf, size_t len)
{
    size_t n = (size_t)snprintf(buf, len, "%s", base);
    if (a_dt != RT_DTYPE_F32 && n < len)
        n += (size_t)snprintf(buf + n, len - n, "%s-DPANEL_A_DT=%d", n ? " " : "", (int)a_dt);
    if (b_dt != RT_DTYPE_F32 && n < len)
        snprintf(buf + n, len - n, "%s-DPANEL_B_DT=%d", n ? " " : "", (int)b_dt);
}


/* The epilogue's build options, appended to base (empty without an
 * epilogue, so unfused GEMMs keep their programs and cache entries). */
static void epi_options(const ocl_gemm_args *g, const char *base, char *buf, size_t len)
{
    snprintf(buf, len, "%s", base);
    size_t n = strlen(buf);
    if (g->act != OCL_ACT_NONE && n < len)
        n += (size_t)snprintf(buf + n, len - n, "%s-DEPI_ACT=%d", n ? " " : "", (int)g->act);
    if (g->res && n < len)
        snprintf(buf + n, len - n, "%s-DEPI_RES=1", n ? " " : "");
}

static int has_epilogue(const ocl_gemm_args *g) { return g->act != OCL_ACT_NONE || g->res != NULL; }

/* The epilogue as the CPU-class kernels' last argument (kernels/gemm.cl):
 * the activation in bits 0-1, the residual in bit 2. */
static int epi_code(const ocl_gemm_args *g) { return (int)g->act | (g->res ? 4 : 0); }

static int check_args(const ocl_gemm_args *a)
{
    if (a->M < 1 || a->N < 1 || a->K < 1 || a->batch < 1)
        return cc_fail(CC_ERR_INVALID, "ocl_gemm: M, N, K, batch must be >= 1, found %d, %d, %d, %d",
                       a->M, a->N, a->K, a->batch);
    if (!a->a || !a->b || !a->c)
        return cc_fail(CC_ERR_INVALID, "ocl_gemm: A, B and C buffers are required");
    if (a->bias_mode != OCL_BIAS_NONE && !a->bias)
        return cc_fail(CC_ERR_INVALID, "ocl_gemm: bias mode %d without a bias buffer", (int)a->bias_mode);
    if (a->b_packed && a->trans_b)
        return cc_fail(CC_ERR_INVALID, "ocl_gemm: pre-packed B cannot be transposed");
    if ((int)a->act < OCL_ACT_NONE || (int)a->act > OCL_ACT_RELU)
        return cc_fail(CC_ERR_INVALID, "ocl_gemm: epilogue activation %d, expected 0..3", (int)a->act);
    return CC_OK;
}

/* ---------------- weights packed once ---------------- */

/* What a persistent copy of a weight holds: which copy (tag; negative, so
 * no lowering's memo key, which starts with an op kind, can equal it), of
 * which buffer from which offset, in which layout. */
enum { KEY_PACK_B = -101, KEY_PACK_A = -102, KEY_TRANS_B = -103, KEY_CONVERT_B = -104, KEY_CONVERT_A = -105 };

static int weight_key(int *key, int tag, cl_mem m, size_t off, const int *more, int n_more)
{
    const uint64_t u = (uint64_t)(uintptr_t)m, o = (uint64_t)off;
    key[0] = tag;
    key[1] = (int)(uint32_t)u;
    key[2] = (int)(uint32_t)(u >> 32);
    key[3] = (int)(uint32_t)o;
    key[4] = (int)(uint32_t)(o >> 32);
    for (int i = 0; i < n_more && 5 + i < OCL_GEMM_KEY_MAX; i++)
        key[5 + i] = more[i];
    return 5 + n_more < OCL_GEMM_KEY_MAX ? 5 + n_more : OCL_GEMM_KEY_MAX;
}

/* A derived copy of an operand: into shared scratch and launched every run
 * (activations, direct sinks), or, for a weight in a plan sink, into a
 * persistent buffer by a static launch, once per param change and once per
 * plan however many GEMMs read it (*skip = 1: an earlier GEMM made it). */
typedef struct derived {
    int once;          /* persistent + static launch */
    int key[OCL_GEMM_KEY_MAX], n_key;
} derived;

static int derived_buffer(const ocl_gemm_sink *s, derived *d, size_t bytes, cl_mem *out, int *skip)
{
    *skip = 0;
    if (d->once) {
        int rc = s->persistent(s->user, d->key, d->n_key, bytes, out, skip);
        if (rc || *out)
            return rc;
        d->once = 0; /* the plan keeps no copies (a tight device): every run */
    }
    return s->scratch(s->user, bytes, out);
}

static int derived_launch(const ocl_gemm_sink *s, const derived *d, cl_kernel k, cl_uint dims,
                          const size_t *gws, const size_t *lws)
{
    return d->once ? s->launch_static(s->user, k, dims, gws, lws) : s->launch(s->user, k, dims, gws, lws);
}

/* A 16-bit copy of a weight operand (nb items of n elements, src_stride
 * apart) for gemm_local, made once by a static launch: *m, *off, *stride
 * then address the copy. Nothing for f32 (read in place). */
static int convert_copy(const ocl_gemm_sink *s, derived *d, rt_dtype dt, cl_mem *m, int64_t *off,
                        int64_t *stride, size_t n, size_t nb)
{
    cl_mem dst;
    int skip, rc;
    char opts[32];
    snprintf(opts, sizeof opts, "-DPANEL_B_DT=%d", (int)dt); /* gemm_convert stores as PANEL_B_DT */
    if ((rc = derived_buffer(s, d, ocl_gemm_stored_bytes(dt, nb * n), &dst, &skip)))
        return rc;
    if (!skip) {
        cl_kernel k;
        if ((rc = s->kernel(s->user, "gemm.cl", "gemm_convert", opts, &k)) ||
            (rc = ocl_set_args(k, "mllml", *m, *off, *stride, dst, (int64_t)n)))
            return rc;
        size_t gws[2] = {n, nb};
        if ((rc = derived_launch(s, d, k, 2, gws, NULL)))
            return rc;
    }
    *m = dst;
    *off = 0;
    *stride = *stride ? (int64_t)n : 0;
    return CC_OK;
}

_Static_assert(OCL_GEMM_KEY_MAX <= OCL_MEMO_MAX_KEY, "a weight key must fit the plan memo");

static int sink_keeps_weights(const ocl_gemm_sink *s) { return s->persistent && s->launch_static; }

/* ---------------- own kernel ---------------- */

/* The GPU-class kernel, after A has been made row-major: B transposed into
 * scratch when stored N x K, then one gemm_local launch. */
static int emit_local(const ocl_gemm_sink *s, const ocl_gemm_args *g, cl_mem a, int64_t a_off,
                      int64_t a_stride, cl_mem bias, int64_t bias_off)
{
    int rc;
    if (g->b_packed)
        return cc_fail(CC_ERR_INVALID, "ocl_gemm: the local-memory kernel cannot take a pre-packed B");
    cl_mem b = g->b;
    int64_t b_off = (int64_t)g->b_off, b_stride = (int64_t)g->b_stride;
    /* a weight kept in 16 bits: a converted copy even where f32 reads it in
     * place (the copy is made once, like the transpose) */
    const int b_once = g->b_static && sink_keeps_weights(s);
    const rt_dtype b_dt = b_once ? s->ctx->weight_dtype : RT_DTYPE_F32;
    char dt_opts[48];
    dt_options("", RT_DTYPE_F32, b_dt, dt_opts, sizeof dt_opts);
    if (g->trans_b || b_dt != RT_DTYPE_F32) {
        size_t nb = g->b_stride ? (size_t)g->batch : 1;
        cl_mem bt;
        cl_kernel k;
        derived d = {b_once, {0}, 0};
        if (d.once) {
            const int more[] = {g->N, g->K, (int)nb, (int)g->b_stride};
            d.n_key = weight_key(d.key, g->trans_b ? KEY_TRANS_B : KEY_CONVERT_B, g->b, g->b_off, more, 4);
        }
        int skip;
        if ((rc = derived_buffer(s, &d, ocl_gemm_stored_bytes(b_dt, nb * (size_t)g->N * (size_t)g->K), &bt,
                                 &skip)))
            return rc;
        int64_t dst_stride = (int64_t)g->N * g->K;
        if (!skip && g->trans_b) {
            if ((rc = s->kernel(s->user, "gemm.cl", "gemm_transpose", dt_opts, &k)))
                return rc;
            /* source is N x K: R = N rows, Cn = K columns */
            if ((rc = ocl_set_args(k, "iimllml", g->N, g->K, g->b, b_off, b_stride, bt, dst_stride)))
                return rc;
            size_t gws[3] = {(size_t)g->K, ((size_t)g->N + 15) / 16, nb};
            if ((rc = derived_launch(s, &d, k, 3, gws, NULL)))
                return rc;
        } else if (!skip) {
            if ((rc = s->kernel(s->user, "gemm.cl", "gemm_convert", dt_opts, &k)))
                return rc;
            if ((rc = ocl_set_args(k, "mllml", g->b, b_off, b_stride, bt, dst_stride)))
                return rc;
            size_t gws[2] = {(size_t)g->N * (size_t)g->K, nb};
            if ((rc = derived_launch(s, &d, k, 2, gws, NULL)))
                return rc;
        }
        b = bt;
        b_off = 0;
        b_stride = g->b_stride ? dst_stride : 0;
    }
    /* a weight A (conv's W), not transposed (a transpose is scratch): the
     * same 16-bit copy */
    rt_dtype a_dt = RT_DTYPE_F32;
    if (g->a_static && !g->trans_a && sink_keeps_weights(s) && s->ctx->weight_dtype != RT_DTYPE_F32) {
        derived d = {1, {0}, 0};
        const size_t nb = a_stride ? (size_t)g->batch : 1;
        const int more[] = {g->M, g->K, (int)nb, (int)a_stride};
        d.n_key = weight_key(d.key, KEY_CONVERT_A, g->a, g->a_off, more, 4);
        a_dt = s->ctx->weight_dtype;
        if ((rc = convert_copy(s, &d, a_dt, &a, &a_off, &a_stride, (size_t)g->M * (size_t)g->K, nb)))
            return rc;
    }
    dt_options("", a_dt, b_dt, dt_opts, sizeof dt_opts);
    cl_kernel k;
    char opts[96];
    epi_options(g, dt_opts, opts, sizeof opts);
    if ((rc = s->kernel(s->user, "gemm.cl", "gemm_local", opts, &k)))
        return rc;
    if ((rc = ocl_set_args(k, "iiimllmllmllmliml", g->M, g->N, g->K, a, a_off, a_stride, b, b_off, b_stride,
                           g->c, (int64_t)g->c_off, (int64_t)g->c_stride, bias, bias_off, (int)g->bias_mode,
                           g->res ? g->res : g->c, (int64_t)g->res_off)))
        return rc;
    const size_t lws[3] = {16, 16, 1};
    size_t gws[3] = {ocl_round_up((size_t)g->N, 64) / 4, ocl_round_up((size_t)g->M, 64) / 4, (size_t)g->batch};
    return s->launch(s->user, k, 3, gws, lws);
}

static int emit_own(const ocl_gemm_sink *s, const ocl_gemm_args *g)
{
    ocl_gemm_tile t = ocl_gemm_tile_for(s->ctx);
    char opts[96], tile_opts[96], dt_opts[160], pack_opts[160];
    ocl_gemm_tile_options(s->ctx, t, tile_opts, sizeof tile_opts);
    snprintf(opts, sizeof opts, "%s", tile_opts); /* the epilogue is an argument (epi_code) */
    const size_t pw = (size_t)t.vw * (size_t)t.nv;
    const size_t panels = ocl_round_up((size_t)g->N, pw) / pw;
    const size_t one = 1;
    const size_t lws[3] = {1, 1, 1};
    int rc;

    /* A: transpose into scratch when stored K x M */
    cl_mem a = g->a;
    int64_t a_off = (int64_t)g->a_off, a_stride = (int64_t)g->a_stride;
    if (g->trans_a) {
        size_t nb = g->a_stride ? (size_t)g->batch : one;
        cl_mem at;
        cl_kernel k;
        if ((rc = s->scratch(s->user, nb * (size_t)g->M * (size_t)g->K * sizeof(float), &at)) ||
            (rc = s->kernel(s->user, "gemm.cl", "gemm_transpose", tile_opts, &k)))
            return rc;
        int64_t dst_stride = (int64_t)g->M * g->K;
        /* source is K x M: R = K rows, Cn = M columns */
        if ((rc = ocl_set_args(k, "iimllml", g->K, g->M, g->a, a_off, a_stride, at, dst_stride)))
            return rc;
        size_t gws[3] = {(size_t)g->M, ((size_t)g->K + 15) / 16, nb};
        if ((rc = s->launch(s->user, k, 3, gws, NULL)))
            return rc;
        a = at;
        a_off = 0;
        a_stride = g->a_stride ? dst_stride : 0;
    }

    const int bias_mode = (int)g->bias_mode;
    cl_mem res = g->res ? g->res : g->c; /* any valid buffer when unused */
    const int64_t res_off = g->res ? (int64_t)g->res_off : 0;
    cl_mem bias = g->bias_mode != OCL_BIAS_NONE ? g->bias : g->c; /* any valid buffer when unused */
    const int64_t bias_off = g->bias_mode != OCL_BIAS_NONE ? (int64_t)g->bias_off : 0;
    if (ocl_gemm_use_local(s->ctx))
        return emit_local(s, g, a, a_off, a_stride, bias, bias_off);

    /* B: in place (row-major, full panels), or packed into panels. A weight
     * packed once costs nothing per run, so it is always packed (the panels
     * are the faster read) unless CLIPCL_GEMM_PACK=never says otherwise. */
    const int b_once = g->b_static && !g->b_packed && sink_keeps_weights(s);
    /* weights packed once are stored as the plan's weight dtype (16-bit
     * panels are never read in place: the f32 original is not the copy) */
    const rt_dtype b_dt = b_once ? s->ctx->weight_dtype : RT_DTYPE_F32;
    const size_t full = (size_t)g->N / pw;
    size_t p_base = 0;
    const size_t row_tiles = ((size_t)g->M + (size_t)t.tm - 1) / (size_t)t.tm;
    const int in_place = b_once ? s->ctx->policy.gemm_pack_b == RT_PACK_NEVER && b_dt == RT_DTYPE_F32
                                : ocl_gemm_use_rowmajor_b(s->ctx, g->M, g->N, g->K, t);
    if (!g->b_packed && !g->trans_b && full > 0 && in_place) {
        cl_kernel k;
        if ((rc = s->kernel(s->user, "gemm.cl", "gemm_tiled_rm", opts, &k)))
            return rc;
        if ((rc = ocl_set_args(k, "iiimllmllmllmlimli", g->M, g->N, g->K, a, a_off, a_stride, g->b,
                               (int64_t)g->b_off, (int64_t)g->b_stride, g->c, (int64_t)g->c_off,
                               (int64_t)g->c_stride, bias, bias_off, bias_mode, res, res_off, epi_code(g))))
            return rc;
        size_t gws[3] = {row_tiles, full, (size_t)g->batch};
        if ((rc = s->launch(s->user, k, 3, gws, lws)))
            return rc;
        if (full == panels)
            return CC_OK;
        p_base = full; /* the partial last panel goes through a one-panel pack */
    }

    cl_mem bp = g->b;
    int64_t bp_stride;
    const size_t n_panels = panels - p_base;
    if (g->b_packed) {
        bp_stride = (int64_t)g->b_stride;
        if (g->b_off) /* panels are addressed from 0; a packed producer writes at 0 */
            return cc_fail(CC_ERR_INVALID, "ocl_gemm: pre-packed B must start at offset 0, found %zu", g->b_off);
    } else {
        size_t nb = g->b_stride ? (size_t)g->batch : one;
        size_t per = n_panels * pw * (size_t)g->K;
        cl_kernel k;
        derived d = {b_once, {0}, 0};
        if (d.once) {
            const int more[] = {g->N, g->K, g->trans_b, (int)pw, (int)p_base, (int)nb, (int)g->b_stride};
            d.n_key = weight_key(d.key, KEY_PACK_B, g->b, g->b_off, more, 7);
        }
        int skip;
        if ((rc = derived_buffer(s, &d, ocl_gemm_stored_bytes(b_dt, nb * per), &bp, &skip)))
            return rc;
        if (!skip) {
            dt_options(tile_opts, RT_DTYPE_F32, b_dt, pack_opts, sizeof pack_opts);
            if ((rc = s->kernel(s->user, "gemm.cl", "gemm_pack_b", pack_opts, &k)))
                return rc;
            if ((rc = ocl_set_args(k, "iiimllmi", g->N, g->K, g->trans_b, g->b, (int64_t)g->b_off,
                                   (int64_t)g->b_stride, bp, (int)p_base)))
                return rc;
            size_t gws[3] = {(size_t)g->K, n_panels, nb};
            if ((rc = derived_launch(s, &d, k, 3, gws, NULL)))
                return rc;
        }
        bp_stride = g->b_stride ? (int64_t)per : 0;
        /* no in-place launch read B (p_base 0), the kernel below reads bp */
        if (d.once && p_base == 0 && s->packed_only && (rc = s->packed_only(s->user, g->b)))
            return rc;
    }

    cl_kernel k;
    if (ocl_gemm_use_packed_a(s->ctx, g->M, t)) {
        /* The row-tile kernel. A weight A (conv's W; not after a transpose,
         * whose scratch is re-made every run) goes into row panels once
         * (free after the first run, and the only way to store it in 16
         * bits); an activation is read in place (the kernel reads TM
         * sequential row streams either way: a pack per run was a copy of
         * M x K and a second copy of A in the cache, docs/gemm.md "A in
         * place"), unless CLIPCL_GEMM_PACK_A=always packs it too. */
        const int a_once = g->a_static && !g->trans_a && sink_keeps_weights(s);
        const rt_dtype a_dt = a_once ? s->ctx->weight_dtype : RT_DTYPE_F32;
        cl_mem ap = a;
        int64_t ap_off = a_off, ap_stride = a_stride;
        int lda = g->K;
        if (a_once || s->ctx->policy.gemm_pack_a == RT_PACK_ALWAYS) {
            size_t nb = a_stride ? (size_t)g->batch : one;
            size_t per = row_tiles * (size_t)t.tm * (size_t)g->K;
            derived d = {a_once, {0}, 0};
            if (d.once) {
                const int more[] = {g->M, g->K, t.tm, (int)nb, (int)a_stride};
                d.n_key = weight_key(d.key, KEY_PACK_A, g->a, g->a_off, more, 5);
            }
            int skip;
            if ((rc = derived_buffer(s, &d, ocl_gemm_stored_bytes(a_dt, nb * per), &ap, &skip)))
                return rc;
            if (!skip) {
                dt_options(tile_opts, a_dt, RT_DTYPE_F32, pack_opts, sizeof pack_opts);
                if ((rc = s->kernel(s->user, "gemm.cl", "gemm_pack_a", pack_opts, &k)))
                    return rc;
                if ((rc = ocl_set_args(k, "iimllm", g->M, g->K, a, a_off, a_stride, ap)))
                    return rc;
                size_t pgws[3] = {(size_t)g->K, row_tiles, nb};
                if ((rc = derived_launch(s, &d, k, 3, pgws, NULL)))
                    return rc;
            }
            if (d.once && a == g->a && s->packed_only && (rc = s->packed_only(s->user, g->a)))
                return rc;
            ap_off = 0;
            ap_stride = a_stride ? (int64_t)per : 0;
            lda = 0;
        }
        dt_options(opts, a_dt, b_dt, dt_opts, sizeof dt_opts);
        if ((rc = s->kernel(s->user, "gemm.cl", "gemm_tiled_pa", dt_opts, &k)))
            return rc;
        const int rt = pa_rt(s->ctx, row_tiles, n_panels * (size_t)g->batch);
        /* per batch item: A as the kernel reads it, B's panels */
        const size_t a_bytes = ocl_gemm_stored_bytes(a_dt, (lda ? (size_t)g->M : row_tiles * (size_t)t.tm) *
                                                               (size_t)g->K);
        const size_t b_bytes = ocl_gemm_stored_bytes(b_dt, n_panels * pw * (size_t)g->K);
        const int pmajor = ocl_gemm_panel_major(s->ctx, a_bytes, b_bytes);
        if ((rc = ocl_set_args(k, "iiimllimlmllmliiimliii", g->M, g->N, g->K, ap, ap_off, ap_stride, lda, bp,
                               bp_stride, g->c, (int64_t)g->c_off, (int64_t)g->c_stride, bias, bias_off,
                               bias_mode, (int)p_base, rt, res, res_off, ocl_gemm_use_tail(s->ctx, g->M, t),
                               pmajor, epi_code(g))))
            return rc;
        const size_t groups = (row_tiles + (size_t)rt - 1) / (size_t)rt;
        size_t gws[3] = {pmajor ? n_panels : groups, pmajor ? groups : n_panels, (size_t)g->batch};
        return s->launch(s->user, k, 3, gws, lws);
    }
    dt_options(opts, RT_DTYPE_F32, b_dt, dt_opts, sizeof dt_opts);
    /* same arguments; M = 1: a work-item per panel, one row (ocl_gemm_small.c) */
    if ((rc = s->kernel(s->user, "gemm.cl", ocl_gemm_use_gemv(s->ctx, g->M) ? "gemm_gemv" : "gemm_tiled",
                        dt_opts, &k)))
        return rc;
    if ((rc = ocl_set_args(k, "iiimllmlmllmliimli", g->M, g->N, g->K, a, a_off, a_stride, bp, bp_stride,
                           g->c, (int64_t)g->c_off, (int64_t)g->c_stride, bias, bias_off, bias_mode,
                           (int)p_base, res, res_off, epi_code(g))))
        return rc;
    size_t gws[3] = {row_tiles, n_panels, (size_t)g->batch};
    return s->launch(s->user, k, 3, gws, lws);
}

/* ---------------- CLBlast ---------------- */

typedef struct clblast_call {
    ocl_gemm_args g;
} clblast_call;

static int run_clblast(rt_ctx *ctx, void *data)
{
    const ocl_gemm_args *g = &((const clblast_call *)data)->g;
    const CLBlastTranspose ta = g->trans_a ? CLBlastTransposeYes : CLBlastTransposeNo;
    const CLBlastTranspose tb = g->trans_b ? CLBlastTransposeYes : CLBlastTransposeNo;
    const size_t lda = g->trans_a ? (size_t)g->M : (size_t)g->K;
    const size_t ldb = g->trans_b ? (size_t)g->K : (size_t)g->N;
    const float beta = g->bias_mode != OCL_BIAS_NONE ? 1.0f : 0.0f;
    /* inside a profiled plan run this attributes the time to the node */
    cl_event *ev = ocl_lower_event_slot();
    CLBlastStatusCode st;
    if (g->batch == 1)
        st = CLBlastSgemm(CLBlastLayoutRowMajor, ta, tb, (size_t)g->M, (size_t)g->N, (size_t)g->K, 1.0f,
                          g->a, g->a_off, lda, g->b, g->b_off, ldb, beta, g->c, g->c_off, (size_t)g->N,
                          &ctx->queue, ev);
    else
        st = CLBlastSgemmStridedBatched(CLBlastLayoutRowMajor, ta, tb, (size_t)g->M, (size_t)g->N,
                                        (size_t)g->K, 1.0f, g->a, g->a_off, lda, g->a_stride, g->b,
                                        g->b_off, ldb, g->b_stride, beta, g->c, g->c_off, (size_t)g->N,
                                        g->c_stride, (size_t)g->batch, &ctx->queue, ev);
    if (st != CLBlastSuccess)
        return cc_fail(CC_ERR_OPENCL, "CLBlast sgemm %dx%dx%d batch %d failed: status %d", g->M, g->N,
                       g->K, g->batch, (int)st);
    return CC_OK;
}

static int emit_clblast(const ocl_gemm_sink *s, const ocl_gemm_args *g)
{
    int rc;
    if (g->b_packed)
        return cc_fail(CC_ERR_INVALID, "ocl_gemm: CLBlast cannot take a pre-packed B");
    /* With an epilogue the bias comes after the GEMM, with the activation
     * and residual, in one gemm_epilogue pass; CLBlast then runs with beta 0. */
    const int epi = has_epilogue(g);
    if (g->bias_mode != OCL_BIAS_NONE && !epi) {
        cl_kernel k;
        if ((rc = s->kernel(s->user, "gemm.cl", "gemm_bias_fill", "", &k)))
            return rc;
        if ((rc = ocl_set_args(k, "iimllmli", g->M, g->N, g->c, (int64_t)g->c_off, (int64_t)g->c_stride,
                               g->bias, (int64_t)g->bias_off, (int)g->bias_mode)))
            return rc;
        size_t gws[3] = {(size_t)g->N, (size_t)g->M, (size_t)g->batch};
        if ((rc = s->launch(s->user, k, 3, gws, NULL)))
            return rc;
    }
    clblast_call *d = malloc(sizeof *d);
    if (!d)
        return cc_fail(CC_ERR_NOMEM, "ocl_gemm: out of memory for a CLBlast call");
    d->g = *g;
    if (epi)
        d->g.bias_mode = OCL_BIAS_NONE; /* beta 0: the epilogue adds the bias */
    /* operands may be plan shared scratch (conv's im2col): re-bound after lowering */
    ocl_ss_note_slot(&d->g.a);
    ocl_ss_note_slot(&d->g.b);
    ocl_ss_note_slot(&d->g.c);
    ocl_ss_note_slot(&d->g.bias);
    if ((rc = s->call(s->user, run_clblast, d)) || !epi)
        return rc;
    cl_kernel k;
    char opts[64];
    epi_options(g, "", opts, sizeof opts);
    if ((rc = s->kernel(s->user, "gemm.cl", "gemm_epilogue", opts, &k)))
        return rc;
    if ((rc = ocl_set_args(k, "iimllmliml", g->M, g->N, g->c, (int64_t)g->c_off, (int64_t)g->c_stride,
                           g->bias_mode != OCL_BIAS_NONE ? g->bias : g->c,
                           g->bias_mode != OCL_BIAS_NONE ? (int64_t)g->bias_off : 0, (int)g->bias_mode,
                           g->res ? g->res : g->c, (int64_t)g->res_off)))
        return rc;
    size_t gws[3] = {(size_t)g->N, (size_t)g->M, (size_t)g->batch};
    return s->launch(s->user, k, 3, gws, NULL);
}

/* ---------------- entry ---------------- */

int ocl_gemm_emit(const ocl_gemm_sink *s, const ocl_gemm_args *a, ocl_gemm_impl impl)
{
    int rc = check_args(a);
    if (rc)
        return rc;
    if (impl == OCL_GEMM_AUTO && (rc = ocl_gemm_choose(s->ctx, &impl)))
        return rc;
    ocl_gemm_args g = *a;
    if (g.bias_mode == OCL_BIAS_NONE)
        g.bias_off = 0;
    /* A batch over a shared B with contiguous A and C rows is one taller GEMM:
     * fewer partial row tiles, one pack of B. */
    if (g.batch > 1 && g.b_stride == 0 && !g.trans_a && g.bias_mode != OCL_BIAS_ROW &&
        g.a_stride == (size_t)g.M * g.K && g.c_stride == (size_t)g.M * g.N &&
        (int64_t)g.M * g.batch <= 0x7fffffff) {
        g.M *= g.batch;
        g.batch = 1;
        g.a_stride = g.c_stride = 0;
    }
    if (g.batch == 1)
        g.a_stride = g.b_stride = g.c_stride = 0;
    return impl == OCL_GEMM_CLBLAST ? emit_clblast(s, &g) : emit_own(s, &g);
}

const char *ocl_gemm_impl_name(ocl_gemm_impl impl)
{
    switch (impl) {
    case OCL_GEMM_OWN: return "own";
    case OCL_GEMM_CLBLAST: return "clblast";
    default: return "auto";
    }
}

/* ---------------- sinks ---------------- */

static int plan_kernel(void *u, const char *file, const char *name, const char *opts, cl_kernel *out)
{
    return ocl_lower_kernel(((ocl_gemm_plan_user *)u)->lc, file, name, opts, out);
}
/* Packed or transposed activations live only within the node's launches:
 * the plan-wide shared scratch (re-made every run anyway). */
static int plan_scratch(void *u, size_t bytes, cl_mem *out)
{
    return ocl_lower_shared_scratch(((ocl_gemm_plan_user *)u)->lc, bytes, out);
}
/* Packed weights: persistent, shared by the GEMMs of the plan that read
 * the same weight the same way (ocl_lower_weight_copy). */
static int plan_persistent(void *u, const int *key, int n_key, size_t bytes, cl_mem *out, int *found)
{
    return ocl_lower_weight_copy(((ocl_gemm_plan_user *)u)->lc, key, n_key, bytes, out, found);
}
static int plan_launch_static(void *u, cl_kernel k, cl_uint dims, const size_t *gws, const size_t *lws)
{
    ocl_gemm_plan_user *p = u;
    return ocl_lower_launch_static(p->lc, p->node, k, dims, gws, lws);
}
static int plan_packed_only(void *u, cl_mem src)
{
    ocl_gemm_plan_user *p = u;
    return ocl_lower_note_packed_read(p->lc, p->node, src);
}
static int plan_launch(void *u, cl_kernel k, cl_uint dims, const size_t *gws, const size_t *lws)
{
    ocl_gemm_plan_user *p = u;
    return ocl_lower_launch(p->lc, p->node, k, dims, gws, lws);
}
static int plan_call(void *u, ocl_host_call fn, void *data)
{
    ocl_gemm_plan_user *p = u;
    int rc = ocl_lower_call(p->lc, p->node, fn, data);
    /* the GEMM's only host call is CLBlast's: named for the self-check */
    return rc ? rc : ocl_lower_note_use(p->lc, "clblast", "");
}

void ocl_gemm_plan_sink(ocl_lower *lc, int node, ocl_gemm_plan_user *storage, ocl_gemm_sink *out)
{
    storage->lc = lc;
    storage->node = node;
    out->ctx = ocl_lower_ctx(lc);
    out->user = storage;
    out->kernel = plan_kernel;
    out->scratch = plan_scratch;
    out->launch = plan_launch;
    out->call = plan_call;
    out->persistent = plan_persistent;
    out->launch_static = plan_launch_static;
    out->packed_only = plan_packed_only;
}
