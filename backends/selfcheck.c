/* The device self-check (selfcheck.h): small graphs of odd shapes, run on
 * the kernel variants of the device and on the reference backend. The shapes
 * are odd on purpose (rows of 301 > one work-group, 37 not a multiple of any
 * tile, K = 801 > the packed-A K block) so edges and remainders are taken,
 * and small so the whole check is seconds on PoCL (the programs are cached
 * like any other). */
#include "backends/selfcheck.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "backends/opencl/ocl_backend.h"
#include "backends/opencl/ocl_fusion.h"
#include "backends/opencl/ocl_gemm.h"
#include "backends/selfcheck_cache.h"
#include "runtime/clock.h"
#include "runtime/rng.h"
#include "runtime/status.h"

/* ---- the test graphs ----------------------------------------------------- */

typedef struct sc_case {
    graph *g;
    float **data;   /* per tensor: host values of inputs and params */
    float **want;   /* per tensor: the reference's outputs */
    int outs[8], n_outs;
} sc_case;

static void case_free(sc_case *c)
{
    if (c->g) {
        for (int t = 0; t < c->g->n_tensors; t++) {
            if (c->data)
                free(c->data[t]);
            if (c->want)
                free(c->want[t]);
        }
    }
    free(c->data);
    free(c->want);
    g_free(c->g);
    memset(c, 0, sizeof *c);
}

static int in2(graph *g, const char *name, int64_t a, int64_t b)
{
    const int64_t s[2] = {a, b};
    return g_input(g, name, G_F32, 2, s);
}

static int in3(graph *g, const char *name, int64_t a, int64_t b, int64_t c)
{
    const int64_t s[3] = {a, b, c};
    return g_input(g, name, G_F32, 3, s);
}

static int par1(graph *g, const char *name, int64_t n) { return g_param(g, name, 1, &n); }

static void out(graph *g, int t)
{
    if (t >= 0)
        g_mark_output(g, t);
}

/* Row ops: softmax (plain and causal), layernorm, l2norm, sum, mean, max. */
static void build_rows(graph *g)
{
    const int x = in2(g, "x", 5, 301), sq = in3(g, "s", 2, 9, 9), y = in2(g, "y", 7, 37);
    out(g, g_softmax(g, x, 0));
    out(g, g_softmax(g, sq, 1));
    out(g, g_layernorm(g, x, par1(g, "ln.w", 301), par1(g, "ln.b", 301), 1e-5f));
    out(g, g_l2norm(g, y, 1e-6f));
    out(g, g_sum(g, x));
    out(g, g_mean(g, y));
    out(g, g_max(g, x));
}

/* GEMMs: a linear layer (B transposed, bias), a long K (blocked), batched. */
static void build_gemm(graph *g)
{
    const int64_t w1s[2] = {29, 37}, w2s[2] = {17, 801}, bs[3] = {3, 19, 23};
    const int x = in2(g, "x", 13, 37), x2 = in2(g, "x2", 9, 801), a = in3(g, "a", 3, 11, 19);
    out(g, g_matmul(g, x, g_param(g, "w1", 2, w1s), par1(g, "b1", 29), 0, 1));
    out(g, g_matmul(g, x2, g_param(g, "w2", 2, w2s), -1, 0, 1));
    out(g, g_matmul(g, a, g_input(g, "bm", G_F32, 3, bs), -1, 0, 0));
}

/* Attention, plain and causal: head dim 64 and 50 keys, ViT-B/32's image
 * tower shape (every CLIP ViT's head dim), so the program compiled for the
 * check is the one a ViT embed then uses (attention_cpu's build options are
 * the head dim and the key block): no extra compile on a cold start. */
static void build_attention(graph *g)
{
    const int q = in3(g, "q", 1, 50, 128), k = in3(g, "k", 1, 50, 128), v = in3(g, "v", 1, 50, 128);
    out(g, g_attention(g, q, k, v, 2, 0));
    out(g, g_attention(g, q, k, v, 2, 1));
}

/* Random inputs, then the reference's outputs. positive: tensors drawn from
 * (0.5, 1.5) (variances of the fusion examples). */
