/* rt_program / rt_kernel: in-memory cache per ctx, then the on-disk binary
 * cache, then a compile from source whose binary is stored for next time. */
#include "runtime/program_cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>
#include "runtime/clock.h"
#include "runtime/settings.h"
#include "runtime/timings.h"

static int find_entry(const rt_ctx *ctx, const char *file, const char *options, uint64_t h)
{
    for (int i = 0; i < ctx->n_programs; i++) {
        const rt_program_entry *e = &ctx->programs[i];
        if (e->source_hash == h && strcmp(e->file, file) == 0 && strcmp(e->options, options) == 0)
            return i;
    }
    return -1;
}

static int add_entry(rt_ctx *ctx, const char *file, const char *options, uint64_t h, cl_program p)
{
    if (ctx->n_programs == ctx->cap_programs) {
        int nc = ctx->cap_programs ? ctx->cap_programs * 2 : 8;
        rt_program_entry *g = realloc(ctx->programs, (size_t)nc * sizeof *g);
        if (!g)
            return cc_fail(CC_ERR_NOMEM, "rt_program: out of memory caching %s", file);
        ctx->programs = g;
        ctx->cap_programs = nc;
    }
    char *f = strdup(file), *o = strdup(options);
    if (!f || !o) {
        free(f);
        free(o);
        return cc_fail(CC_ERR_NOMEM, "rt_program: out of memory caching %s", file);
    }
    rt_program_entry *e = &ctx->programs[ctx->n_programs++];
    e->file = f;
    e->options = o;
    e->source_hash = h;
    e->program = p;
    return CC_OK;
}

/* The cached binary must both load and build, else it is treated as corrupt
 * (e.g. a driver update that kept its version string). */
static cl_program from_binary(rt_ctx *ctx, const unsigned char *bin, size_t len, const char *options)
{
    cl_int err = CL_SUCCESS, bstatus = CL_SUCCESS;
    cl_program p = clCreateProgramWithBinary(ctx->context, 1, &ctx->dev.device, &len, &bin,
                                             &bstatus, &err);
    if (err != CL_SUCCESS || bstatus != CL_SUCCESS) {
        if (p)
            clReleaseProgram(p);
        return NULL;
    }
    if (clBuildProgram(p, 1, &ctx->dev.device, options, NULL, NULL) != CL_SUCCESS) {
        clReleaseProgram(p);
        return NULL;
    }
    return p;
}

static int build_failure(rt_ctx *ctx, cl_program p, const char *file, const char *options,
                         cl_int err)
{
    size_t n = 0;
    char *log = NULL;
    if (clGetProgramBuildInfo(p, ctx->dev.device, CL_PROGRAM_BUILD_LOG, 0, NULL, &n) == CL_SUCCESS &&
        n > 0 && (log = malloc(n + 1)) != NULL) {
        if (clGetProgramBuildInfo(p, ctx->dev.device, CL_PROGRAM_BUILD_LOG, n, log, NULL) != CL_SUCCESS)
            n = 0;
        log[n] = '\0';
        while (n > 0 && (log[n - 1] == '\n' || log[n - 1] == ' ' || log[n - 1] == '\0'))
            log[--n] = '\0';
    }
    int rc = cc_fail(CC_ERR_BUILD, "kernel %s failed to build (options \"%s\"):\n%s", file, options,
                     log && log[0] ? log : rt_cl_error_string(err));
    free(log);
    return rc;
}

static void store_binary(rt_ctx *ctx, cl_program p, const char *hex)
{
    size_t size = 0;
    if (clGetProgramInfo(p, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, NULL) != CL_SUCCESS ||
        size == 0)
        return;
    unsigned char *bin = malloc(size);
    if (!bin)
        return;
    unsigned char *bins[1] = {bin};
    if (clGetProgramInfo(p, CL_PROGRAM_BINARIES, sizeof bins, bins, NULL) == CL_SUCCESS)
        (void)rt_pcache_store(hex, bin, size); /* an unwritable cache never fails a run */
    free(bin);
    (void)ctx;
}

/* Options for a compile from source: the caller's plus -w. PoCL's clang
 * writes "N warnings generated." to the process's stderr itself (not only
 * to the build log) whenever a kernel has warnings, so every cold start
 * printed compiler chatter a user cannot act on. -w (a standard OpenCL
 * build option: inhibit all warnings) silences it on every driver without
 * touching file descriptor 2, which other threads may be writing to. Errors
 * still reach the build log, which build_failure() puts in the message;
 * warnings are found by the -Werror compiles of test_kernel_targets.
 * -w changes no code, so the binary cache key keeps the caller's options. */
static char *quiet_options(const char *options)
{
    const size_t n = strlen(options);
    char *o = malloc(n + 4);
    if (o)
        snprintf(o, n + 4, "%s%s-w", options, n ? " " : "");
    return o;
}

