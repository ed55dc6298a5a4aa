/* The device self-check (selfcheck.h): the parts of the kernel variants (one
 * table: which kernels carry which part, and the test graph and policy that
 * run them), the fusion patterns, and the result known per device (this
 * process's memory, the cache file). The test graphs are in
 * selfcheck_cases.c. */
#include "backends/selfcheck.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/opencl/ocl_fusion.h"
#include "backends/opencl/ocl_gemm.h"
#include "backends/selfcheck_cache.h"
#include "backends/selfcheck_cases.h"
#include "runtime/clock.h"
#include "runtime/status.h"

/* ---- the parts ----------------------------------------------------------- */

/* A variant is checked in parts, one per kernel (or kernel pair) that
 * carries it, so that a plan's check runs only the kernels the plan has
 * compiled: a ViT never compiles reduce.cl or the packed-B GEMM. An item is
 * named "<variant>:<part>" ("gemm=own/cpu:packed_a"); a failing part
 * disables its whole variant (sc_summarise: by the prefix). */
typedef struct sc_part {
    rt_variant v;
    const char *part;              /* NULL: the variant is one part, named as the variant */
    sc_graph graph;
    rt_pack_choice pack_a, pack_b; /* own CPU-style GEMM: the packing whose kernel carries the part */
    const char *kernels[2];        /* function names ("clblast": CLBlast's calls) */
} sc_part;

static const sc_part parts[] = {
    {RT_VAR_ROW_CPU, "softmax", SCG_SOFTMAX, RT_PACK_AUTO, RT_PACK_AUTO, {"softmax_rows"}},
    {RT_VAR_ROW_CPU, "layernorm", SCG_LAYERNORM, RT_PACK_AUTO, RT_PACK_AUTO, {"layernorm_rows"}},
    {RT_VAR_ROW_CPU, "l2norm", SCG_L2NORM, RT_PACK_AUTO, RT_PACK_AUTO, {"l2norm_rows"}},
    {RT_VAR_ROW_CPU, "reduce", SCG_REDUCE, RT_PACK_AUTO, RT_PACK_AUTO, {"sum_rows", "max_rows"}},
    {RT_VAR_ROW_CPU, "bn_stats", SCG_BN_STATS, RT_PACK_AUTO, RT_PACK_AUTO, {"bn_stats_rows"}},
    {RT_VAR_ROW_CPU, "bn_grad_sums", SCG_BN_GRAD, RT_PACK_AUTO, RT_PACK_AUTO, {"bn_grad_sums_rows"}},
    {RT_VAR_ROW_GPU, "softmax", SCG_SOFTMAX, RT_PACK_AUTO, RT_PACK_AUTO, {"softmax_wg"}},
    {RT_VAR_ROW_GPU, "layernorm", SCG_LAYERNORM, RT_PACK_AUTO, RT_PACK_AUTO, {"layernorm_wg"}},
    {RT_VAR_ROW_GPU, "l2norm", SCG_L2NORM, RT_PACK_AUTO, RT_PACK_AUTO, {"l2norm_wg"}},
    {RT_VAR_ROW_GPU, "reduce", SCG_REDUCE, RT_PACK_AUTO, RT_PACK_AUTO, {"sum_wg", "max_wg"}},
    {RT_VAR_ROW_GPU, "bn_stats", SCG_BN_STATS, RT_PACK_AUTO, RT_PACK_AUTO, {"bn_stats_wg"}},
    {RT_VAR_ROW_GPU, "bn_grad_sums", SCG_BN_GRAD, RT_PACK_AUTO, RT_PACK_AUTO, {"bn_grad_sums_wg"}},
    /* the own CPU-style GEMM: one kernel per packing of A and B the shape
     * rule may pick (ocl_gemm.c), and the one-row kernel */
    {RT_VAR_GEMM_OWN_CPU, "packed_a", SCG_GEMM, RT_PACK_ALWAYS, RT_PACK_ALWAYS, {"gemm_tiled_pa"}},
    {RT_VAR_GEMM_OWN_CPU, "packed_b", SCG_GEMM, RT_PACK_NEVER, RT_PACK_ALWAYS, {"gemm_tiled"}},
    {RT_VAR_GEMM_OWN_CPU, "rowmajor_b", SCG_GEMM, RT_PACK_NEVER, RT_PACK_NEVER, {"gemm_tiled_rm"}},
    {RT_VAR_GEMM_OWN_CPU, "gemv", SCG_GEMV, RT_PACK_NEVER, RT_PACK_ALWAYS, {"gemm_gemv"}},
    {RT_VAR_GEMM_OWN_GPU, NULL, SCG_GEMM, RT_PACK_AUTO, RT_PACK_AUTO, {"gemm_local"}},
    {RT_VAR_GEMM_CLBLAST, NULL, SCG_GEMM, RT_PACK_AUTO, RT_PACK_AUTO, {"clblast"}},
    {RT_VAR_ATTENTION_CPU, NULL, SCG_ATTENTION, RT_PACK_AUTO, RT_PACK_AUTO, {"attention_cpu"}},
    {RT_VAR_ATTENTION_ROWS, NULL, SCG_ATTENTION, RT_PACK_AUTO, RT_PACK_AUTO, {"attention_rows"}},
};
#define N_PARTS ((int)(sizeof parts / sizeof parts[0]))

