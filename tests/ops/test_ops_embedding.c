/* Embedding gather on OpenCL against the ref backend on odd vocabularies,
 * widths and id shapes; and the out-of-range contract: the kernel clamps an
 * id into [0, V) and never reads outside the table (the ref backend reports
 * such an id as an error instead, so that case is checked by hand). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "backends/opencl/ocl_backend.h"
#include "tests/common/op_harness.h"

#define RTOL_COPY 0.0f

static void check(int64_t V, int64_t D, int nid, const int64_t *ids_shape)
{
    graph *g = g_new();
    int64_t ts[] = { V, D };
    int table = g_param(g, "table", 2, ts);
    int ids = g_input(g, "ids", G_I32, nid, ids_shape);
    int y = g_embedding(g, table, ids);
    assert_true(y >= 0);
    g_mark_output(g, y);
    oh_int_range(ids, 0, (int32_t)(V - 1));
    oh_opts o = oh_tol(RTOL_COPY);
    char label[96];
    snprintf(label, sizeof label, "embedding V=%lld D=%lld", (long long)V, (long long)D);
    assert_int_equal(oh_check(g, &o, label), 0);
    g_free(g);
}

static void test_embedding(void **state)
{
    (void)state;
    static const int64_t i1[] = { 1 }, i2[] = { 2, 77 }, i3[] = { 3, 5, 7 };
    check(1, 1, 1, i1);
    check(7, 33, 2, i2);
    check(513, 77, 2, i2);
    check(49408, 3, 3, i3); /* CLIP's vocabulary size */
    check(33, 769, 1, i1);
}

static void test_out_of_range_clamps(void **state)
{
    (void)state;
    rt_ctx *ctx = oh_ctx();
    assert_non_null(ctx);
    graph *g = g_new();
    int64_t ts[] = { 3, 2 }, is[] = { 4 };
    int table = g_param(g, "table", 2, ts);
    int ids = g_input(g, "ids", G_I32, 1, is);
    int y = g_embedding(g, table, ids);
    assert_true(y >= 0);
    g_mark_output(g, y);
    ocl_plan *p = NULL;
    assert_int_equal(ocl_plan_create(ctx, g, &p), 0);
    const float tab[6] = { 1, 2, 3, 4, 5, 6 };
    const int32_t idv[4] = { -5, 3, 1, 2147483647 };
    assert_int_equal(ocl_plan_write(p, table, tab, sizeof tab), 0);
    assert_int_equal(ocl_plan_write(p, ids, idv, sizeof idv), 0);
    assert_int_equal(ocl_plan_run(p), 0);
    float out[8];
    assert_int_equal(ocl_plan_read(p, y, out, sizeof out), 0);
    /* -5 -> row 0, 3 -> row 2, 1 -> row 1, INT_MAX -> row 2 */
    const float want[8] = { 1, 2, 5, 6, 3, 4, 5, 6 };
    for (int i = 0; i < 8; i++)
        assert_true(out[i] == want[i]);
    ocl_plan_free(p);
    g_free(g);
}

int main(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(test_embedding),
        cmocka_unit_test(test_out_of_range_clamps),
    };
    return cmocka_run_group_tests(t, NULL, NULL);
}
