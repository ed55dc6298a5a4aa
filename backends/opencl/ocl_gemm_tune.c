/* GEMM measurement and the tuner (ocl_gemm_tune.h). */
#include "backends/opencl/ocl_gemm_tune.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "runtime/clock.h"
#include "runtime/status.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int fill_buffer(rt_ctx *ctx, cl_mem m, size_t n)
{
    float *h = malloc(n * sizeof(float));
    if (!h)
        return cc_fail(CC_ERR_NOMEM, "ocl_gemm_measure: out of memory for %zu floats", n);
    uint32_t s = 12345;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        h[i] = (float)(s >> 8) / 16777216.0f - 0.5f;
    }
    int rc = rt_upload(ctx, m, 0, h, n * sizeof(float));
    free(h);
    return rc;
}

#define MEASURE_MAX_RUNS 256

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
           1e-6 * (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

/* Buffers for batch x (M x K) @ (K x N): A, B (shared or per batch item), C. */
typedef struct gemm_bufs {
    cl_mem a, b, c;
} gemm_bufs;

static void bufs_free(gemm_bufs *b)
{
    if (b->a)
        clReleaseMemObject(b->a);
    if (b->b)
        clReleaseMemObject(b->b);
    if (b->c)
        clReleaseMemObject(b->c);
    memset(b, 0, sizeof *b);
}

static int bufs_make(rt_ctx *ctx, size_t na, size_t nb, size_t nc, gemm_bufs *b)
{
    int rc;
    memset(b, 0, sizeof *b);
    if ((rc = rt_alloc(ctx, na * sizeof(float), &b->a)) || (rc = rt_alloc(ctx, nb * sizeof(float), &b->b)) ||
        (rc = rt_alloc(ctx, nc * sizeof(float), &b->c)) || (rc = fill_buffer(ctx, b->a, na)) ||
        (rc = fill_buffer(ctx, b->b, nb)))
        bufs_free(b);
    return rc;
}

/* One warm-up call (it also compiles), then at least `runs` calls and at
 * least min_seconds of calls; t[] gets each call's seconds (sorted), *n
 * their count, *cpu the process CPU seconds they took. tile NULL: the
 * device's tile. */
static int time_calls(rt_ctx *ctx, ocl_gemm_impl impl, const ocl_gemm_tile *tile, const gemm_bufs *b, int M,
                      int N, int K, int batch, int shared_b, int runs, double min_seconds, double *t, int *n,
                      double *cpu)
{
    ocl_gemm_args g;
    memset(&g, 0, sizeof g);
    g.M = M;
    g.N = N;
    g.K = K;
    g.batch = batch;
    g.a = b->a;
    g.b = b->b;
    g.c = b->c;
    g.a_stride = (size_t)M * K;
    g.b_stride = shared_b ? 0 : (size_t)K * N;
    g.c_stride = (size_t)M * N;
    ocl_gemm_direct *d = NULL;
    int rc = ocl_gemm_direct_create(ctx, &d);
    *n = 0;
    if (rc)
        return rc;
    ocl_gemm_sink sink;
    ocl_gemm_direct_sink(d, &sink);
    if (tile)
        ocl_gemm_force_tile(tile);
    rc = ocl_gemm_emit(&sink, &g, impl);
    if (tile)
        ocl_gemm_force_tile(NULL);
    if (rc || (rc = ocl_gemm_direct_run(d)) || (rc = rt_finish(ctx)))
        goto done;
    double total = 0;
    const double cpu0 = cpu_s();
    while (*n < MEASURE_MAX_RUNS && (*n < runs || total < min_seconds)) {
        double t0 = cc_now_s();
        if ((rc = ocl_gemm_direct_run(d)) || (rc = rt_finish(ctx)))
            goto done;
        t[*n] = cc_now_s() - t0;
        total += t[(*n)++];
    }
    *cpu = cpu_s() - cpu0;
    qsort(t, (size_t)*n, sizeof(double), cmp_double);
done:
    ocl_gemm_direct_free(d);
    return rc;
}

int ocl_gemm_measure(rt_ctx *ctx, ocl_gemm_impl impl, int M, int N, int K, int batch, int shared_b, int runs,
                     double min_seconds, double *gflops)
{
    double per_cpu;
    return ocl_gemm_measure_cpu(ctx, impl, M, N, K, batch, shared_b, runs, min_seconds, gflops, &per_cpu);
}

int ocl_gemm_measure_cpu(rt_ctx *ctx, ocl_gemm_impl impl, int M, int N, int K, int batch, int shared_b,
                         int runs, double min_seconds, double *gflops, double *gflops_per_cpu_s)
{
    const size_t na = (size_t)batch * M * K, nb = (shared_b ? 1 : (size_t)batch) * K * N;
    const size_t nc = (size_t)batch * M * N;
    gemm_bufs b;
    double t[MEASURE_MAX_RUNS], cpu = 0;
    int n = 0;
    int rc = bufs_make(ctx, na, nb, nc, &b);
    if (!rc)
        rc = time_calls(ctx, impl, NULL, &b, M, N, K, batch, shared_b, runs, min_seconds, t, &n, &cpu);
    bufs_free(&b);
    if (rc)
        return rc;
    const double flop = 2.0 * batch * M * N * K;
    *gflops = flop / t[n / 2] * 1e-9;
    *gflops_per_cpu_s = cpu > 0 ? flop * n / cpu * 1e-9 : 0.0;
    return CC_OK;
}

/* ---------------- the tuner ---------------- */

double ocl_gemm_load1(void)
{
    FILE *f = fopen("/proc/loadavg", "r");
    double l = -1;
    if (f) {
        if (fscanf(f, "%lf", &l) != 1)
            l = -1;
        fclose(f);
    }
    return l;
}

/* ViT-B/32: fc1 at batch 1 (M = 50 tokens), then fc1, fc2, qkv at batch 32;
 * "all" adds the text tower's MLP at batch 32 (77 tokens, width 512). */
static const ocl_gemm_shape vit_shapes[] = {
    {50, 3072, 768}, {1600, 3072, 768}, {1600, 768, 3072}, {1600, 2304, 768},
};
static const ocl_gemm_shape text_shapes[] = {{2464, 2048, 512}, {2464, 512, 2048}};

int ocl_gemm_tune_shapes(const char *name, ocl_gemm_shape *out, int cap, int *n, char *err, size_t errlen)
{
    *n = 0;
    const int all = !strcmp(name, "all");
    if (all || !strcmp(name, "vit-b-32")) {
        for (size_t i = 0; i < sizeof vit_shapes / sizeof vit_shapes[0] && *n < cap; i++)
            out[(*n)++] = vit_shapes[i];
        for (size_t i = 0; all && i < sizeof text_shapes / sizeof text_shapes[0] && *n < cap; i++)
            out[(*n)++] = text_shapes[i];
        return 1;
    }
    for (const char *s = name; *s;) {
        int M, N, K, used = 0;
        if (*n == cap || sscanf(s, "%dx%dx%d%n", &M, &N, &K, &used) != 3 || M < 1 || N < 1 || K < 1 ||
            M > 65536 || N > 65536 || K > 65536 || (s[used] && s[used] != ',')) {
            snprintf(err, errlen, "shapes: expected vit-b-32, all or up to %d of MxNxK separated by commas, "
                     "found \"%.60s\"", cap, name);
            return 0;
        }
        out[(*n)++] = (ocl_gemm_shape){M, N, K};
        s += used;
        if (*s == ',')
            s++;
    }
    if (!*n)
        snprintf(err, errlen, "shapes: expected vit-b-32, all or MxNxK, found nothing");
    return *n > 0;
}

double ocl_gemm_tune_total(const ocl_gemm_tune_result *r, int c)
{
    double t = 0;
    for (int s = 0; s < r->n_shapes; s++)
        t += r->t[c][s];
    return t;
}

/* What the tuner keeps of one candidate's rounds: per shape the smallest
 * and largest round median. */
typedef struct round_span {
    double lo[OCL_TUNE_MAX_SHAPES], hi[OCL_TUNE_MAX_SHAPES];
} round_span;

typedef struct tuner {
    rt_ctx *ctx;
    const ocl_gemm_tune_opts *o;
    ocl_gemm_tune_result *r;
    gemm_bufs bufs;
    round_span *span;
    int done, total;
} tuner;

static void tick(tuner *tu)
{
    tu->done++;
    if (tu->o->progress)
        tu->o->progress(tu->o->user, tu->done, tu->total);
}

/* One round of candidate c over every shape. */
static int time_candidate(tuner *tu, int c)
{
    ocl_gemm_tune_result *r = tu->r;
    const int runs = tu->o->runs > 0 ? tu->o->runs : 3;
    for (int s = 0; s < r->n_shapes; s++) {
        double t[MEASURE_MAX_RUNS], cpu;
        int n;
        const ocl_gemm_shape *sh = &r->shapes[s];
        int rc = time_calls(tu->ctx, OCL_GEMM_OWN, &r->cand[c], &tu->bufs, sh->M, sh->N, sh->K, 1, 1, runs, 0.0,
                            t, &n, &cpu);
        if (rc)
            return cc_wrap(rc, "tuning tile %dx%dx%d on %dx%dx%d", r->cand[c].tm, r->cand[c].vw, r->cand[c].nv,
                           sh->M, sh->N, sh->K);
        const double med = t[n / 2];
        round_span *sp = &tu->span[c];
        if (!r->rounds[c] || med < sp->lo[s])
            sp->lo[s] = med;
        if (!r->rounds[c] || med > sp->hi[s])
            sp->hi[s] = med;
        r->t[c][s] = sp->lo[s];
        tick(tu);
    }
    r->rounds[c]++;
    r->measured[c] = 1;
    double spread = 0;
    for (int s = 0; s < r->n_shapes; s++)
        if (tu->span[c].lo[s] > 0 && tu->span[c].hi[s] / tu->span[c].lo[s] - 1 > spread)
            spread = tu->span[c].hi[s] / tu->span[c].lo[s] - 1;
    r->spread[c] = spread;
    return CC_OK;
}

static int pick_best(const ocl_gemm_tune_result *r)
{
    int best = -1;
    for (int c = 0; c < r->n_cand; c++)
        if (r->measured[c] && (best < 0 || ocl_gemm_tune_total(r, c) < ocl_gemm_tune_total(r, best)))
            best = c;
    return best;
}

/* The three leaders, fastest first; fewer when fewer were measured. */
static int leaders(const ocl_gemm_tune_result *r, int *out)
{
    int n = 0;
    for (int c = 0; c < r->n_cand; c++) {
        if (!r->measured[c])
            continue;
        int pos = n < 3 ? n++ : 3;
        while (pos > 0 && ocl_gemm_tune_total(r, c) < ocl_gemm_tune_total(r, out[pos - 1])) {
            if (pos < 3)
                out[pos] = out[pos - 1];
            pos--;
        }
        if (pos < 3)
            out[pos] = c;
    }
    return n;
}

static void default_candidates(rt_ctx *ctx, const ocl_gemm_tune_opts *o, ocl_gemm_tune_result *r)
{
    const rt_policy *pol = &ctx->policy;
    const ocl_gemm_tile first = {pol->gemm_tm, pol->gemm_vw, pol->gemm_nv};
    if (pol->source[RT_POL_GEMM_TILE] == RT_SRC_ENV) { /* CLIPCL_GEMM_TILE: the only tile that can run */
        r->cand[0] = first;
        r->n_cand = 1;
        return;
    }
    if (o->cand) {
        r->n_cand = o->n_cand < OCL_TUNE_MAX_CAND ? o->n_cand : OCL_TUNE_MAX_CAND;
        memcpy(r->cand, o->cand, (size_t)r->n_cand * sizeof r->cand[0]);
        return;
    }
    rt_gemm_space sp;
    rt_gemm_space_of(&ctx->dev, o->wide, &sp);
    /* the policy's tile (the database's or the table's) first: a quick
     * tune that has time for one candidate measures the best guess */
    r->cand[r->n_cand++] = first;
    const int target = sp.registers * 3 / 4;
    /* then by closeness of the accumulator count to 3/4 of the registers:
     * the middle of the space first, its edges when time allows */
    for (int d = 0; d <= 2 * sp.registers && r->n_cand < OCL_TUNE_MAX_CAND; d++)
        for (int i = 0; i < sp.n_tiles && r->n_cand < OCL_TUNE_MAX_CAND; i++) {
            const rt_gemm_tile t = sp.tiles[i];
            const int acc = t.tm * t.nv;
            if (acc - target != d && target - acc != d)
                continue;
            if (t.tm == first.tm && t.vw == first.vw && t.nv == first.nv)
                continue;
            r->cand[r->n_cand++] = (ocl_gemm_tile){t.tm, t.vw, t.nv};
        }
}

int ocl_gemm_tune(rt_ctx *ctx, const ocl_gemm_tune_opts *o, ocl_gemm_tune_result *r)
{
    memset(r, 0, sizeof *r);
    const double t0 = cc_now_s();
    r->load_before = ocl_gemm_load1();
    snprintf(r->source, sizeof r->source, "%s", o->source ? o->source : "tune");
    default_candidates(ctx, o, r);
    if (o->shapes) {
        r->n_shapes = o->n_shapes < OCL_TUNE_MAX_SHAPES ? o->n_shapes : OCL_TUNE_MAX_SHAPES;
        memcpy(r->shapes, o->shapes, (size_t)r->n_shapes * sizeof r->shapes[0]);
    } else {
        char err[160];
        ocl_gemm_tune_shapes("vit-b-32", r->shapes, OCL_TUNE_MAX_SHAPES, &r->n_shapes, err, sizeof err);
    }
    if (!r->n_cand || !r->n_shapes)
        return cc_fail(CC_ERR_INVALID, "ocl_gemm_tune: expected at least one candidate and one shape");
    size_t na = 0, nb = 0, nc = 0;
    for (int s = 0; s < r->n_shapes; s++) {
        const ocl_gemm_shape *sh = &r->shapes[s];
        na = (size_t)sh->M * sh->K > na ? (size_t)sh->M * sh->K : na;
        nb = (size_t)sh->K * sh->N > nb ? (size_t)sh->K * sh->N : nb;
        nc = (size_t)sh->M * sh->N > nc ? (size_t)sh->M * sh->N : nc;
    }
    tuner tu = {ctx, o, r, {0}, calloc((size_t)r->n_cand, sizeof(round_span)), 0, 0};
    const int rounds = o->rounds > 0 ? o->rounds : 1;
    tu.total = r->n_cand * r->n_shapes * rounds + (o->clblast ? r->n_shapes : 0);
    int rc = tu.span ? bufs_make(ctx, na, nb, nc, &tu.bufs) : cc_fail(CC_ERR_NOMEM, "ocl_gemm_tune: out of memory");
    if (rc)
        goto done;

    /* round 0 in order (compiles each tile once, and the budget cuts the
     * tail), later rounds rotated so no candidate always runs first */
    /* with a budget, no candidate starts that the slowest so far (a kernel
     * build dominates it) says would end past the budget, with a margin of
     * half that again for a slower build; the first always runs */
    int n_run = r->n_cand;
    double slowest = 0;
#define OUT_OF_TIME() (o->budget_s > 0 && cc_now_s() - t0 + 1.5 * slowest > o->budget_s)
    for (int c = 0; c < r->n_cand; c++) {
        const double start = cc_now_s();
        if (c > 0 && OUT_OF_TIME()) {
            n_run = c;
            break;
        }
        if ((rc = time_candidate(&tu, c)))
            goto done;
        slowest = cc_now_s() - start > slowest ? cc_now_s() - start : slowest;
    }
    tu.total = n_run * r->n_shapes * rounds + (o->clblast ? r->n_shapes : 0);
    for (int round = 1; round < rounds && !OUT_OF_TIME(); round++)
        for (int i = 0; i < n_run && !OUT_OF_TIME(); i++)
            if ((rc = time_candidate(&tu, (i + round * (n_run / rounds + 1)) % n_run)))
                goto done;
    /* a leader whose rounds disagree: measure the leaders again, twice */
    int lead[3];
    const int n_lead = leaders(r, lead);
    int noisy = 0;
    for (int i = 0; i < n_lead; i++)
        noisy |= r->spread[lead[i]] > OCL_TUNE_SPREAD;
    if (noisy && n_lead > 1 && !OUT_OF_TIME()) {
        r->remeasured = 1;
        tu.total += 2 * n_lead * r->n_shapes;
        for (int round = 0; round < 2; round++)
            for (int i = 0; i < n_lead && !OUT_OF_TIME(); i++)
                if ((rc = time_candidate(&tu, lead[(i + round) % n_lead])))
                    goto done;
    }
#undef OUT_OF_TIME
    r->best = pick_best(r);
    r->tile = r->cand[r->best];
    r->impl = OCL_GEMM_OWN;

    if (o->clblast) {
        double tb = 0;
        for (int s = 0; s < r->n_shapes && !r->clblast_error[0]; s++) {
            double t[MEASURE_MAX_RUNS], cpu;
            int n;
            const ocl_gemm_shape *sh = &r->shapes[s];
            if (time_calls(ctx, OCL_GEMM_CLBLAST, NULL, &tu.bufs, sh->M, sh->N, sh->K, 1, 1, 3, 0.0, t, &n, &cpu)) {
                snprintf(r->clblast_error, sizeof r->clblast_error, "%s", cc_last_error());
                cc_clear_error();
                break;
            }
            r->clblast_t[s] = t[n / 2];
            tb += t[n / 2];
            tick(&tu);
        }
        r->clblast_timed = !r->clblast_error[0];
        /* less total time over the shapes wins; a failing CLBlast never does */
        if (r->clblast_timed && tb < ocl_gemm_tune_total(r, r->best))
            r->impl = OCL_GEMM_CLBLAST;
    }
    r->load_after = ocl_gemm_load1();
    r->seconds = cc_now_s() - t0;
done:
    bufs_free(&tu.bufs);
    free(tu.span);
    return rc;
}
