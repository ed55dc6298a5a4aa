/* Finite-difference gradient checker (see ad_check.h). */
#include "ad_check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/ref/ref.h"
#include "runtime/status.h"

#define MAX_RANGES 32

static struct {
    int t;
    float lo, hi;
} ranges[MAX_RANGES];
static int n_ranges;

void adc_range(int tensor, float lo, float hi)
{
    for (int i = 0; i < n_ranges; i++)
        if (ranges[i].t == tensor) {
            ranges[i].lo = lo;
            ranges[i].hi = hi;
            return;
        }
    if (n_ranges < MAX_RANGES) {
        ranges[n_ranges].t = tensor;
        ranges[n_ranges].lo = lo;
        ranges[n_ranges].hi = hi;
        n_ranges++;
    }
}

adc_opts adc_default(void)
{
    adc_opts o = {1e-2, 2e-3, 1e-4, 40, 1234u};
    return o;
}

float adc_rand(unsigned *state, float lo, float hi)
{
    *state = *state * 1664525u + 1013904223u;
    return lo + (hi - lo) * (float)((*state >> 8) & 0xFFFFFF) / (float)0x1000000;
}

/* Fills every input and param with id < n of g (same ids in both graphs). */
static int fill_leaves(const graph *g, int n, void **data, unsigned seed)
{
    for (int t = 0; t < n; t++) {
        const g_tensor *T = &g->tensors[t];
        if (T->role != G_ROLE_INPUT && T->role != G_ROLE_PARAM)
            continue;
        float lo = T->dtype == G_I32 ? 0.0f : -1.0f, hi = T->dtype == G_I32 ? 3.0f : 1.0f;
        for (int i = 0; i < n_ranges; i++)
            if (ranges[i].t == t) {
                lo = ranges[i].lo;
                hi = ranges[i].hi;
            }
        int64_t ne = g_numel(g, t);
        data[t] = malloc((size_t)ne * 4);
        if (!data[t])
            return -1;
        unsigned st = seed * 2654435761u + (unsigned)t * 40503u + 1u;
        for (int64_t i = 0; i < ne; i++) {
            float v = adc_rand(&st, lo, hi);
            if (T->dtype == G_I32)
                ((int32_t *)data[t])[i] = (int32_t)floorf(v + 0.5f);
            else
                ((float *)data[t])[i] = v;
        }
    }
    return 0;
}

static void free_all(graph *g, void **data, int n_leaf_upto)
{
    if (!data)
        return;
    ref_free_acts(g, data);
    for (int t = 0; t < n_leaf_upto && t < g->n_tensors; t++) {
        int role = g->tensors[t].role;
        if ((role == G_ROLE_INPUT || role == G_ROLE_PARAM) && g->tensors[t].alias_of < 0)
            free(data[t]);
    }
    free(data);
}

static double loss_of(const graph *g, void **data, int out, const float *r)
{
    const float *y = data[out];
    double s = 0.0;
    for (int64_t i = 0; i < g_numel(g, out); i++)
        s += (double)y[i] * (double)r[i];
    return s;
}

