/* Softmax over the last dim (plain and causal) on OpenCL against the ref
 * backend, in both row variants (one work-item per row; a work-group per row
 * with a local-memory tree), forced through CLIPCL_FORCE_VARIANT. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include "tests/common/op_harness.h"

/* exp and the row sum in float against a double oracle. */
#define RTOL_SOFTMAX 1e-5f

static const char *variants[] = { "cpu", "gpu" };

static void check(int ndim, const int64_t *shape, int causal, float lo, float hi)
{
    for (int v = 0; v < 2; v++) {
        setenv("CLIPCL_FORCE_VARIANT", variants[v], 1);
        graph *g = g_new();
        int x = g_input(g, "x", G_F32, ndim, shape);
        int y = g_softmax(g, x, causal);
        assert_true(y >= 0);
        g_mark_output(g, y);
        oh_opts o = oh_tol(RTOL_SOFTMAX);
        o.lo = lo;
        o.hi = hi;
        char label[96];
        snprintf(label, sizeof label, "softmax%s %s last=%lld", causal ? " causal" : "", variants[v],
                 (long long)shape[ndim - 1]);
        assert_int_equal(oh_check(g, &o, label), 0);
        g_free(g);
    }
    unsetenv("CLIPCL_FORCE_VARIANT");
}

static void test_softmax(void **state)
{
    (void)state;
    static const int64_t s1[] = { 1 }, s2[] = { 7, 33 }, s3[] = { 3, 513 }, s4[] = { 2, 769 }, s5[] = { 5, 1 },
                         s6[] = { 2, 3, 77 };
    check(1, s1, 0, -1, 1);
    check(2, s2, 0, -1, 1);
    check(2, s3, 0, -8, 8);
    check(2, s4, 0, -1, 1);
    check(2, s5, 0, -1, 1);
    check(3, s6, 0, -4, 4);
}

static void test_softmax_causal(void **state)
{
    (void)state;
    /* Attention-shaped [B, H, T, T], and non-square rows where cols > T. */
    static const int64_t s1[] = { 2, 3, 7, 7 }, s2[] = { 1, 77, 77 }, s3[] = { 5, 33 }, s4[] = { 1, 1 },
                         s5[] = { 3, 1, 9 };
    check(4, s1, 1, -4, 4);
    check(3, s2, 1, -1, 1);
    check(2, s3, 1, -1, 1);
    check(2, s4, 1, -1, 1);
    check(3, s5, 1, -1, 1);
}

int main(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_softmax_causal),
    };
    return cmocka_run_group_tests(t, NULL, NULL);
}
