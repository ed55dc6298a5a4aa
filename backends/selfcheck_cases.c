/* The device self-check's test graphs (selfcheck_cases.h): small graphs of
 * odd shapes, run on the device and on the reference backend. The shapes are
 * odd on purpose (rows of 301 > one work-group, 37 and 13 not a multiple of
 * any tile, K = 801 > the packed-A K block, N = 807 > two panels of any tile
 * and not a multiple of one) so edges and remainders are taken, and small
 * so a part's check is a fraction of a second on PoCL. */
#include "backends/selfcheck_cases.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/opencl/ocl_backend.h"
#include "runtime/rng.h"
#include "runtime/status.h"

void sc_case_free(sc_case *c)
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

static int par2(graph *g, const char *name, int64_t a, int64_t b)
{
    const int64_t s[2] = {a, b};
    return g_param(g, name, 2, s);
}

static void out(graph *g, int t)
{
    if (t >= 0)
        g_mark_output(g, t);
}

static void build_softmax(graph *g)
{
    out(g, g_softmax(g, in2(g, "x", 5, 301), 0));
    out(g, g_softmax(g, in3(g, "s", 2, 9, 9), 1));
}

static void build_layernorm(graph *g)
{
    out(g, g_layernorm(g, in2(g, "x", 5, 301), par1(g, "ln.w", 301), par1(g, "ln.b", 301), 1e-5f));
}

static void build_l2norm(graph *g) { out(g, g_l2norm(g, in2(g, "y", 7, 37), 1e-6f)); }

static void build_reduce(graph *g)
{
    const int x = in2(g, "x", 5, 301), y = in2(g, "y", 7, 37);
    out(g, g_sum(g, x));
    out(g, g_mean(g, y));
    out(g, g_max(g, x));
}

/* Training BatchNorm's per-channel reductions on [N, C, H, W] with
 * N*H*W = 189 (16-wide segments of 63 plus a tail; no work-group multiple). */
static void build_bn(graph *g, int grad)
{
    const int64_t s[4] = {3, 5, 7, 9};
    const int x = g_input(g, "x", G_F32, 4, s);
    const int st = g_bn_stats(g, x);
    if (!grad) {
        out(g, st);
        return;
    }
    out(g, g_bn_grad_sums(g, x, st, g_input(g, "dy", G_F32, 4, s), 1e-5f));
}

/* GEMMs: a linear layer (B transposed, bias) and a row-major B (read in
 * place where the packing says so), both with a long K (801 > the packed-A K
 * block) and N = 807 (more than two panels of any tile, and a partial one),
 * and a small batched product. One K and N for both, and for the fusion
 * examples (selfcheck.c) and the one-row product: the packing launches
 * (their work-group size left to the driver) then share one shape, so the
 * driver generates their work-group code once, not per product. */
static void build_gemm(graph *g)
{
    const int64_t bs[3] = {3, 19, 23};
    const int x = in2(g, "x", 13, SC_GEMM_K), a = in3(g, "a", 3, 11, 19);
    out(g, g_matmul(g, x, par2(g, "w1", SC_GEMM_N, SC_GEMM_K), par1(g, "b1", SC_GEMM_N), 0, 1));
    out(g, g_matmul(g, x, in2(g, "b3", SC_GEMM_K, SC_GEMM_N), -1, 0, 0));
    out(g, g_matmul(g, a, g_input(g, "bm", G_F32, 3, bs), -1, 0, 0));
}

/* One row (a pooled projection): the linear layer above. */
static void build_gemv(graph *g)
{
    out(g, g_matmul(g, in2(g, "x", 1, SC_GEMM_K), par2(g, "w1", SC_GEMM_N, SC_GEMM_K), par1(g, "b1", SC_GEMM_N), 0,
                    1));
}

/* Attention, plain and causal, 2 heads of the plan's head dim over as many
 * keys (and queries) as give the plan's key block (attention_cpu's build
 * options are the head dim and the key block, ocl_lower_attention_cpu.c):
 * 64 and 50 by default, ViT-B/32's image tower (every CLIP ViT's head dim). */
static void build_attention(graph *g, const sc_shape *sh)
{
    const int64_t hd = sh && sh->head_dim > 0 ? sh->head_dim : 64, s = sh && sh->keys > 0 ? sh->keys : 50;
    const int q = in3(g, "q", 1, s, 2 * hd), k = in3(g, "k", 1, s, 2 * hd), v = in3(g, "v", 1, s, 2 * hd);
    out(g, g_attention(g, q, k, v, 2, 0));
    out(g, g_attention(g, q, k, v, 2, 1));
}

int sc_case_prepare(sc_case *c, backend *ref, sc_graph kind, const sc_shape *shape, int quantize)
{
    memset(c, 0, sizeof *c);
    if (!(c->g = g_new()))
        return cc_fail(CC_ERR_NOMEM, "device self-check: out of host memory");
    switch (kind) {
    case SCG_SOFTMAX: build_softmax(c->g); break;
    case SCG_LAYERNORM: build_layernorm(c->g); break;
    case SCG_L2NORM: build_l2norm(c->g); break;
    case SCG_REDUCE: build_reduce(c->g); break;
    case SCG_BN_STATS: build_bn(c->g, 0); break;
    case SCG_BN_GRAD: build_bn(c->g, 1); break;
    case SCG_GEMM: build_gemm(c->g); break;
    case SCG_GEMV: build_gemv(c->g); break;
    case SCG_ATTENTION: build_attention(c->g, shape); break;
    }
    return sc_case_prepare_graph(c, ref, NULL, 0, quantize);
}

int sc_case_prepare_graph(sc_case *c, backend *ref, const int *positive, int n_positive, int quantize)
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
        /* weights stored in 16 bits (f16 or bf16, packed once): multiples of
         * 1/128 in (-1, 1.5) have at most 8 significant bits, so both keep
         * them exactly and the reference's f32 answer stays the answer */
        const int grid = quantize && T->role == G_ROLE_PARAM;
        float *v = malloc((size_t)(n ? n : 1) * sizeof *v);
        if (!v)
            return cc_fail(CC_ERR_NOMEM, "device self-check: out of host memory");
        for (int64_t i = 0; i < n; i++) {
            double x = pos ? 0.5 + cc_rng_uniform(&seed) : 2.0 * cc_rng_uniform(&seed) - 1.0;
            v[i] = (float)(grid ? round(x * 128.0) / 128.0 : x);
        }
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
int sc_case_run(rt_ctx *ctx, const rt_policy *pol, const sc_case *c, char *why, size_t len)
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
