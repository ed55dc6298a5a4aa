/* Which GEMM a device gets: decided by measurement, never by vendor name.
 * On first use for a (device, driver) both implementations are timed on two
 * CLIP shapes and the winner is written, human-readable, to
 * rt_cache_dir()/tuning/gemm-<hash>.txt; later processes read it. CLBlast's
 * first call compiles for seconds on PoCL, which is why the choice is cached. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "backends/opencl/ocl_gemm.h"
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

int ocl_gemm_measure(rt_ctx *ctx, ocl_gemm_impl impl, int M, int N, int K, int batch,
                     int shared_b, int runs, double min_seconds, double *gflops)
{
    double per_cpu;
    return ocl_gemm_measure_cpu(ctx, impl, M, N, K, batch, shared_b, runs, min_seconds, gflops, &per_cpu);
}

int ocl_gemm_measure_cpu(rt_ctx *ctx, ocl_gemm_impl impl, int M, int N, int K, int batch, int shared_b,
                         int runs, double min_seconds, double *gflops, double *gflops_per_cpu_s)
{
    ocl_gemm_args g;
    memset(&g, 0, sizeof g);
    g.M = M;
    g.N = N;
    g.K = K;
    g.batch = batch;
    g.a_stride = (size_t)M * K;
    g.b_stride = shared_b ? 0 : (size_t)K * N;
    g.c_stride = (size_t)M * N;
    size_t na = (size_t)batch * M * K, nb = (shared_b ? 1 : (size_t)batch) * K * N;
    size_t nc = (size_t)batch * M * N;
    ocl_gemm_direct *d = NULL;
    double t[MEASURE_MAX_RUNS];
    int n = 0, rc;
    if ((rc = rt_alloc(ctx, na * sizeof(float), &g.a)) || (rc = rt_alloc(ctx, nb * sizeof(float), &g.b)) ||
        (rc = rt_alloc(ctx, nc * sizeof(float), &g.c)) || (rc = fill_buffer(ctx, g.a, na)) ||
        (rc = fill_buffer(ctx, g.b, nb)) || (rc = ocl_gemm_direct_create(ctx, &d)))
        goto done;
    ocl_gemm_sink sink;
    ocl_gemm_direct_sink(d, &sink);
    if ((rc = ocl_gemm_emit(&sink, &g, impl)) || (rc = ocl_gemm_direct_run(d)) || (rc = rt_finish(ctx)))
        goto done;
    double total = 0;
    const double cpu0 = cpu_s();
    while (n < MEASURE_MAX_RUNS && (n < runs || total < min_seconds)) {
        double t0 = cc_now_s();
        if ((rc = ocl_gemm_direct_run(d)) || (rc = rt_finish(ctx)))
            goto done;
        t[n] = cc_now_s() - t0;
        total += t[n++];
    }
    const double cpu = cpu_s() - cpu0;
    qsort(t, (size_t)n, sizeof(double), cmp_double);
    *gflops = 2.0 * batch * M * N * K / t[n / 2] * 1e-9;
    *gflops_per_cpu_s = cpu > 0 ? 2.0 * batch * M * N * K * n / cpu * 1e-9 : 0.0;
done:
    ocl_gemm_direct_free(d);
    if (g.a)
        clReleaseMemObject(g.a);
    if (g.b)
        clReleaseMemObject(g.b);
    if (g.c)
        clReleaseMemObject(g.c);
    return rc;
}

/* ---------------- the cached choice ---------------- */

/* Per device, what this process knows; memo_lock guards it and serialises
 * measurements so that two threads never measure the same device at once. */
typedef struct memo_entry {
    cl_device_id dev;
    int have_impl, have_tile, file_read;
    ocl_gemm_impl impl;
    ocl_gemm_tile tile;
} memo_entry;

static pthread_mutex_t memo_lock = PTHREAD_MUTEX_INITIALIZER;
static memo_entry memo[16];
static int n_memo;