static void part_name(int i, char *buf, size_t len)
{
    if (parts[i].part)
        snprintf(buf, len, "%s:%s", rt_variant_name(parts[i].v), parts[i].part);
    else
        snprintf(buf, len, "%s", rt_variant_name(parts[i].v));
}

static int part_of(const char *kernel)
{
    for (int i = 0; kernel && i < N_PARTS; i++)
        for (int k = 0; k < 2; k++)
            if (parts[i].kernels[k] && !strcmp(parts[i].kernels[k], kernel))
                return i;
    return -1;
}

const char *backend_selfcheck_part(const char *kernel, char *buf, size_t len)
{
    const int i = part_of(kernel);
    if (i < 0)
        return NULL;
    part_name(i, buf, len);
    return buf;
}

/* The shape of the plan's program (attention_cpu: -DHD=<head dim>
 * -DKB=<key block>, the keys rounded up to 16; attention_rows: -DHD), so the
 * check compiles that program, not one of its own: keys = KB - 14 rounds up
 * to KB whatever the cap on KB. */
static sc_shape shape_of(const char *options)
{
    sc_shape s = {0, 0};
    const char *hd = options ? strstr(options, "-DHD=") : NULL, *kb = options ? strstr(options, "-DKB=") : NULL;
    if (hd)
        s.head_dim = atoi(hd + 5);
    if (kb && atoi(kb + 5) > 14)
        s.keys = atoi(kb + 5) - 14;
    return s;
}

/* ---- the process memory ------------------------------------------------- */

typedef struct memo_entry {
    cl_device_id dev;
    char key[17];
    sc_report r;
} memo_entry;

static pthread_mutex_t memo_lock = PTHREAD_MUTEX_INITIALIZER;
static memo_entry memo[8];
static int n_memo;

void backend_selfcheck_reset(void)
{
    pthread_mutex_lock(&memo_lock);
    n_memo = 0;
    pthread_mutex_unlock(&memo_lock);
}

/* ---- the checks ---------------------------------------------------------- */

/* What a plan on ctx uses given the result so far: ctx's policy with the
 * device's GEMM choice and tile as known (never measured here: a plan that
 * multiplies has measured before its check) and r applied. */
static rt_policy effective_policy(rt_ctx *ctx, sc_report *r)
{
    const rt_policy saved = ctx->policy;
    if (ocl_gemm_policy_overlay(ctx))
        cc_clear_error();
    rt_policy p = ctx->policy;
    ctx->policy = saved;
    sc_summarise(r);
    rt_policy_apply_selfcheck(&p, r->disabled, r->fusion_off);
    return p;
}

/* The policy a part's check runs under: the effective one, fusion off, the
 * GEMM forced to one implementation so that nothing is measured, and the
 * fields that select the part's kernel. */
