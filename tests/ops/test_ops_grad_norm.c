/* The backward row ops on OpenCL against the ref backend, both row variants
 * (CLIPCL_FORCE_VARIANT=cpu|gpu): softmax_grad, layernorm_grad_x,
 * layernorm_grad_gamma (including the split of long column sums into
 * chunks) and l2norm_grad (above and below the eps clamp). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include "tests/common/op_harness.h"

/* A float dot product over up to 769 terms against a double one. */
#define RTOL_SOFTMAX_GRAD 1e-5f
/* Float row statistics and two float row sums over up to 769 terms; the
 * result is a difference of terms of similar size. */
#define RTOL_LAYERNORM_GRAD_X 1e-5f
/* Float sums over up to 2049 rows of dy * xhat (xhat from float stats). */
#define RTOL_LAYERNORM_GRAD_GAMMA 1e-5f
/* Two float row sums over up to 769 terms, a sqrt and a cube. */
#define RTOL_L2NORM_GRAD 1e-5f

static const char *variants[] = { "cpu", "gpu" };

static void check_softmax_grad(int ndim, const int64_t *shape)
{
    for (int v = 0; v < 2; v++) {
        setenv("CLIPCL_FORCE_VARIANT", variants[v], 1);
        graph *g = g_new();
        int y = g_input(g, "y", G_F32, ndim, shape);
        int dy = g_input(g, "dy", G_F32, ndim, shape);
        int dx = g_softmax_grad(g, y, dy);
        assert_true(dx >= 0);
        g_mark_output(g, dx);
        oh_f32_range(y, 0.0f, 1.0f); /* probabilities */
        oh_opts o = oh_tol(RTOL_SOFTMAX_GRAD);
        char label[96], s[48];
        snprintf(label, sizeof label, "softmax_grad %s %s", variants[v], g_shape_str(g, y, s, sizeof s));
        assert_int_equal(oh_check(g, &o, label), 0);
        g_free(g);
    }
    unsetenv("CLIPCL_FORCE_VARIANT");
}

static void test_softmax_grad(void **state)
{
    (void)state;
    static const int64_t s1[] = { 1, 1 }, s2[] = { 7, 33 }, s3[] = { 2, 5, 77 }, s4[] = { 3, 769 },
                         s5[] = { 4, 1 }, s6[] = { 9, 8 };
    check_softmax_grad(2, s1);
    check_softmax_grad(2, s2);
    check_softmax_grad(3, s3);
    check_softmax_grad(2, s4);
    check_softmax_grad(2, s5);
    check_softmax_grad(2, s6);
}

static void check_layernorm_grad(int ndim, const int64_t *shape, float lo, float hi)
{
    int64_t c = shape[ndim - 1];
    for (int v = 0; v < 2; v++) {
        setenv("CLIPCL_FORCE_VARIANT", variants[v], 1);
        graph *g = g_new();
        int x = g_input(g, "x", G_F32, ndim, shape);
        int ga = g_param(g, "gamma", 1, &c);
        int dy = g_input(g, "dy", G_F32, ndim, shape);
        int dx = g_layernorm_grad_x(g, x, ga, dy, 1e-5f);
        int dg = g_layernorm_grad_gamma(g, x, dy, 1e-5f);
        assert_true(dx >= 0 && dg >= 0);
        g_mark_output(g, dx);
        g_mark_output(g, dg);
        oh_f32_range(x, lo, hi);
        oh_f32_range(ga, 0.5f, 1.5f);
        /* one graph, two outputs: the looser bound covers both */
        oh_opts o = oh_tol(RTOL_LAYERNORM_GRAD_X > RTOL_LAYERNORM_GRAD_GAMMA ? RTOL_LAYERNORM_GRAD_X
                                                                             : RTOL_LAYERNORM_GRAD_GAMMA);
        char label[96], s[48];
        snprintf(label, sizeof label, "layernorm_grad %s %s x in [%g, %g]", variants[v],
                 g_shape_str(g, x, s, sizeof s), lo, hi);
        assert_int_equal(oh_check(g, &o, label), 0);
        g_free(g);
    }
    unsetenv("CLIPCL_FORCE_VARIANT");
}

static void test_layernorm_grad(void **state)
{
    (void)state;
    static const int64_t s1[] = { 1, 1 }, s2[] = { 7, 33 }, s3[] = { 2, 77, 65 }, s4[] = { 3, 769 },
                         s5[] = { 5, 3 }, s6[] = { 2049, 5 }, s7[] = { 769, 8 };
    check_layernorm_grad(2, s1, -1, 1);
    check_layernorm_grad(2, s2, -1, 1);
    check_layernorm_grad(3, s3, -1, 1);
    check_layernorm_grad(2, s4, -1, 1);
    check_layernorm_grad(2, s5, -1, 1);
    check_layernorm_grad(2, s6, -1, 1);  /* gamma: long columns cut into chunks */
    check_layernorm_grad(2, s7, -1, 1);
    /* A large mean against a small spread, as the forward test. */
    check_layernorm_grad(2, s4, 99.0f, 101.0f);
    check_layernorm_grad(2, s7, 99.0f, 101.0f);
}

static void check_l2norm_grad(int ndim, const int64_t *shape, float eps, float lo, float hi, float atol)
{
    for (int v = 0; v < 2; v++) {
        setenv("CLIPCL_FORCE_VARIANT", variants[v], 1);
        graph *g = g_new();
        int x = g_input(g, "x", G_F32, ndim, shape);
        int dy = g_input(g, "dy", G_F32, ndim, shape);
        int dx = g_l2norm_grad(g, x, dy, eps);
        assert_true(dx >= 0);
        g_mark_output(g, dx);
        oh_f32_range(x, lo, hi);
        oh_opts o = oh_tol(RTOL_L2NORM_GRAD);
        o.atol = atol;
        char label[96], s[48];
        snprintf(label, sizeof label, "l2norm_grad %s %s eps=%g", variants[v], g_shape_str(g, x, s, sizeof s),
                 eps);
        assert_int_equal(oh_check(g, &o, label), 0);
        g_free(g);
    }
    unsetenv("CLIPCL_FORCE_VARIANT");
}

static void test_l2norm_grad(void **state)
{
    (void)state;
    static const int64_t s1[] = { 1 }, s2[] = { 7, 33 }, s3[] = { 32, 513 }, s4[] = { 3, 769 }, s5[] = { 4, 1 };
    check_l2norm_grad(2, s2, 1e-12f, -1, 1, 0);
    check_l2norm_grad(2, s3, 1e-12f, -1, 1, 0);
    check_l2norm_grad(2, s4, 1e-12f, -1, 1, 0);
    /* One element per row: dy/|x| - x (x dy)/|x|^3 is exactly 0, so float
     * rounding (|dy/x| <= 2 here, ~1 ulp) is all that is left. */
    check_l2norm_grad(1, s1, 1e-12f, 0.5f, 1, 1e-6f);
    check_l2norm_grad(2, s5, 1e-12f, 0.5f, 1, 1e-6f);
    /* below the clamp: dx = dy / eps */
    check_l2norm_grad(2, s2, 1.0f, -1e-3f, 1e-3f, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_softmax_grad),
        cmocka_unit_test(test_layernorm_grad),
        cmocka_unit_test(test_l2norm_grad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