/* Called with memo_lock held. NULL when the table is full. */
static memo_entry *memo_for(cl_device_id dev)
{
    for (int i = 0; i < n_memo; i++)
        if (memo[i].dev == dev)
            return &memo[i];
    if (n_memo == (int)(sizeof memo / sizeof memo[0]))
        return NULL;
    memo_entry *e = &memo[n_memo++];
    memset(e, 0, sizeof *e);
    e->dev = dev;
    return e;
}

static int mkdir_p(const char *path)
{
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(tmp, 0755) && errno != EEXIST)
            return cc_fail(CC_ERR_IO, "ocl_gemm: cannot create folder %s: %s", tmp, strerror(errno));
        *p = '/';
    }
    if (mkdir(tmp, 0755) && errno != EEXIST)
        return cc_fail(CC_ERR_IO, "ocl_gemm: cannot create folder %s: %s", tmp, strerror(errno));
    return CC_OK;
}

static int tuning_dir(char *dir, size_t dlen)
{
    char cache[768];
    rt_cache_dir(cache, sizeof cache);
    if (!cache[0])
        return -1;
    int w = snprintf(dir, dlen, "%s/tuning", cache);
    return (w < 0 || (size_t)w >= dlen) ? -1 : 0;
}

int ocl_gemm_tuning_path(const rt_ctx *ctx, char *buf, size_t len)
{
    char key[1100], dir[800];
    if (tuning_dir(dir, sizeof dir))
        return -1;
    /* platform, device and driver: a driver update measures again */
    int n = snprintf(key, sizeof key, "%s\n%s\n%s\n%s\n", ctx->dev.platform_name, ctx->dev.platform_version,
                     ctx->dev.device_name, ctx->dev.driver_version);
    if (n < 0 || (size_t)n >= sizeof key)
        n = (int)strlen(key);
    unsigned long long h = (unsigned long long)XXH64(key, (size_t)n, 0);
    int w = snprintf(buf, len, "%s/gemm-%016llx.txt", dir, h);
    return (w < 0 || (size_t)w >= len) ? -1 : 0;
}

void ocl_gemm_choose_reset(void)
{
    pthread_mutex_lock(&memo_lock);
    n_memo = 0;
    pthread_mutex_unlock(&memo_lock);
}

/* Fills what the tuning file says into e (choice, tile). An unreadable or
 * foreign file gives nothing and is measured again, never trusted. */
static void read_file(const rt_ctx *ctx, memo_entry *e)
{
    char file[1000], line[512], word[64];
    e->file_read = 1;
    if (ocl_gemm_tuning_path(ctx, file, sizeof file))
        return;
    FILE *f = fopen(file, "r");
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "choice %63s", word) == 1) {
            if (!strcmp(word, "own") || !strcmp(word, "clblast")) {
                e->impl = strcmp(word, "own") ? OCL_GEMM_CLBLAST : OCL_GEMM_OWN;
                e->have_impl = 1;
            }
        } else if (sscanf(line, "tile %63s", word) == 1) {
            e->have_tile = ocl_gemm_parse_tile(word, &e->tile);
        }
    }
    fclose(f);
}

int ocl_gemm_tile_cached(const rt_ctx *ctx, ocl_gemm_tile *out)
{
    int found = 0;
    pthread_mutex_lock(&memo_lock);
    memo_entry *e = memo_for(ctx->dev.device);
    if (e && !e->file_read && !e->have_tile)
        read_file(ctx, e);
    if (e && e->have_tile) {
        *out = e->tile;
        found = 1;
    }
    pthread_mutex_unlock(&memo_lock);
    return found;
}

/* The two shapes: ViT-B/32 fc1 at batch 1 and fc2 at batch 32. */
static const int shapes[2][3] = {{50, 3072, 768}, {1600, 768, 3072}};
/* Own-kernel tiles tried: 16-24 zmm accumulators in different shapes. On the
 * PoCL Xeon (docs/gemm.md, GFLOP per CPU-second, best of 3 interleaved
 * rounds at batch 32) the 48-wide panels (6/7/8 x 16x3) did 88-90 and
 * 8x16x2 78; 4x16x4 stays for devices that like wider panels. */
