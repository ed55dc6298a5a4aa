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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "backends/opencl/ocl_gemm.h"
#include "runtime/status.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

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

int ocl_gemm_measure(rt_ctx *ctx, ocl_gemm_impl impl, int M, int N, int K, int batch,
                     int shared_b, int runs, double min_seconds, double *gflops)
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
    while (n < MEASURE_MAX_RUNS && (n < runs || total < min_seconds)) {
        double t0 = now_s();
        if ((rc = ocl_gemm_direct_run(d)) || (rc = rt_finish(ctx)))
            goto done;
        t[n] = now_s() - t0;
        total += t[n++];
    }
    qsort(t, (size_t)n, sizeof(double), cmp_double);
    *gflops = 2.0 * batch * M * N * K / t[n / 2] * 1e-9;
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

static pthread_mutex_t memo_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    cl_device_id dev;
    ocl_gemm_impl impl;
} memo[16];
static int n_memo;

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

static int read_choice(const char *file, ocl_gemm_impl *out)
{
    FILE *f = fopen(file, "r");
    if (!f)
        return 0;
    char line[512], word[64];
    int found = 0;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "choice %63s", word) == 1) {
            if (!strcmp(word, "own")) {
                *out = OCL_GEMM_OWN;
                found = 1;
            } else if (!strcmp(word, "clblast")) {
                *out = OCL_GEMM_CLBLAST;
                found = 1;
            }
        }
    }
    fclose(f);
    return found; /* an unreadable or foreign file is measured again, never trusted */
}

/* The two shapes: ViT-B/32 fc1 at batch 1 and fc2 at batch 32. */
static const int shapes[2][3] = {{50, 3072, 768}, {1600, 768, 3072}};

static int measure_and_store(rt_ctx *ctx, const char *file, ocl_gemm_impl *out)
{
    double own[2] = {0, 0}, blast[2] = {0, 0};
    double t_own = 0, t_blast = 0;
    char blast_err[256] = "";
    int rc;
    for (int i = 0; i < 2; i++) {
        const int *s = shapes[i];
        if ((rc = ocl_gemm_measure(ctx, OCL_GEMM_OWN, s[0], s[1], s[2], 1, 1, 3, 0.0, &own[i])))
            return rc;
        t_own += 2.0 * s[0] * s[1] * s[2] / own[i];
    }
    for (int i = 0; i < 2 && !blast_err[0]; i++) {
        const int *s = shapes[i];
        if (ocl_gemm_measure(ctx, OCL_GEMM_CLBLAST, s[0], s[1], s[2], 1, 1, 3, 0.0, &blast[i])) {
            snprintf(blast_err, sizeof blast_err, "%s", cc_last_error());
            cc_clear_error();
            break;
        }
        t_blast += 2.0 * s[0] * s[1] * s[2] / blast[i];
    }
    /* less total time over both shapes wins; a failing CLBlast never does */
    *out = (!blast_err[0] && t_blast < t_own) ? OCL_GEMM_CLBLAST : OCL_GEMM_OWN;

    char dir[800];
    if (!file || tuning_dir(dir, sizeof dir))
        return CC_OK;
    if (mkdir_p(dir)) {
        cc_clear_error(); /* a read-only cache costs a re-measure next time, not a failure */
        return CC_OK;
    }
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", file, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f)
        return CC_OK;
    time_t now = time(NULL);
    char when[64];
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", localtime(&now));
    fprintf(f, "# clipcl GEMM choice for one device and driver, measured %s\n", when);
    fprintf(f, "# delete this file to measure again; CLIPCL_GEMM=own|clblast overrides it\n");
    fprintf(f, "device %s\nplatform %s %s\ndriver %s\n", ctx->dev.device_name, ctx->dev.platform_name,
            ctx->dev.platform_version, ctx->dev.driver_version);
    for (int i = 0; i < 2; i++) {
        fprintf(f, "gflops own %dx%dx%d %.1f\n", shapes[i][0], shapes[i][1], shapes[i][2], own[i]);
        if (!blast_err[0])
            fprintf(f, "gflops clblast %dx%dx%d %.1f\n", shapes[i][0], shapes[i][1], shapes[i][2], blast[i]);
    }
    if (blast_err[0])
        fprintf(f, "clblast_error %s\n", blast_err);
    fprintf(f, "choice %s\n", ocl_gemm_impl_name(*out));
    int bad = fclose(f) != 0;
    if (bad || rename(tmp, file))
        remove(tmp);
    return CC_OK;
}

int ocl_gemm_choose(rt_ctx *ctx, ocl_gemm_impl *out)
{
    const char *env = getenv("CLIPCL_GEMM");
    if (env && *env) {
        if (!strcmp(env, "own")) {
            *out = OCL_GEMM_OWN;
            return CC_OK;
        }
        if (!strcmp(env, "clblast")) {
            *out = OCL_GEMM_CLBLAST;
            return CC_OK;
        }
        if (strcmp(env, "auto"))
            return cc_fail(CC_ERR_INVALID, "CLIPCL_GEMM: expected own, clblast or auto, found \"%s\"", env);
    }
    int rc = CC_OK;
    pthread_mutex_lock(&memo_lock);
    for (int i = 0; i < n_memo; i++) {
        if (memo[i].dev == ctx->dev.device) {
            *out = memo[i].impl;
            pthread_mutex_unlock(&memo_lock);
            return CC_OK;
        }
    }
    char file[1000];
    int have_file = ocl_gemm_tuning_path(ctx, file, sizeof file) == 0;
    if (!have_file || !read_choice(file, out))
        rc = measure_and_store(ctx, have_file ? file : NULL, out);
    if (!rc && n_memo < (int)(sizeof memo / sizeof memo[0])) {
        memo[n_memo].dev = ctx->dev.device;
        memo[n_memo++].impl = *out;
    }
    pthread_mutex_unlock(&memo_lock);
    return rc;
}
