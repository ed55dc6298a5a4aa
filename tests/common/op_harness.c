/* Op test harness: one graph, random inputs, ref backend vs OpenCL plan. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/opencl/ocl_backend.h"
#include "backends/ref/ref.h"
#include "runtime/rng.h"
#include "tests/common/op_harness.h"

typedef struct oh_range {
    int tensor;
    int is_int;
    float flo, fhi;
    int32_t ilo, ihi;
} oh_range;

#define OH_MAX_RANGES 64
static oh_range g_ranges[OH_MAX_RANGES];
static int g_n_ranges;
static rt_ctx *g_ctx;

rt_ctx *oh_ctx(void)
{
    if (!g_ctx) {
        if (rt_ctx_create(NULL, 0, &g_ctx) != 0) {
            fprintf(stderr, "op_harness: no OpenCL context: %s\n", cc_last_error());
            g_ctx = NULL;
        }
    }
    /* the policy is filled once per context; tests switch variants with
     * setenv() between checks, so every use re-reads it */
    if (g_ctx)
        rt_policy_reload(g_ctx);
    return g_ctx;
}

static void set_range(const oh_range *r)
{
    for (int i = 0; i < g_n_ranges; i++)
        if (g_ranges[i].tensor == r->tensor) {
            g_ranges[i] = *r;
            return;
        }
    if (g_n_ranges < OH_MAX_RANGES)
        g_ranges[g_n_ranges++] = *r;
}

void oh_int_range(int tensor, int32_t lo, int32_t hi)
{
    oh_range r = { tensor, 1, 0, 0, lo, hi };
    set_range(&r);
}

void oh_f32_range(int tensor, float lo, float hi)
{
    oh_range r = { tensor, 0, lo, hi, 0, 0 };
    set_range(&r);
}

static const oh_range *find_range(int tensor)
{
    for (int i = 0; i < g_n_ranges; i++)
        if (g_ranges[i].tensor == tensor)
            return &g_ranges[i];
    return NULL;
}

oh_opts oh_tol(float rtol)
{
    oh_opts o;
    o.rtol = rtol;
    o.atol = 0.0f;
    o.seed = 1234;
    o.lo = -1.0f;
    o.hi = 1.0f;
    return o;
}

static void fill(const graph *g, int t, const oh_opts *o, void *buf)
{
    const g_tensor *T = &g->tensors[t];
    int64_t n = g_numel(g, t);
    uint64_t s = ((uint64_t)o->seed << 32) ^ (uint64_t)(t * 7919 + 1);
    const oh_range *r = find_range(t);
    if (T->dtype == G_I32) {
        int32_t lo = r && r->is_int ? r->ilo : 0, hi = r && r->is_int ? r->ihi : 9;
        int32_t *p = buf;
        uint64_t span = (uint64_t)((int64_t)hi - lo + 1);
        for (int64_t i = 0; i < n; i++)
            p[i] = (int32_t)(lo + (int64_t)(cc_rng_next(&s) % span));
    } else {
        float lo = r && !r->is_int ? r->flo : o->lo, hi = r && !r->is_int ? r->fhi : o->hi;
        float *p = buf;
        for (int64_t i = 0; i < n; i++)
            p[i] = (float)(lo + (hi - lo) * cc_rng_uniform(&s));
    }
}