static rt_policy part_policy(const rt_policy *eff, const sc_part *pt)
{
    rt_policy p = *eff;
    p.fusion_enabled = 0;
    p.fusion_patterns[0] = 0;
    p.gemm_impl_error[0] = 0;
    p.gemm_impl = RT_GEMM_OWN;
    p.source[RT_POL_GEMM_IMPL] = RT_SRC_DEFAULT;
    switch (pt->v) {
    case RT_VAR_ROW_CPU: case RT_VAR_ROW_GPU:
        p.row_variant = pt->v == RT_VAR_ROW_GPU ? RT_STYLE_GPU : RT_STYLE_CPU;
        break;
    case RT_VAR_ATTENTION_CPU: case RT_VAR_ATTENTION_ROWS:
        p.attention = pt->v == RT_VAR_ATTENTION_ROWS ? RT_STYLE_GPU : RT_STYLE_CPU;
        break;
    case RT_VAR_GEMM_OWN_GPU:
        p.gemm_variant = RT_STYLE_GPU;
        break;
    case RT_VAR_GEMM_CLBLAST:
        p.gemm_impl = RT_GEMM_CLBLAST;
        break;
    default:
        p.gemm_variant = RT_STYLE_CPU;
        p.gemm_pack_a = pt->pack_a;
        p.gemm_pack_b = pt->pack_b;
        if (pt->graph == SCG_GEMV)
            p.gemm_small_m = 1;
        break;
    }
    return p;
}

static rt_variant own_gemm_of(const rt_policy *p)
{
    return p->gemm_variant == RT_STYLE_GPU ? RT_VAR_GEMM_OWN_GPU : RT_VAR_GEMM_OWN_CPU;
}

static int open_ref(backend **ref)
{
    return *ref ? CC_OK : backend_open("ref", 0, ref);
}

/* Runs c under each policy until one disagrees; adds the item. */
static void check_one(rt_ctx *ctx, sc_report *r, const char *name, const rt_policy *pols, int n_pols,
                      const sc_case *c)
{
    char why[240] = "";
    const double t0 = cc_now_s();
    int bad = 0;
    for (int i = 0; i < n_pols && !bad; i++)
        bad = sc_case_run(ctx, &pols[i], c, why, sizeof why);
    sc_add_item(r, name, bad, why, cc_now_s() - t0, 1);
}

/* Checks part i on the shape sh (NULL: the default one); *disabled: it
 * failed. Weights stored in 16 bits are checked as the plan stores them, on
 * inputs they keep exactly (sc_case_prepare). */
static int check_part(rt_ctx *ctx, backend **ref, sc_report *r, const rt_policy *eff, int i, const sc_shape *sh,
                      int *disabled)
{
    char name[48];
    part_name(i, name, sizeof name);
    sc_case c;
    memset(&c, 0, sizeof c);
    int rc = open_ref(ref);
    if (!rc)
        rc = sc_case_prepare(&c, *ref, parts[i].graph, sh, ctx->weight_dtype != RT_DTYPE_F32);
    if (!rc) {
        rt_policy p[2] = {part_policy(eff, &parts[i])};
        int n_p = 1;
        /* the row-tile kernel reads A two ways: packed (a weight, or
         * CLIPCL_GEMM_PACK_A=always) and in place (an activation, the
         * default): both branches, the in-place one first */
        if (parts[i].v == RT_VAR_GEMM_OWN_CPU && parts[i].pack_a == RT_PACK_ALWAYS) {
            p[1] = p[0];
            p[0].gemm_pack_a = RT_PACK_IN_PLACE;
            n_p = 2;
        }
        const int before = r->n_items;
        check_one(ctx, r, name, p, n_p, &c);
        *disabled |= r->n_items > before && r->item[r->n_items - 1].disabled;
    }
    sc_case_free(&c);
    return rc;
}

/* The GEMMs a fusion pattern is checked with (the own kernels apply a GEMM
 * epilogue in their store, CLBlast in a launch after), and the packing of
 * the own CPU-style kernel. */