static int from_source(rt_ctx *ctx, const char *file, const char *src, size_t len,
                       const char *options, cl_program *out)
{
    cl_int err = CL_SUCCESS;
    char *quiet = quiet_options(options);
    if (!quiet)
        return cc_fail(CC_ERR_NOMEM, "rt_program: out of memory building %s", file);
    cl_program p = clCreateProgramWithSource(ctx->context, 1, &src, &len, &err);
    if (err != CL_SUCCESS) {
        free(quiet);
        return cc_fail(CC_ERR_OPENCL, "clCreateProgramWithSource(%s) failed: %s", file,
                       rt_cl_error_string(err));
    }
    err = clBuildProgram(p, 1, &ctx->dev.device, quiet, NULL, NULL);
    free(quiet);
    if (err != CL_SUCCESS) {
        int rc = (err == CL_BUILD_PROGRAM_FAILURE || err == CL_INVALID_BUILD_OPTIONS ||
                  err == CL_COMPILE_PROGRAM_FAILURE)
                     ? build_failure(ctx, p, file, options, err)
                     : cc_fail(CC_ERR_OPENCL, "clBuildProgram(%s) failed: %s", file,
                               rt_cl_error_string(err));
        clReleaseProgram(p);
        return rc;
    }
    *out = p;
    return CC_OK;
}

int rt_program(rt_ctx *ctx, const char *file, const char *options, cl_program *out)
{
    if (!ctx || !file || !out)
        return cc_fail(CC_ERR_INVALID, "rt_program: ctx, file and out must not be NULL");
    if (!options)
        options = "";
    size_t len = 0;
    const char *src = NULL;
    int rc_src = rt_kernel_text(file, &src, &len, NULL);
    if (rc_src != CC_OK)
        return rc_src;
    uint64_t h = XXH3_64bits(src, len);
    int i = find_entry(ctx, file, options, h);
    if (i >= 0) {
        *out = ctx->programs[i].program;
        return CC_OK;
    }

    double t0 = cc_now_s();
    const char *how = "from cached binary";
    char hex[33];
    rt_pcache_key(&ctx->dev, options, src, len, hex);
    unsigned char *bin = NULL;
    size_t blen = 0;
    cl_program p = NULL;
    int st = rt_pcache_load(hex, &bin, &blen);
    if (st == RT_PCACHE_LOADED) {
        p = from_binary(ctx, bin, blen, options);
        free(bin);
        if (p)
            ctx->disk_cache_hits++;
        else
            ctx->disk_cache_rejected++;
    } else if (st == RT_PCACHE_CORRUPT) {
        ctx->disk_cache_rejected++;
    } else {
        ctx->disk_cache_misses++;
    }
    if (!p) {
        int rc = from_source(ctx, file, src, len, options, &p);
        if (rc != CC_OK)
            return rc;
        store_binary(ctx, p, hex);
        how = "from source";
    }
    if (rt_timings_on()) {
        char detail[160];
        snprintf(detail, sizeof detail, "%s%s%s, %s", file, options[0] ? " " : "", options, how);
        rt_timing_add("kernel program build", detail, cc_now_s() - t0);
    }
    int rc = add_entry(ctx, file, options, h, p);
    if (rc != CC_OK) {
        clReleaseProgram(p);
        return rc;
    }
    *out = p;
    return CC_OK;
}

/* Per-kernel selection (kernels/common.cl, KSEL_ALL): a file that wraps a
 * costly kernel in `#if KSEL_ALL || defined(KSEL_name)` gets a program of
 * its own per wrapped kernel asked for (-DKSEL -DKSEL_name) and one for its
 * unwrapped kernels (-DKSEL), so a plan compiles only the costly kernels it
 * launches: gemm.cl's four register-tiled kernels each cost about as much
 * to compile as the rest of the file, and a plan uses one or two per tile
 * and epilogue. A file without KSEL_ALL is one program, as before. Returns
 * the options to build with (malloc'd; NULL when out of memory). */
static char *selected_options(const char *file, const char *options, const char *name)
{
    const char *src = NULL;
    size_t len = 0;
    const size_t n = strlen(options);
    char *o = NULL;
    if (rt_kernel_text(file, &src, &len, NULL) != CC_OK) {
        cc_clear_error(); /* rt_program reports it */
        return strdup(options);
    }
    if (!strstr(src, "#if KSEL_ALL || defined(KSEL_")) /* the prelude's comment does not match */
        return strdup(options);
    char wrapped[160];
    snprintf(wrapped, sizeof wrapped, "defined(KSEL_%s)", name);
    const int own = strstr(src, wrapped) != NULL;
    const size_t cap = n + strlen(name) + 24;
    if ((o = malloc(cap)) != NULL)
        snprintf(o, cap, "%s%s-DKSEL%s%s", options, n ? " " : "", own ? " -DKSEL_" : "", own ? name : "");
    return o;
}

int rt_kernel(rt_ctx *ctx, const char *file, const char *options, const char *name, cl_kernel *out)
{
    cl_program p = NULL;
    if (!ctx || !file || !name || !out)
        return cc_fail(CC_ERR_INVALID, "rt_kernel: ctx, file, name and out must not be NULL");
    char *sel = selected_options(file, options ? options : "", name);
    if (!sel)
        return cc_fail(CC_ERR_NOMEM, "rt_kernel: out of memory building %s", file);
    int rc = rt_program(ctx, file, sel, &p);
    free(sel);
    if (rc != CC_OK)
        return rc;
    cl_int err = CL_SUCCESS;
    cl_kernel k = clCreateKernel(p, name, &err);
    if (err == CL_INVALID_KERNEL_NAME)
        return cc_fail(CC_ERR_INVALID, "kernel %s not found in %s (options \"%s\")", name, file,
                       options ? options : "");
    if (err != CL_SUCCESS)
        return cc_fail(CC_ERR_OPENCL, "clCreateKernel(%s in %s) failed: %s", name, file,
                       rt_cl_error_string(err));
    *out = k;
    return CC_OK;
}
