/* Training BatchNorm as its own ops (bn_stats, bn_train and the backward's
 * bn_grad_sums, bn_grad_x), checked two ways:
 *  - against the composite of generic ops it replaced (kept here, test-local,
 *    as an independent reference): y, the batch mean and variance, and the
 *    gradients of x, gamma and beta, all on the ref backend in one graph;
 *  - the whole forward + backward graph on OpenCL (both row variants)
 *    against the ref backend.
 * Shapes: [N, C, H, W] with N*H*W not a multiple of any work-group or
 * vector width, one with long segments (16-wide loads plus a tail), and
 * [N, C]. Finite differences of every op are in test_op_sweep. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/ref/ref.h"
#include "runtime/status.h"
#include "tests/common/op_harness.h"

/* Float sums over up to 3*77*35 terms per channel, a difference of terms of
 * similar size in dx. */
#define RTOL_BN 2e-5f

/* The composite g_batchnorm_train was before it had ops of its own: means
 * over M then N, centred squares, rstd by exp(-0.5 log(var + eps)). */
static int composite_bn(graph *g, int x, int gamma, int beta, float eps, int *mean_out, int *var_out)
{
    const g_tensor *X = &g->tensors[x];
    int64_t xs[G_MAX_DIMS];
    memcpy(xs, X->shape, sizeof xs);
    int nd = X->ndim;
    int64_t C = xs[1], M = nd == 4 ? xs[2] * xs[3] : 1;
    int64_t s3[3] = {xs[0], C, M}, c1[2] = {C, 1};
    int x3 = g_reshape(g, x, 3, s3);
    int mean = g_mean(g, g_transpose(g, g_mean(g, x3), 0, 1));
    int xc = g_sub(g, x3, g_reshape(g, mean, 2, c1));
    int var = g_mean(g, g_transpose(g, g_mean(g, g_mul(g, xc, xc)), 0, 1));
    int epsv = g_scale(g, g_exp(g, g_scale(g, var, 0.0f)), eps); /* a [C] constant */
    int rstd = g_exp(g, g_scale(g, g_log(g, g_add(g, var, epsv)), -0.5f));
    int a = g_reshape(g, g_mul(g, rstd, gamma), 2, c1);
    int y3 = g_add(g, g_mul(g, xc, a), g_reshape(g, beta, 2, c1));
    *mean_out = mean, *var_out = var;
    return g_reshape(g, y3, nd, xs);
}

typedef int (*bn_fn)(graph *g, int x, int gamma, int beta, float eps, int *mean_out, int *var_out);

/* loss = sum(y * r), r a fixed random input (sum(y) alone has dx = 0).
 * outs: y, mean, var, dx, dgamma, dbeta, all marked as outputs. */
static void build(graph *g, bn_fn fn, int x, int ga, int be, int r, int outs[6])
{
    int y = fn(g, x, ga, be, 1e-5f, &outs[1], &outs[2]);
    assert_true(y >= 0);
    int64_t n = g_numel(g, y);
    int loss = g_sum(g, g_reshape(g, g_mul(g, y, r), 1, &n));
    int wrt[3] = {x, ga, be};
    assert_int_equal(g_backward(g, loss, 3, wrt, &outs[3], NULL), CC_OK);
    outs[0] = y;
    for (int i = 0; i < 6; i++)
        g_mark_output(g, outs[i]);
}

static float *rand_buf(int64_t n, unsigned seed, float lo, float hi)
{
    float *p = malloc((size_t)n * sizeof *p);
    for (int64_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = lo + (hi - lo) * (float)((seed >> 8) & 0xffffff) / 16777216.0f;
    }
    return p;
}