typedef struct sc_gemms {
    int own, clblast;
    rt_pack_choice pack_a, pack_b;
} sc_gemms;

/* What a plan's kernels say: the GEMMs it runs, and the packing of the own
 * kernel it compiled (the pattern's check then compiles nothing new). */
static sc_gemms gemms_of_uses(const sc_uses *u, const rt_policy *eff)
{
    sc_gemms gm = {0, 0, eff->gemm_pack_a, eff->gemm_pack_b};
    int pa = 0, pb = 0, rm = 0;
    for (int k = 0; k < u->n_kernels; k++) {
        const int i = part_of(u->kernels[k].name);
        if (i < 0)
            continue;
        gm.clblast |= parts[i].v == RT_VAR_GEMM_CLBLAST;
        gm.own |= parts[i].v == RT_VAR_GEMM_OWN_CPU || parts[i].v == RT_VAR_GEMM_OWN_GPU;
        pa |= !strcmp(u->kernels[k].name, "gemm_tiled_pa");
        pb |= !strcmp(u->kernels[k].name, "gemm_tiled");
        rm |= !strcmp(u->kernels[k].name, "gemm_tiled_rm");
    }
    if (pa)
        gm.pack_a = RT_PACK_IN_PLACE; /* the plans' own branch: an activation A read in place */
    else if (pb || rm) {
        gm.pack_a = RT_PACK_NEVER;
        gm.pack_b = pb ? RT_PACK_ALWAYS : RT_PACK_NEVER;
    }
    if (!gm.own && !gm.clblast) { /* no GEMM: any one that is not off */
        gm.own = !((eff->selfcheck_disabled >> own_gemm_of(eff)) & 1u);
        gm.clblast = !gm.own;
    }
    return gm;
}

/* Every GEMM not off; the own CPU-style row-tile kernel, A in place, the one the
 * tower GEMMs (M = tokens x batch) fuse into. */
static sc_gemms gemms_all(const rt_policy *eff)
{
    sc_gemms gm = {!((eff->selfcheck_disabled >> own_gemm_of(eff)) & 1u),
                   !((eff->selfcheck_disabled >> RT_VAR_GEMM_CLBLAST) & 1u), eff->gemm_pack_a, eff->gemm_pack_b};
    if (gm.pack_a == RT_PACK_AUTO)
        gm.pack_a = RT_PACK_IN_PLACE;
    return gm;
}

static int in_list(const char *const *names, int n, const char *pattern)
{
    for (int i = 0; i < n; i++)
        if (names[i] && !strcmp(names[i], pattern))
            return 1;
    return 0;
}

/* Each fusion pattern not known yet (names: only those, n of them; NULL:
 * every one), alone, with the GEMMs of gm. */