static int case_prepare(sc_case *c, backend *ref, const int *positive, int n_positive)
{
    graph *g = c->g;
    if (g->n_errors)
        return cc_fail(CC_ERR_INVALID, "device self-check: a test graph has %d builder error(s): %s", g->n_errors,
                       cc_last_error());
    c->data = calloc((size_t)g->n_tensors, sizeof *c->data);
    c->want = calloc((size_t)g->n_tensors, sizeof *c->want);
    if (!c->data || !c->want)
        return cc_fail(CC_ERR_NOMEM, "device self-check: out of host memory");
    uint64_t seed = 0x5e1fc4ecull + (uint64_t)g->n_tensors;
    for (int t = 0; t < g->n_tensors; t++) {
        const g_tensor *T = &g->tensors[t];
        if (T->is_output && T->dtype == G_F32 && c->n_outs < 8)
                c->outs[c->n_outs++] = t;
        if (T->role != G_ROLE_INPUT && T->role != G_ROLE_PARAM)
            continue;
        const int64_t n = g_numel(g, t);
        int pos = 0;
        for (int i = 0; i < n_positive; i++)
            pos |= positive[i] == t;
        float *v = malloc((size_t)(n ? n : 1) * sizeof *v);
        if (!v)
            return cc_fail(CC_ERR_NOMEM, "device self-check: out of host memory");
        for (int64_t i = 0; i < n; i++)
            v[i] = pos ? (float)(0.5 + cc_rng_uniform(&seed)) : (float)(2.0 * cc_rng_uniform(&seed) - 1.0);
        c->data[t] = v;
    }
    backend_plan *p = NULL;
    int rc = backend_plan_create(ref, g, &p);
    for (int t = 0; !rc && t < g->n_tensors; t++)
        if (c->data[t])
            rc = backend_plan_write(p, t, c->data[t], g_nbytes(g, t));
    if (!rc)
        rc = backend_plan_run(p);
    for (int i = 0; !rc && i < c->n_outs; i++) {
        const int t = c->outs[i];
        c->want[t] = malloc(g_nbytes(g, t) ? g_nbytes(g, t) : 4);
        rc = c->want[t] ? backend_plan_read(p, t, c->want[t], g_nbytes(g, t))
                        : cc_fail(CC_ERR_NOMEM, "device self-check: out of host memory");
    }
    backend_plan_free(p);
    return rc ? cc_wrap(rc, "device self-check: the reference backend") : CC_OK;
}

/* Runs c on ctx under policy pol. Returns 0 when every output agrees with
 * the reference, 1 with *why filled when one does not or the plan fails. */