/* Compares one output; prints its line; returns 0 if within tolerance. */
static int compare(const graph *g, int t, const void *ref, const void *got, const oh_opts *o, const char *label)
{
    const g_tensor *T = &g->tensors[t];
    int64_t n = g_numel(g, t);
    char shp[128];
    g_shape_str(g, t, shp, sizeof shp);
    if (T->dtype == G_I32) {
        const int32_t *a = ref, *b = got;
        int64_t bad = 0, first = -1;
        for (int64_t i = 0; i < n; i++)
            if (a[i] != b[i] && bad++ == 0)
                first = i;
        printf("%-40s %-10s %-20s i32 mismatches %lld of %lld\n", label, T->name, shp, (long long)bad,
               (long long)n);
        if (bad)
            printf("  first mismatch at %lld: ref %d, opencl %d\n", (long long)first, a[first], b[first]);
        return bad != 0;
    }
    const float *a = ref, *b = got;
    double maxerr = 0, maxref = 0;
    int64_t worst = 0, nonfinite = -1;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(b[i]) && isfinite(a[i]) && nonfinite < 0)
            nonfinite = i;
        double e = fabs((double)a[i] - (double)b[i]);
        if (e > maxerr) {
            maxerr = e;
            worst = i;
        }
        if (fabs((double)a[i]) > maxref)
            maxref = fabs((double)a[i]);
    }
    double lim = o->atol + (double)o->rtol * maxref;
    int fail = nonfinite >= 0 || maxerr > lim;
    printf("%-40s %-10s %-20s max_abs_err %.3e max_ref %.3e (limit %.3e)%s\n", label, T->name, shp, maxerr, maxref,
           lim, fail ? "  FAIL" : "");
    if (nonfinite >= 0)
        printf("  non-finite at %lld: ref %.9g, opencl %.9g\n", (long long)nonfinite, a[nonfinite], b[nonfinite]);
    else if (fail)
        printf("  first worst at %lld: ref %.9g, opencl %.9g\n", (long long)worst, a[worst], b[worst]);
    return fail;
}

int oh_check(graph *g, const oh_opts *opts, const char *label)
{
    int fail = 1;
    void **data = NULL, **host_in = NULL;
    ocl_plan *plan = NULL;
    rt_ctx *ctx = oh_ctx();
    if (!ctx) {
        printf("%s: no OpenCL context\n", label);
        goto done;
    }
    if (g->n_errors) {
        printf("%s: graph has builder errors: %s\n", label, cc_last_error());
        goto done;
    }
    data = calloc((size_t)g->n_tensors, sizeof(void *));
    host_in = calloc((size_t)g->n_tensors, sizeof(void *));
    if (!data || !host_in)
        goto done;
    for (int t = 0; t < g->n_tensors; t++) {
        const g_tensor *T = &g->tensors[t];
        if (T->alias_of >= 0 || (T->role != G_ROLE_INPUT && T->role != G_ROLE_PARAM))
            continue;
        host_in[t] = malloc(g_nbytes(g, t) + 4);
        if (!host_in[t])
            goto done;
        fill(g, t, opts, host_in[t]);
        data[t] = host_in[t];
    }
    if (ref_eval(g, data) != 0) {
        printf("%s: ref_eval failed: %s\n", label, cc_last_error());
        goto done;
    }
    if (ocl_plan_create(ctx, g, &plan) != 0) {
        printf("%s: ocl_plan_create failed: %s\n", label, cc_last_error());
        goto done;
    }
    for (int t = 0; t < g->n_tensors; t++)
        if (host_in[t] && ocl_plan_mem(plan, t) && ocl_plan_write(plan, t, host_in[t], g_nbytes(g, t)) != 0) {
            printf("%s: ocl_plan_write failed: %s\n", label, cc_last_error());
            goto done;
        }
    if (ocl_plan_run(plan) != 0) {
        printf("%s: ocl_plan_run failed: %s\n", label, cc_last_error());
        goto done;
    }
    fail = 0;
    int n_out = 0;
    for (int t = 0; t < g->n_tensors; t++) {
        if (!g->tensors[t].is_output)
            continue;
        n_out++;
        size_t bytes = g_nbytes(g, t);
        void *got = malloc(bytes + 4);
        if (!got || ocl_plan_read(plan, t, got, bytes) != 0) {
            printf("%s: ocl_plan_read of tensor %d failed: %s\n", label, t, cc_last_error());
            free(got);
            fail = 1;
            continue;
        }
        fail |= compare(g, t, data[t], got, opts, label);
        free(got);
    }
    if (n_out == 0) {
        printf("%s: no tensor is marked as output\n", label);
        fail = 1;
    }
done:
    fflush(stdout);
    ocl_plan_free(plan);
    if (data) {
        ref_free_acts(g, data);
        for (int t = 0; t < g->n_tensors; t++)
            free(host_in[t]);
    }
    free(data);
    free(host_in);
    g_n_ranges = 0;
    return fail;
}