static int check_fusion(rt_ctx *ctx, backend **ref, sc_report *r, const rt_policy *eff, const char *const *names,
                        int n_names, const sc_gemms *gm)
{
    int rc = CC_OK;
    for (int i = 0; i < ocl_fusion_count() && !rc; i++) {
        const ocl_fusion_pattern *pat = ocl_fusion_get(i);
        char name[48];
        snprintf(name, sizeof name, "fusion=%s", pat->name);
        if (sc_has_item(r, name) || (names && !in_list(names, n_names, pat->name)))
            continue;
        const int matmul = !strncmp(pat->name, "matmul_", 7);
        rt_policy p[2];
        int n_p = 0;
        for (int impl = 0; impl < 2; impl++) {
            if (!(impl ? gm->clblast : gm->own) || (impl && n_p && !matmul))
                continue;
            p[n_p] = *eff;
            p[n_p].gemm_impl = impl ? RT_GEMM_CLBLAST : RT_GEMM_OWN; /* measuring is not checking */
            p[n_p].source[RT_POL_GEMM_IMPL] = RT_SRC_DEFAULT;
            p[n_p].gemm_impl_error[0] = 0;
            p[n_p].fusion_enabled = 0;
            /* the epilogue is the same code in every own CPU-style kernel:
             * checked on the one the plan compiled */
            if (!impl && p[n_p].gemm_variant == RT_STYLE_CPU && matmul) {
                p[n_p].gemm_pack_a = gm->pack_a;
                p[n_p].gemm_pack_b = gm->pack_b;
            }
            snprintf(p[n_p].fusion_patterns, sizeof p[n_p].fusion_patterns, ",%s,", pat->name);
            n_p++;
        }
        if (!n_p)
            continue;
        ocl_fusion_example ex;
        memset(&ex, 0, sizeof ex);
        sc_case c;
        memset(&c, 0, sizeof c);
        if ((rc = open_ref(ref)))
            break;
        if (!(c.g = g_new()))
            return cc_fail(CC_ERR_NOMEM, "device self-check: out of host memory");
        /* a GEMM pattern on 13 x K (N = K + 6), the GEMM part's linear
         * layer: the same packing launches, whose work-group code the
         * driver has generated already; the others on 7 x 33 */
        if (pat->example(c.g, matmul ? 13 : 7, matmul ? SC_GEMM_K : 33, &ex) != 0)
            rc = cc_fail(CC_ERR_INVALID, "device self-check: fusion example %s: %s", pat->name, cc_last_error());
        else if (!(rc = sc_case_prepare_graph(&c, *ref, ex.positive, ex.n_positive,
                                              ctx->weight_dtype != RT_DTYPE_F32)))
            check_one(ctx, r, name, p, n_p, &c);
        sc_case_free(&c);
    }
    return rc;
}

/* Checks what r does not hold yet. all: every part of every variant, then
 * every fusion pattern. Otherwise the parts of the kernels in uses (the
 * shapes their programs were built for), then the fusion patterns in uses
 * unless a part failed now (the plan is lowered again without it and its
 * check asks for the patterns again). */
static int run_checks(rt_ctx *ctx, sc_report *r, int all, const sc_uses *uses)
{
    backend *ref = NULL;
    int rc = CC_OK, disabled = 0;
    const rt_policy eff = effective_policy(ctx, r);
    for (int i = 0; all && i < N_PARTS && !rc; i++) {
        char name[48];
        part_name(i, name, sizeof name);
        if (sc_has_item(r, name) ||
            (parts[i].v == RT_VAR_GEMM_OWN_GPU && ctx->dev.max_work_group_size < 256)) /* what gemm_local needs */
            continue;
        rc = check_part(ctx, &ref, r, &eff, i, NULL, &disabled);
    }
    for (int k = 0; !all && uses && k < uses->n_kernels && !rc; k++) {
        const int i = part_of(uses->kernels[k].name);
        char name[48];
        if (i < 0)
            continue;
        part_name(i, name, sizeof name);
        if (sc_has_item(r, name))
            continue;
        const sc_shape sh = shape_of(uses->kernels[k].options);
        rc = check_part(ctx, &ref, r, &eff, i, &sh, &disabled);
    }
    if (!rc && (all || (uses && uses->n_patterns > 0 && !disabled))) {
        const rt_policy now = effective_policy(ctx, r); /* with what failed above */
        const sc_gemms gm = all ? gemms_all(&now) : gemms_of_uses(uses, &now);
        rc = check_fusion(ctx, &ref, r, &now, all ? NULL : uses->patterns, all ? 0 : uses->n_patterns, &gm);
    }
    sc_summarise(r);
    backend_close(ref);
    return rc;
}