static void fused_vs_composite(int ndim, const int64_t *shape)
{
    graph *g = g_new();
    int64_t C = shape[1];
    int x = g_input(g, "x", G_F32, ndim, shape), r = g_input(g, "r", G_F32, ndim, shape);
    int ga = g_param(g, "gamma", 1, &C), be = g_param(g, "beta", 1, &C);
    int f[6], c[6];
    build(g, g_batchnorm_train, x, ga, be, r, f);
    build(g, composite_bn, x, ga, be, r, c);
    void **d = calloc((size_t)g->n_tensors, sizeof *d);
    int64_t nx = g_numel(g, x);
    d[x] = rand_buf(nx, 7, -2.0f, 3.0f);
    d[r] = rand_buf(nx, 8, -1.0f, 1.0f);
    d[ga] = rand_buf(C, 9, 0.5f, 1.5f);
    d[be] = rand_buf(C, 10, -1.0f, 1.0f);
    for (int t = 0; t < g->n_tensors; t++) /* the backward seeds: dloss = 1 */
        if (g->tensors[t].role == G_ROLE_INPUT && !d[t]) {
            d[t] = malloc(sizeof(float));
            *(float *)d[t] = 1.0f;
        }
    assert_int_equal(ref_eval(g, d), CC_OK);
    static const char *what[6] = {"y", "mean", "var", "dx", "dgamma", "dbeta"};
    for (int i = 0; i < 6; i++) {
        const float *a = d[f[i]], *b = d[c[i]];
        int64_t n = g_numel(g, f[i]);
        assert_int_equal(n, g_numel(g, c[i]));
        double mx = 0.0, err = 0.0;
        for (int64_t k = 0; k < n; k++) {
            mx = fmax(mx, fabs(b[k]));
            err = fmax(err, fabs((double)a[k] - b[k]));
        }
        char sh[48];
        printf("fused vs composite %s %s: max err %.3g, max |ref| %.3g\n", what[i],
               g_shape_str(g, x, sh, sizeof sh), err, mx);
        assert_true(err <= 1e-5 * mx + 1e-6);
    }
    ref_free_acts(g, d);
    for (int t = 0; t < g->n_tensors; t++)
        if (g->tensors[t].role == G_ROLE_INPUT || g->tensors[t].role == G_ROLE_PARAM)
            free(d[t]);
    free(d);
    g_free(g);
}

static void test_fused_vs_composite(void **state)
{
    (void)state;
    fused_vs_composite(4, (const int64_t[]){3, 5, 7, 9});
    fused_vs_composite(4, (const int64_t[]){2, 3, 1, 1});
    fused_vs_composite(2, (const int64_t[]){37, 5});
}

static void ocl_vs_ref(int ndim, const int64_t *shape)
{
    static const char *variants[] = {"cpu", "gpu"};
    for (int v = 0; v < 2; v++) {
        setenv("CLIPCL_FORCE_VARIANT", variants[v], 1);
        graph *g = g_new();
        int64_t C = shape[1];
        int x = g_input(g, "x", G_F32, ndim, shape), r = g_input(g, "r", G_F32, ndim, shape);
        int ga = g_param(g, "gamma", 1, &C), be = g_param(g, "beta", 1, &C);
        int f[6];
        build(g, g_batchnorm_train, x, ga, be, r, f);
        oh_f32_range(x, -2.0f, 3.0f);
        oh_f32_range(ga, 0.5f, 1.5f);
        oh_opts o = oh_tol(RTOL_BN);
        o.atol = 1e-6f;
        char label[96], sh[48];
        snprintf(label, sizeof label, "bn_train fwd+bwd %s %s", variants[v], g_shape_str(g, x, sh, sizeof sh));
        assert_int_equal(oh_check(g, &o, label), 0);
        g_free(g);
    }
    unsetenv("CLIPCL_FORCE_VARIANT");
}

static void test_ocl_vs_ref(void **state)
{
    (void)state;
    ocl_vs_ref(4, (const int64_t[]){3, 5, 7, 9});
    ocl_vs_ref(4, (const int64_t[]){3, 4, 77, 35});
    ocl_vs_ref(4, (const int64_t[]){2, 3, 1, 1});
    ocl_vs_ref(4, (const int64_t[]){8, 64, 56, 56});
    ocl_vs_ref(4, (const int64_t[]){8, 512, 7, 7});
    ocl_vs_ref(2, (const int64_t[]){37, 5});
}

/* bn_train's rule folds the statistics' gradient into dx, which is only
 * right for bn_stats of the same x: anything else is refused. */
static void test_foreign_stats_refused(void **state)
{
    (void)state;
    graph *g = g_new();
    int64_t C = 3, xs[4] = {2, 3, 4, 5};
    int x = g_input(g, "x", G_F32, 4, xs), z = g_input(g, "z", G_F32, 4, xs);
    int ga = g_param(g, "gamma", 1, &C), be = g_param(g, "beta", 1, &C);
    int y = g_bn_train(g, x, ga, be, g_bn_stats(g, z), 1e-5f);
    int64_t n = g_numel(g, y);
    int loss = g_sum(g, g_reshape(g, y, 1, &n)), gx;
    assert_int_equal(g_backward(g, loss, 1, &x, &gx, NULL), CC_ERR_UNSUPPORTED);
    assert_non_null(strstr(cc_last_error(), "not bn_stats of its x"));
    g_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_foreign_stats_refused),
        cmocka_unit_test(test_fused_vs_composite),
        cmocka_unit_test(test_ocl_vs_ref),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
