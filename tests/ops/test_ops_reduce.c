/* sum, mean, max, argmax over the last dim on OpenCL against the ref backend,
 * in both row variants (forced through CLIPCL_FORCE_VARIANT). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include "tests/common/op_harness.h"

/* Float accumulation over up to 769 terms against a double oracle, scaled
 * by the largest |result|; max and argmax are exact. */
#define RTOL_SUM 1e-5f
#define RTOL_MAX 0.0f

typedef int (*red_fn)(graph *, int);

static const char *variants[] = { "cpu", "gpu" };

static void check(red_fn fn, const char *name, float rtol, int ndim, const int64_t *shape)
{
    for (int v = 0; v < 2; v++) {
        setenv("CLIPCL_FORCE_VARIANT", variants[v], 1);
        graph *g = g_new();
        int x = g_input(g, "x", G_F32, ndim, shape);
        int y = fn(g, x);
        assert_true(y >= 0);
        g_mark_output(g, y);
        oh_opts o = oh_tol(rtol);
        char label[96];
        snprintf(label, sizeof label, "%s %s last=%lld", name, variants[v], (long long)shape[ndim - 1]);
        assert_int_equal(oh_check(g, &o, label), 0);
        g_free(g);
    }
    unsetenv("CLIPCL_FORCE_VARIANT");
}

static const int64_t s1[] = { 1 }, s2[] = { 7, 33 }, s3[] = { 3, 513 }, s4[] = { 2, 769 }, s5[] = { 5, 1 },
                     s6[] = { 2, 1, 77 }, s7[] = { 3 };

static void run_all(red_fn fn, const char *name, float rtol)
{
    check(fn, name, rtol, 1, s1);
    check(fn, name, rtol, 1, s7);
    check(fn, name, rtol, 2, s2);
    check(fn, name, rtol, 2, s3);
    check(fn, name, rtol, 2, s4);
    check(fn, name, rtol, 2, s5);
    check(fn, name, rtol, 3, s6);
}

static void test_sum(void **state) { (void)state; run_all(g_sum, "sum", RTOL_SUM); }
static void test_mean(void **state) { (void)state; run_all(g_mean, "mean", RTOL_SUM); }
static void test_max(void **state) { (void)state; run_all(g_max, "max", RTOL_MAX); }
static void test_argmax(void **state) { (void)state; run_all(g_argmax, "argmax", RTOL_MAX); }

/* Ties: ids drawn from few distinct values make equal maxima common; both
 * must return the first maximal index. */
static void test_argmax_ties(void **state)
{
    (void)state;
    for (int v = 0; v < 2; v++) {
        setenv("CLIPCL_FORCE_VARIANT", variants[v], 1);
        graph *g = g_new();
        int64_t sh[] = { 9, 769 };
        int ids = g_input(g, "ids", G_I32, 2, sh);
        int64_t st[] = { 4, 1 };
        int table = g_param(g, "table", 2, st);
        int x = g_embedding(g, table, ids); /* [9, 769, 1]: rows of 4 distinct values */
        int64_t rs[] = { 9, 769 };
        x = g_reshape(g, x, 2, rs);
        int y = g_argmax(g, x);
        assert_true(y >= 0);
        g_mark_output(g, y);
        oh_int_range(ids, 0, 3);
        oh_opts o = oh_tol(0.0f);
        char label[64];
        snprintf(label, sizeof label, "argmax ties %s", variants[v]);
        assert_int_equal(oh_check(g, &o, label), 0);
        g_free(g);
    }
    unsetenv("CLIPCL_FORCE_VARIANT");
}

int main(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(test_sum),
        cmocka_unit_test(test_mean),
        cmocka_unit_test(test_max),
        cmocka_unit_test(test_argmax),
        cmocka_unit_test(test_argmax_ties),
    };
    return cmocka_run_group_tests(t, NULL, NULL);
}