/* 6x16x4 first: the best with packed A on the PoCL Xeon (docs/gemm.md) */
static const ocl_gemm_tile candidates[] = {{6, 16, 4}, {6, 16, 3}, {8, 16, 3}, {8, 16, 2}, {4, 16, 4}};
#define N_CAND ((int)(sizeof candidates / sizeof candidates[0]))
#define TILE_ROUNDS 2

/* Seconds for one call of each shape, summed. */
static int time_impl(rt_ctx *ctx, ocl_gemm_impl impl, double gf[2], double *seconds)
{
    *seconds = 0;
    for (int i = 0; i < 2; i++) {
        const int *sh = shapes[i];
        int rc = ocl_gemm_measure(ctx, impl, sh[0], sh[1], sh[2], 1, 1, 3, 0.0, &gf[i]);
        if (rc)
            return rc;
        *seconds += 2.0 * sh[0] * sh[1] * sh[2] / (gf[i] * 1e9);
    }
    return CC_OK;
}

static void write_file(const rt_ctx *ctx, const memo_entry *e, const ocl_gemm_tile *cand, int n_cand,
                       double own[][2], double blast[2], const char *blast_err)
{
    char dir[800], file[1000], tmp[1100];
    if (tuning_dir(dir, sizeof dir) || ocl_gemm_tuning_path(ctx, file, sizeof file))
        return;
    if (mkdir_p(dir)) {
        cc_clear_error(); /* a read-only cache costs a re-measure next time, not a failure */
        return;
    }
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", file, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f)
        return;
    time_t now = time(NULL);
    char when[64];
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", localtime(&now));
    fprintf(f, "# clipcl GEMM choice for one device and driver, measured %s\n", when);
    fprintf(f, "# delete this file to measure again; CLIPCL_GEMM=own|clblast and\n");
    fprintf(f, "# CLIPCL_GEMM_TILE=TMxVWxNV override it\n");
    fprintf(f, "device %s\nplatform %s %s\ndriver %s\n", ctx->dev.device_name, ctx->dev.platform_name,
            ctx->dev.platform_version, ctx->dev.driver_version);
    for (int i = 0; i < 2; i++) {
        for (int c = 0; c < n_cand; c++)
            fprintf(f, "gflops own:%dx%dx%d %dx%dx%d %.1f\n", cand[c].tm, cand[c].vw, cand[c].nv, shapes[i][0],
                    shapes[i][1], shapes[i][2], own[c][i]);
        if (!blast_err[0])
            fprintf(f, "gflops clblast %dx%dx%d %.1f\n", shapes[i][0], shapes[i][1], shapes[i][2], blast[i]);
    }
    if (blast_err[0])
        fprintf(f, "clblast_error %s\n", blast_err);
    fprintf(f, "tile %dx%dx%d\n", e->tile.tm, e->tile.vw, e->tile.nv);
    fprintf(f, "choice %s\n", ocl_gemm_impl_name(e->impl));
    int bad = fclose(f) != 0;
    if (bad || rename(tmp, file))
        remove(tmp);
}

/* Called with memo_lock held: times every own tile and CLBlast, fills e,
 * writes the file. */