int adc_check(const char *label, adc_build_fn build, int param, const adc_opts *o)
{
    adc_opts opt = o ? *o : adc_default();
    int wrt[ADC_MAX_WRT], wrt2[ADC_MAX_WRT], nw = 0, nw2 = 0, grads[ADC_MAX_WRT], seed = -1;
    int rc = -1;
    n_ranges = 0;
    graph *gf = g_new(), *gb = g_new();
    void **df = NULL, **db = NULL;
    int out = build(gf, param, wrt, &nw);
    int out2 = build(gb, param, wrt2, &nw2);
    if (out < 0 || out2 != out || nw != nw2 || nw < 1 || nw > ADC_MAX_WRT) {
        printf("%s: build failed or differs between builds: %s\n", label, cc_last_error());
        goto done;
    }
    int nleaf = gf->n_tensors;
    g_mark_output(gf, out);
    int r = g_input(gb, "r", G_F32, gb->tensors[out].ndim, gb->tensors[out].shape);
    int64_t ne = g_numel(gb, out);
    int loss = g_sum(gb, g_reshape(gb, g_mul(gb, out, r), 1, &ne));
    if (loss < 0) {
        printf("%s: loss build failed: %s\n", label, cc_last_error());
        goto done;
    }
    g_set_name(gb, loss, "loss");
    g_mark_output(gb, loss);
    if (g_backward(gb, loss, nw, wrt, grads, &seed) != CC_OK) {
        printf("%s: g_backward failed: %s\n", label, cc_last_error());
        goto done;
    }
    df = calloc((size_t)gf->n_tensors, sizeof *df);
    db = calloc((size_t)gb->n_tensors, sizeof *db);
    if (!df || !db || fill_leaves(gf, nleaf, df, opt.seed) || fill_leaves(gb, nleaf, db, opt.seed))
        goto done;
    float *rv = malloc((size_t)ne * 4), *one = malloc(4);
    db[r] = rv;
    db[seed] = one;
    unsigned st = opt.seed ^ 0x9e3779b9u;
    for (int64_t i = 0; i < ne; i++)
        rv[i] = adc_rand(&st, -1.0f, 1.0f);
    *one = 1.0f;
    if (ref_eval(gb, db) != CC_OK || ref_eval(gf, df) != CC_OK) {
        printf("%s: ref_eval failed: %s\n", label, cc_last_error());
        goto done;
    }
    rc = 0;
    for (int w = 0; w < nw; w++) {
        int t = wrt[w];
        int64_t n = g_numel(gf, t);
        int64_t step = n <= opt.max_elems ? 1 : (n + opt.max_elems - 1) / opt.max_elems;
        float *x = df[t];
        const float *an = db[grads[w]];
        double maxfd = 0.0, maxerr = 0.0;
        int64_t worst = 0;
        double worst_fd = 0.0;
        int eval_failed = 0;
        for (int64_t i = 0; i < n; i += step) {
            float keep = x[i];
            x[i] = (float)(keep + opt.h);
            double hp = (double)x[i] - keep;
            if (ref_eval(gf, df) != CC_OK)
                eval_failed = 1;
            double lp = loss_of(gf, df, out, rv);
            x[i] = (float)(keep - opt.h);
            double hm = keep - (double)x[i];
            if (ref_eval(gf, df) != CC_OK)
                eval_failed = 1;
            double lm = loss_of(gf, df, out, rv);
            x[i] = keep;
            double fd = (lp - lm) / (hp + hm);
            double err = fabs(fd - (double)an[i]);
            if (fabs(fd) > maxfd)
                maxfd = fabs(fd);
            if (err > maxerr) {
                maxerr = err;
                worst = i;
                worst_fd = fd;
            }
        }
        /* A vanishing gradient would make the comparison vacuous. */
        if (eval_failed) {
            printf("%s: ref_eval of a perturbed input failed: %s\n", label, cc_last_error());
            rc = -1;
        }
        int ok = !eval_failed && maxerr <= opt.rtol * maxfd + opt.atol && maxfd > 1e-3;
        char sh[64];
        printf("%-30s d/d %-8s %-16s max|fd| %.3e  max err %.3e%s\n", label, gf->tensors[t].name,
               g_shape_str(gf, t, sh, sizeof sh), maxfd, maxerr, ok ? "" : "  <-- MISMATCH");
        if (!ok) {
            printf("    element %lld: analytic %.6g vs fd %.6g\n", (long long)worst, (double)an[worst], worst_fd);
            if (rc == 0)
                rc = 1;
        }
    }
    ref_eval(gf, df); /* leave nothing half-perturbed for a debugger */
done:
    free_all(gf, df, gf->n_tensors);
    free_all(gb, db, gb->n_tensors);
    g_free(gf);
    g_free(gb);
    return rc;
}
