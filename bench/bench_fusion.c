/* bench_fusion: one fusion pattern's example (the unfused subgraph its row
 * builds, backends/opencl/ocl_fusion.h) at a few sizes, planned with only
 * that fusion on and with fusion off: median wall time per run and launches
 * per run of each, so a new fused kernel shows what it saves.
 *
 * usage: bench_fusion                      list the patterns
 *        bench_fusion NAME [ROWSxCOLS ...] [--runs N]
 * Sizes default to 50x768 200x768 800x768 (rows and width of a CLIP ViT-B
 * activation; conv examples read rows as the image side, capped at 64).
 * Device: $CLIPCL_DEVICE as everywhere. Output, one line per size and mode:
 *   NAME ROWSxCOLS fusion on|off  ms <median>  launches <n>  fired <k> */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backends/opencl/ocl_fusion.h"
#include "runtime/rt.h"

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

/* Seeded values in [lo, hi): speed does not depend on them. */
static void fill(float *p, int64_t n, float lo, float hi, unsigned seed)
{
    unsigned s = seed * 2654435761u + 1u;
    for (int64_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        p[i] = lo + (hi - lo) * (float)(s >> 8) / 16777216.0f;
    }
}

/* Plans g, uploads every input and param, times `runs` runs after one
 * warm-up; 0 or a cc_code. */
static int time_graph(rt_ctx *ctx, const graph *g, const ocl_fusion_example *ex, int runs, double *median_s,
                      int *launches, int *fired)
{
    ocl_plan *p = NULL;
    double *t = calloc((size_t)runs, sizeof *t);
    int rc = t ? ocl_plan_create(ctx, g, &p) : cc_fail(CC_ERR_NOMEM, "bench_fusion: out of memory");
    if (rc)
        goto done;
    ocl_fusion_stats st;
    if ((rc = ocl_plan_fusion_stats(p, &st)))
        goto done;
    *launches = st.n_launches - st.n_static;
    *fired = 0;
    for (int r = 0; r < st.n_patterns; r++)
        *fired += st.fired[r];
    for (int i = 0; i < g->n_tensors; i++) {
        const g_tensor *T = &g->tensors[i];
        if ((T->role != G_ROLE_INPUT && T->role != G_ROLE_PARAM) || T->alias_of >= 0 || T->dtype != G_F32)
            continue;
        int positive = 0;
        for (int k = 0; k < ex->n_positive; k++)
            positive |= ex->positive[k] == i;
        float *h = malloc(g_nbytes(g, i) + 4);
        if (!h) {
            rc = cc_fail(CC_ERR_NOMEM, "bench_fusion: out of memory");
            goto done;
        }
        fill(h, g_numel(g, i), positive ? 0.5f : -1.0f, positive ? 1.5f : 1.0f, (unsigned)i + 1u);
        rc = ocl_plan_mem(p, i) ? ocl_plan_write(p, i, h, g_nbytes(g, i)) : CC_OK;
        free(h);
        if (rc)
            goto done;
    }
    if ((rc = ocl_plan_run(p)))
        goto done;
    for (int r = 0; r < runs; r++) {
        double a = now_s();
        if ((rc = ocl_plan_run(p)))
            goto done;
        t[r] = now_s() - a;
    }
    qsort(t, (size_t)runs, sizeof *t, cmp_double);
    *median_s = runs % 2 ? t[runs / 2] : 0.5 * (t[runs / 2 - 1] + t[runs / 2]);
done:
    ocl_plan_free(p);
    free(t);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        printf("usage: bench_fusion NAME [ROWSxCOLS ...] [--runs N]\npatterns:\n");
        for (int r = 0; r < ocl_fusion_count(); r++)
            printf("  %-22s %s\n", ocl_fusion_get(r)->name, ocl_fusion_get(r)->what);
        return 2;
    }
    const int row = ocl_fusion_find(argv[1]);
    if (row < 0) {
        fprintf(stderr, "bench_fusion: unknown pattern \"%s\" (run without arguments for the list)\n", argv[1]);
        return 2;
    }
    int sizes[16][2], n_sizes = 0, runs = 20;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--runs") && i + 1 < argc) {
            runs = atoi(argv[++i]);
            if (runs < 1 || runs > 100000) {
                fprintf(stderr, "bench_fusion: --runs %s: expected 1..100000\n", argv[i]);
                return 2;
            }
        } else if (n_sizes < 16 && sscanf(argv[i], "%dx%d", &sizes[n_sizes][0], &sizes[n_sizes][1]) == 2 &&
                   sizes[n_sizes][0] >= 1 && sizes[n_sizes][1] >= 1) {
            n_sizes++;
        } else {
            fprintf(stderr, "bench_fusion: unexpected argument \"%s\" (expected ROWSxCOLS or --runs N)\n", argv[i]);
            return 2;
        }
    }
    if (!n_sizes) {
        static const int dflt[3][2] = {{50, 768}, {200, 768}, {800, 768}};
        memcpy(sizes, dflt, sizeof dflt);
        n_sizes = 3;
    }
    rt_ctx *ctx = NULL;
    if (rt_ctx_create(NULL, 0, &ctx)) {
        fprintf(stderr, "bench_fusion: no OpenCL context: %s\n", cc_last_error());
        return 1;
    }
    printf("device: %s\n", ctx->dev.device_name);
    const ocl_fusion_pattern *pat = ocl_fusion_get(row);
    int rc = 0;
    for (int s = 0; s < n_sizes && !rc; s++) {
        graph *g = g_new();
        ocl_fusion_example ex;
        memset(&ex, 0, sizeof ex);
        if (!g || pat->example(g, sizes[s][0], sizes[s][1], &ex) || g->n_errors) {
            fprintf(stderr, "bench_fusion: %s example %dx%d: %s\n", pat->name, sizes[s][0], sizes[s][1],
                    cc_last_error());
            g_free(g);
            rc = 1;
            break;
        }
        for (int on = 1; on >= 0 && !rc; on--) {
            setenv("CLIPCL_FUSION", on ? pat->name : "0", 1); /* only this pattern, or none */
            rt_policy_reload(ctx); /* the context read CLIPCL_FUSION when it was created */
            double med = 0.0;
            int launches = 0, fired = 0;
            if (time_graph(ctx, g, &ex, runs, &med, &launches, &fired)) {
                fprintf(stderr, "bench_fusion: %s %dx%d: %s\n", pat->name, sizes[s][0], sizes[s][1], cc_last_error());
                rc = 1;
                break;
            }
            printf("%s %dx%d fusion %-3s ms %.3f  launches %d  fired %d\n", pat->name, sizes[s][0], sizes[s][1],
                   on ? "on" : "off", med * 1e3, launches, fired);
            fflush(stdout);
        }
        g_free(g);
    }
    rt_ctx_free(ctx);
    return rc;
}
