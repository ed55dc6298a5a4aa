/* Small helpers for the runtime tests: temp dirs, files, running a tiny
 * kernel. Header-only so each test stays one translation unit. */
#ifndef CLIPCL_RT_TEST_UTIL_H
#define CLIPCL_RT_TEST_UTIL_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/rt.h"

static inline char *rtt_mkdtemp(const char *tag)
{
    const char *base = getenv("TMPDIR");
    char tmpl[512];
    snprintf(tmpl, sizeof tmpl, "%s/clipcl-%s-XXXXXX", base && *base ? base : "/tmp", tag);
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

static inline int rtt_write_file(const char *dir, const char *name, const char *text)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t n = strlen(text);
    int ok = fwrite(text, 1, n, f) == n;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

/* rm -r of a test dir one or two levels deep (the cache has programs/). */
static inline void rtt_rmtree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char p[1024];
        int w = snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (w < 0 || (size_t)w >= sizeof p)
            continue;
        if (unlink(p) != 0)
            rtt_rmtree(p);
    }
    closedir(d);
    rmdir(dir);
}

/* Runs a kernel with signature (global float *y, float a) over n items and
 * downloads y. Returns CC_OK or the failing code. */
static inline int rtt_run_kernel(rt_ctx *ctx, const char *file, const char *options,
                                 const char *name, float a, float *y, size_t n)
{
    cl_kernel k = NULL;
    cl_mem m = NULL;
    int rc = rt_kernel(ctx, file, options, name, &k);
    if (rc == CC_OK)
        rc = rt_alloc(ctx, n * sizeof(float), &m);
    if (rc == CC_OK) {
        cl_int e = clSetKernelArg(k, 0, sizeof m, &m);
        e |= clSetKernelArg(k, 1, sizeof a, &a);
        size_t g = n;
        if (e == CL_SUCCESS)
            e = clEnqueueNDRangeKernel(ctx->queue, k, 1, NULL, &g, NULL, 0, NULL, NULL);
        rc = e == CL_SUCCESS ? rt_download(ctx, m, 0, y, n * sizeof(float)) : CC_ERR_OPENCL;
    }
    if (m)
        clReleaseMemObject(m);
    if (k)
        clReleaseKernel(k);
    return rc;
}

#endif