static int selfcheck(rt_ctx *ctx, int flags, const sc_uses *uses, sc_report *out)
{
    memset(out, 0, sizeof *out);
    if (!ctx)
        return cc_fail(CC_ERR_INVALID, "backend_selfcheck: ctx must not be NULL");
    char hex[17];
    sc_key_of(ctx, hex);
    if (sc_cache_path(hex, out->cache_file, sizeof out->cache_file))
        out->cache_file[0] = 0;
    int rc = CC_OK;
    /* one check at a time: two threads opening the same device wait for one */
    pthread_mutex_lock(&memo_lock);
    memo_entry *e = NULL;
    for (int i = 0; i < n_memo; i++)
        if (memo[i].dev == ctx->dev.device && !strcmp(memo[i].key, hex))
            e = &memo[i];
    const int fresh = flags & SC_FRESH;
    if (e && !fresh) {
        const sc_report known = e->r;
        *out = known;
    } else if (fresh || !out->cache_file[0] || !sc_read_cache(out->cache_file, out)) {
        out->n_items = 0;
    }
    for (int i = 0; i < out->n_items; i++) {
        out->item[i].now = 0;
        out->item[i].seconds = 0;
    }
    const int known = out->n_items;
    const double t0 = cc_now_s();
    rc = run_checks(ctx, out, flags & SC_ALL, uses);
    out->ran = out->n_items > known;
    out->seconds = out->ran ? cc_now_s() - t0 : 0;
    if (!rc && out->cache_file[0]) {
        if (out->ran)
            sc_write_cache(ctx, out->cache_file, out);
        else if (fresh && !out->n_items)
            remove(out->cache_file); /* forgotten: the next process checks again too */
    }
    if (!rc) {
        if (!e && n_memo < (int)(sizeof memo / sizeof memo[0]))
            e = &memo[n_memo++];
        if (e) {
            e->dev = ctx->dev.device;
            snprintf(e->key, sizeof e->key, "%s", hex);
            e->r = *out;
        }
        rt_policy_apply_selfcheck(&ctx->policy, out->disabled, out->fusion_off);
    }
    pthread_mutex_unlock(&memo_lock);
    return rc;
}

int backend_selfcheck(rt_ctx *ctx, int flags, sc_report *out)
{
    return selfcheck(ctx, flags, NULL, out);
}

int backend_selfcheck_uses(rt_ctx *ctx, const sc_uses *uses, sc_report *out, int *n_disabled)
{
    *n_disabled = 0;
    int rc = selfcheck(ctx, 0, uses, out);
    for (int i = 0; !rc && i < out->n_items; i++)
        *n_disabled += out->item[i].now && out->item[i].disabled;
    return rc;
}

void backend_selfcheck_warning(const rt_ctx *ctx, const sc_report *r, int item, char *buf, size_t len)
{
    const sc_item *it = &r->item[item];
    const rt_policy *p = &ctx->policy;
    char instead[128] = "";
    if (!strncmp(it->name, "row_variant", 11))
        snprintf(instead, sizeof instead, "row ops use the %s variant", p->row_variant == RT_STYLE_GPU ? "gpu" : "cpu");
    else if (!strncmp(it->name, "gemm", 4))
        snprintf(instead, sizeof instead, "GEMM uses %s",
                 p->gemm_impl == RT_GEMM_CLBLAST ? "CLBlast"
                 : p->gemm_variant == RT_STYLE_GPU ? "the own gpu kernel" : "the own cpu kernel");
    else if (!strncmp(it->name, "attention", 9))
        snprintf(instead, sizeof instead, "attention uses the %s variant",
                 p->attention == RT_STYLE_GPU ? "rows" : "cpu");
    else if (!strncmp(it->name, "fusion=", 7))
        snprintf(instead, sizeof instead, "that pattern runs unfused");
    snprintf(buf, len, "device self-check: %s disagrees with the reference backend on %s: disabled, %s (%s)",
             it->name, ctx->dev.device_name, instead, it->why);
}

int backend_selfcheck_apply_cached(rt_ctx *ctx)
{
    char hex[17], file[1000];
    sc_key_of(ctx, hex);
    sc_report r;
    memset(&r, 0, sizeof r);
    int known = 0;
    pthread_mutex_lock(&memo_lock);
    for (int i = 0; i < n_memo && !known; i++)
        if (memo[i].dev == ctx->dev.device && !strcmp(memo[i].key, hex)) {
            r = memo[i].r;
            known = 1;
        }
    pthread_mutex_unlock(&memo_lock);
    if (!known && !sc_cache_path(hex, file, sizeof file))
        known = sc_read_cache(file, &r);
    if (known)
        rt_policy_apply_selfcheck(&ctx->policy, r.disabled, r.fusion_off);
    return known;
}