static int measure(rt_ctx *ctx, memo_entry *e)
{
    double own[N_CAND][2], blast[2] = {0, 0}, t_best = 0, t_blast = 0, t;
    char blast_err[256] = "";
    int rc;
    /* a tile forced by the environment is the only one that can run */
    const rt_policy *pol = &ctx->policy;
    const ocl_gemm_tile env_tile = {pol->gemm_tm, pol->gemm_vw, pol->gemm_nv};
    const int forced = pol->source[RT_POL_GEMM_TILE] == RT_SRC_ENV; /* CLIPCL_GEMM_TILE */
    const ocl_gemm_tile *cand = forced ? &env_tile : candidates;
    const int n_cand = forced ? 1 : N_CAND;
    /* rounds interleaved over the candidates, best of each kept, so a burst
     * of load elsewhere does not decide the tile */
    for (int r = 0; r < TILE_ROUNDS; r++) {
        for (int c = 0; c < n_cand; c++) {
            double gf[2];
            ocl_gemm_force_tile(&cand[c]);
            rc = time_impl(ctx, OCL_GEMM_OWN, gf, &t);
            ocl_gemm_force_tile(NULL);
            if (rc)
                return rc;
            for (int i = 0; i < 2; i++)
                own[c][i] = (r == 0 || gf[i] > own[c][i]) ? gf[i] : own[c][i];
        }
    }
    for (int c = 0; c < n_cand; c++) {
        t = 0;
        for (int i = 0; i < 2; i++)
            t += 2.0 * shapes[i][0] * shapes[i][1] * shapes[i][2] / (own[c][i] * 1e9);
        if (c == 0 || t < t_best) {
            t_best = t;
            e->tile = cand[c];
        }
    }
    e->have_tile = 1;
    if (time_impl(ctx, OCL_GEMM_CLBLAST, blast, &t_blast)) {
        snprintf(blast_err, sizeof blast_err, "%s", cc_last_error());
        cc_clear_error();
    }
    /* less total time over both shapes wins; a failing CLBlast never does */
    e->impl = (!blast_err[0] && t_blast < t_best) ? OCL_GEMM_CLBLAST : OCL_GEMM_OWN;
    e->have_impl = 1;
    write_file(ctx, e, cand, n_cand, own, blast, blast_err);
    return CC_OK;
}

/* Called with memo_lock held: what e knows becomes the tuned overlay of
 * ctx's policy (fields set by the environment stay). */
static void overlay(rt_ctx *ctx, const memo_entry *e)
{
    if (e->have_impl)
        rt_policy_tune_gemm_impl(&ctx->policy, e->impl == OCL_GEMM_CLBLAST ? RT_GEMM_CLBLAST : RT_GEMM_OWN);
    if (e->have_tile)
        rt_policy_tune_gemm_tile(&ctx->policy, e->tile.tm, e->tile.vw, e->tile.nv);
}

int ocl_gemm_policy_overlay(rt_ctx *ctx)
{
    int known = 0;
    pthread_mutex_lock(&memo_lock);
    memo_entry *e = memo_for(ctx->dev.device);
    if (e && !e->file_read && !(e->have_impl && e->have_tile))
        read_file(ctx, e);
    if (e) {
        overlay(ctx, e);
        known = e->have_impl || e->have_tile;
    }
    pthread_mutex_unlock(&memo_lock);
    return known;
}

int ocl_gemm_choose(rt_ctx *ctx, ocl_gemm_impl *out)
{
    /* policy.gemm_impl: CLIPCL_GEMM (or a defaults row) naming one wins;
     * otherwise the measured choice, which becomes the tuned overlay */
    const rt_policy *pol = &ctx->policy;
    if (pol->gemm_impl_error[0])
        return cc_fail(CC_ERR_INVALID, "%s", pol->gemm_impl_error);
    if (pol->source[RT_POL_GEMM_IMPL] != RT_SRC_TUNED && pol->gemm_impl != RT_GEMM_MEASURE) {
        *out = pol->gemm_impl == RT_GEMM_CLBLAST ? OCL_GEMM_CLBLAST : OCL_GEMM_OWN;
        return CC_OK;
    }
    int rc = CC_OK;
    pthread_mutex_lock(&memo_lock);
    memo_entry *e = memo_for(ctx->dev.device);
    memo_entry scratch;
    if (!e) { /* table full: work without remembering */
        memset(&scratch, 0, sizeof scratch);
        scratch.dev = ctx->dev.device;
        e = &scratch;
    }
    if (!e->have_impl && !e->file_read)
        read_file(ctx, e);
    if (!e->have_impl)
        rc = measure(ctx, e);
    if (!rc) {
        *out = e->impl;
        overlay(ctx, e);
    }
    pthread_mutex_unlock(&memo_lock);
    return rc;
}