static int case_run(rt_ctx *ctx, const rt_policy *pol, const sc_case *c, char *why, size_t len)
{
    const rt_policy saved = ctx->policy;
    ctx->policy = *pol;
    ocl_plan *p = NULL;
    float *got = NULL;
    int bad = 0;
    int rc = ocl_plan_create(ctx, c->g, &p);
    for (int t = 0; !rc && t < c->g->n_tensors; t++)
        if (c->data[t])
            rc = ocl_plan_write(p, t, c->data[t], g_nbytes(c->g, t));
    if (!rc)
        rc = ocl_plan_run(p);
    for (int i = 0; !rc && !bad && i < c->n_outs; i++) {
        const int t = c->outs[i];
        const int64_t n = g_numel(c->g, t);
        free(got);
        got = malloc(g_nbytes(c->g, t) ? g_nbytes(c->g, t) : 4);
        if (!got) {
            rc = cc_fail(CC_ERR_NOMEM, "device self-check: out of host memory");
            break;
        }
        if ((rc = ocl_plan_read(p, t, got, g_nbytes(c->g, t))))
            break;
        const float *w = c->want[t];
        double maxref = 0, maxerr = 0;
        int64_t at = 0;
        for (int64_t j = 0; j < n; j++)
            maxref = fmax(maxref, fabs((double)w[j]));
        for (int64_t j = 0; j < n; j++) {
            const double e = fabs((double)got[j] - (double)w[j]);
            if (!(e <= maxerr)) { /* NaN counts */
                maxerr = isnan(e) ? INFINITY : e;
                at = j;
            }
        }
        /* the reference accumulates in double; fp32 kernels stay near 1e-6 of
         * the largest value, a wrong kernel is off by its order */
        if (!(maxerr <= 1e-3 * maxref + 1e-6)) {
            char shape[96];
            g_shape_str(c->g, t, shape, sizeof shape);
            const int prod = c->g->tensors[t].producer;
            snprintf(why, len, "%s %s: element %lld is %.6g, the reference %.6g (max |err| %.3g, max |ref| %.3g)",
                     prod >= 0 ? g_op_name(c->g->nodes[prod].op) : "?", shape, (long long)at, (double)got[at],
                     (double)w[at], maxerr, maxref);
            bad = 1;
        }
    }
    if (rc) {
        snprintf(why, len, "%s", cc_last_error());
        cc_clear_error();
        bad = 1;
    }
    free(got);
    ocl_plan_free(p);
    ctx->policy = saved;
    return bad;
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

/* ---- the check ----------------------------------------------------------- */

/* The policy the checks start from: the effective one, fusion off, GEMM
 * forced to one implementation so that nothing is measured. */
static rt_policy base_policy(const rt_policy *eff)
{
    rt_policy p = *eff;
    p.fusion_enabled = 0;
    p.fusion_patterns[0] = 0;
    p.gemm_impl_error[0] = 0;
    p.gemm_impl = RT_GEMM_OWN;
    p.source[RT_POL_GEMM_IMPL] = RT_SRC_DEFAULT;
    return p;
}

/* What a plan on ctx will use given the result so far: ctx's policy with the
 * device's GEMM choice and tile (measure: measured now when not known, as the
 * first plan would, so that the check builds the programs the model then
 * reuses rather than ones it never runs) and r applied. */
static rt_policy effective_policy(rt_ctx *ctx, sc_report *r, int measure)
{
    const rt_policy saved = ctx->policy;
    ocl_gemm_impl impl;
    if (!ocl_gemm_policy_overlay(ctx) && measure && ctx->policy.gemm_impl == RT_GEMM_MEASURE &&
        ocl_gemm_choose(ctx, &impl) != CC_OK)
        cc_clear_error(); /* unmeasured: both GEMMs stay in play, the plan reports the error */
    rt_policy p = ctx->policy;
    ctx->policy = saved;
    sc_summarise(r);
    rt_policy_apply_selfcheck(&p, r->disabled, r->fusion_off);
    return p;
}

static rt_variant own_gemm_of(const rt_policy *p)
{
    return p->gemm_variant == RT_STYLE_GPU ? RT_VAR_GEMM_OWN_GPU : RT_VAR_GEMM_OWN_CPU;
}

/* The variants p uses (bits 1u << rt_variant): a GEMM that could not be
 * measured may become either implementation, so both are in use. */
static unsigned used_variants(const rt_policy *p)
{
    unsigned u = 1u << (p->row_variant == RT_STYLE_GPU ? RT_VAR_ROW_GPU : RT_VAR_ROW_CPU);
    u |= 1u << (p->attention == RT_STYLE_GPU ? RT_VAR_ATTENTION_ROWS : RT_VAR_ATTENTION_CPU);
    if (p->gemm_impl != RT_GEMM_CLBLAST)
        u |= 1u << own_gemm_of(p);
    if (p->gemm_impl != RT_GEMM_OWN)
        u |= 1u << RT_VAR_GEMM_CLBLAST;
    return u;
}

static void check_one(rt_ctx *ctx, sc_report *r, const char *name, const rt_policy *pols, int n_pols,
                      const sc_case *c)
{
    char why[240] = "";
    const double t0 = cc_now_s();
    int bad = 0;
    for (int i = 0; i < n_pols && !bad; i++)
        bad = case_run(ctx, &pols[i], c, why, sizeof why);
    sc_add_item(r, name, bad, why, cc_now_s() - t0, 1);
}

/* The policies that exercise variant v (the CPU-style own GEMM: every
 * packing of A and B the shape rule may pick, each a different kernel). */
static int variant_policies(const rt_policy *base, rt_variant v, rt_policy p[3])
{
    static const rt_pack_choice packs[3][2] = {
        {RT_PACK_NEVER, RT_PACK_ALWAYS}, {RT_PACK_ALWAYS, RT_PACK_ALWAYS}, {RT_PACK_NEVER, RT_PACK_NEVER}};
    p[0] = *base;
    switch (v) {
    case RT_VAR_ROW_CPU: case RT_VAR_ROW_GPU:
        p[0].row_variant = v == RT_VAR_ROW_GPU ? RT_STYLE_GPU : RT_STYLE_CPU;
        return 1;
    case RT_VAR_ATTENTION_CPU: case RT_VAR_ATTENTION_ROWS:
        p[0].attention = v == RT_VAR_ATTENTION_ROWS ? RT_STYLE_GPU : RT_STYLE_CPU;
        return 1;
    case RT_VAR_GEMM_OWN_GPU:
        p[0].gemm_variant = RT_STYLE_GPU;
        return 1;
    case RT_VAR_GEMM_CLBLAST:
        p[0].gemm_impl = RT_GEMM_CLBLAST;
        return 1;
    default: {
        /* a packing CLIPCL_GEMM_PACK(_A) fixes is the only one a plan uses */
        int n = 0;
        for (int i = 0; i < 3; i++) {
            if ((base->gemm_pack_a != RT_PACK_AUTO && base->gemm_pack_a != packs[i][0]) ||
                (base->gemm_pack_b != RT_PACK_AUTO && base->gemm_pack_b != packs[i][1]))
                continue;
            p[n] = *base;
            p[n].gemm_variant = RT_STYLE_CPU;
            p[n].gemm_pack_a = packs[i][0];
            p[n].gemm_pack_b = packs[i][1];
            n++;
        }
        if (!n) { /* a combination outside the three: as the policy says */
            p[0].gemm_variant = RT_STYLE_CPU;
            n = 1;
        }
        return n;
    }
    }
}

static int open_ref(backend **ref)
{
    return *ref ? CC_OK : backend_open("ref", 0, ref);
}

/* Checks the variants in `want`, one test graph per family. */
static int check_variants(rt_ctx *ctx, backend **ref, sc_report *r, const rt_policy *eff, unsigned want)
{
    static const struct {
        void (*build)(graph *);
        rt_variant v[3];
        int n;
    } fam[3] = {{build_rows, {RT_VAR_ROW_CPU, RT_VAR_ROW_GPU}, 2},
                {build_gemm, {RT_VAR_GEMM_OWN_CPU, RT_VAR_GEMM_OWN_GPU, RT_VAR_GEMM_CLBLAST}, 3},
                {build_attention, {RT_VAR_ATTENTION_CPU, RT_VAR_ATTENTION_ROWS}, 2}};
    const rt_policy base = base_policy(eff);
    int rc = CC_OK;
    for (int f = 0; f < 3 && !rc; f++) {
        unsigned mine = 0;
        for (int i = 0; i < fam[f].n; i++)
            mine |= want & (1u << fam[f].v[i]);
        if (!mine)
            continue;
        sc_case c;
        memset(&c, 0, sizeof c);
        if ((rc = open_ref(ref)))
            break;
        if (!(c.g = g_new()))
            return cc_fail(CC_ERR_NOMEM, "device self-check: out of host memory");
        fam[f].build(c.g);
        if (!(rc = case_prepare(&c, *ref, NULL, 0)))
            for (int i = 0; i < fam[f].n; i++)
                if (mine & (1u << fam[f].v[i])) {
                    rt_policy p[3];
                    const int n = variant_policies(&base, fam[f].v[i], p);
                    check_one(ctx, r, rt_variant_name(fam[f].v[i]), p, n, &c);
                }
        case_free(&c);
    }
    return rc;
}

/* Each fusion pattern in use (all: every one) not checked yet, alone, with
 * each GEMM in use that passed (the own kernels apply a GEMM epilogue in
 * their store, CLBlast in a launch after). */
/* only (n_only names; NULL: every pattern): the patterns to consider. */
typedef struct sc_only {
    const char *const *names;
    int n;
} sc_only;

static int in_only(const sc_only *only, const char *pattern)
{
    if (!only)
        return 1;
    for (int i = 0; i < only->n; i++)
        if (only->names[i] && !strcmp(only->names[i], pattern))
            return 1;
    return 0;
}

static int check_fusion(rt_ctx *ctx, backend **ref, sc_report *r, const rt_policy *eff, int all,
                        const sc_only *only)
{
    int rc = CC_OK;
    for (int i = 0; i < ocl_fusion_count() && !rc; i++) {
        const ocl_fusion_pattern *pat = ocl_fusion_get(i);
        char name[48];
        snprintf(name, sizeof name, "fusion=%s", pat->name);
        if (sc_has_item(r, name) || (!all && !rt_policy_fusion_on(eff, pat->name)) || !in_only(only, pat->name))
            continue;
        rt_policy p[2];
        int n_p = 0;
        for (int impl = 0; impl < 2; impl++) {
            const rt_variant v = impl ? RT_VAR_GEMM_CLBLAST : own_gemm_of(eff);
            if ((r->disabled >> v) & 1u)
                continue;
            if (!all && eff->gemm_impl == (impl ? RT_GEMM_OWN : RT_GEMM_CLBLAST))
                continue;
            if (impl && n_p && strncmp(pat->name, "matmul_", 7))
                continue;
            p[n_p] = *eff;
            p[n_p].gemm_impl = impl ? RT_GEMM_CLBLAST : RT_GEMM_OWN; /* measuring is not checking */
            p[n_p].source[RT_POL_GEMM_IMPL] = RT_SRC_DEFAULT;
            p[n_p].gemm_impl_error[0] = 0;
            p[n_p].fusion_enabled = 0;
            /* the epilogue is the same code in every own CPU-style kernel:
             * checked on the packed-A one, the kernel the tower GEMMs
             * (M = tokens x batch) fuse into, so a cold start compiles the
             * program once for the check and the plan */
            if (!impl && p[n_p].gemm_variant == RT_STYLE_CPU && p[n_p].gemm_pack_a == RT_PACK_AUTO &&
                !strncmp(pat->name, "matmul_", 7))
                p[n_p].gemm_pack_a = RT_PACK_ALWAYS;
            snprintf(p[n_p].fusion_patterns, sizeof p[n_p].fusion_patterns, ",%s,", pat->name);
            n_p++;
        }
        ocl_fusion_example ex;
        memset(&ex, 0, sizeof ex);
        sc_case c;
        memset(&c, 0, sizeof c);
        if ((rc = open_ref(ref)))
            break;
        if (!(c.g = g_new()))
            return cc_fail(CC_ERR_NOMEM, "device self-check: out of host memory");
        if (pat->example(c.g, 7, 33, &ex) != 0)
            rc = cc_fail(CC_ERR_INVALID, "device self-check: fusion example %s: %s", pat->name, cc_last_error());
        else if (!(rc = case_prepare(&c, *ref, ex.positive, ex.n_positive)))
            check_one(ctx, r, name, p, n_p, &c);
        case_free(&c);
    }
    return rc;
}

/* Checks what r does not hold yet: the variants the policy uses, again after
 * each failure (rt_policy_apply_selfcheck moves off a disabled variant, to
 * one that is then checked), then the fusion patterns on the variants
 * settled on. all: every variant and pattern. */
static int run_checks(rt_ctx *ctx, sc_report *r, int all, const sc_only *only)
{
    backend *ref = NULL;
    int rc = CC_OK;
    for (;;) {
        const rt_policy eff = effective_policy(ctx, r, !all);
        unsigned want = all ? (1u << RT_VAR_COUNT) - 1u : used_variants(&eff);
        if (all && ctx->dev.max_work_group_size < 256) /* what gemm_local needs (policy.c) */
            want &= ~(1u << RT_VAR_GEMM_OWN_GPU);
        for (int v = 0; v < RT_VAR_COUNT; v++)
            if (sc_has_item(r, rt_variant_name((rt_variant)v)))
                want &= ~(1u << v);
        if (!want || (rc = check_variants(ctx, &ref, r, &eff, want)))
            break;
    }
    if (!rc && !(only && only->n == 0)) {
        const rt_policy eff = effective_policy(ctx, r, !all);
        rc = check_fusion(ctx, &ref, r, &eff, all, only);
    }
    sc_summarise(r);
    backend_close(ref);
    return rc;
}

static int selfcheck(rt_ctx *ctx, int flags, const sc_only *only, sc_report *out);

int backend_selfcheck(rt_ctx *ctx, int flags, sc_report *out)
{
    /* SC_VARIANTS: no pattern yet (an empty list) */
    const sc_only none = {NULL, 0};
    return selfcheck(ctx, flags, (flags & SC_VARIANTS) && !(flags & SC_ALL) ? &none : NULL, out);
}

int backend_selfcheck_fusions(rt_ctx *ctx, const char *const *names, int n, sc_report *out,
                              int *n_disabled)
{
    const sc_only only = {names, n > 0 ? n : 0};
    *n_disabled = 0;
    int rc = selfcheck(ctx, 0, &only, out);
    for (int i = 0; !rc && i < out->n_items; i++)
        *n_disabled += out->item[i].now && out->item[i].disabled;
    return rc;
}

static int selfcheck(rt_ctx *ctx, int flags, const sc_only *only, sc_report *out)
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
    rc = run_checks(ctx, out, flags & SC_ALL, only);
    out->ran = out->n_items > known;
    out->seconds = out->ran ? cc_now_s() - t0 : 0;
    if (!rc && out->ran && out->cache_file[0])
        sc_write_cache(ctx, out->cache_file, out);
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
