/* backend_plan_run_for (a prefix run: the schedule up to the last node that
 * writes the wanted tensors), as the training feature passes use it for a
 * forward-only pass. On OpenCL (own GEMM, packed weights) against the
 * reference backend's full run:
 *  - the wanted tensor is right and fewer launches ran than a full run;
 *  - packed weights stay right across prefix and full runs: a weight
 *    packed inside the prefix is not packed again by the next full run, one
 *    packed after it is, and a param rewritten between runs is followed by
 *    both kinds of run;
 *  - a tensor written late in the schedule runs (nearly) everything, and the
 *    reference backend, which has no prefix runs, runs all. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "tests/common/plan_io.h"
#include "runtime/status.h"

enum { M = 6, K = 40, N = 72, N2 = 33, N3 = 24 };

/* "Forward": y = gelu((x @ W) @ W2^T + b2). "Backward", built after it:
 * z = x2 @ W (W's packed copy made by the forward) and u = y @ W3 (W3
 * packed by a node after y). */
typedef struct net {
    graph *g;
    int x, x2, w, w2, b2, w3, y, z, u;
} net;

static net build(void)
{
    net m;
    memset(&m, 0, sizeof m);
    m.g = g_new();
    assert_non_null(m.g);
    int64_t xs[2] = {M, K}, ws[2] = {K, N}, w2s[2] = {N2, N}, bs[1] = {N2}, w3s[2] = {N2, N3};
    m.x = g_input(m.g, "x", G_F32, 2, xs);
    m.x2 = g_input(m.g, "x2", G_F32, 2, xs);
    m.w = g_param(m.g, "w", 2, ws);
    m.w2 = g_param(m.g, "w2", 2, w2s);
    m.b2 = g_param(m.g, "b2", 1, bs);
    m.w3 = g_param(m.g, "w3", 2, w3s);
    int h = g_matmul(m.g, m.x, m.w, -1, 0, 0);
    m.y = g_gelu(m.g, g_matmul(m.g, h, m.w2, m.b2, 0, 1));
    m.z = g_matmul(m.g, m.x2, m.w, -1, 0, 0);
    m.u = g_matmul(m.g, m.y, m.w3, -1, 0, 0);
    assert_true(m.y >= 0 && m.z >= 0 && m.u >= 0);
    g_mark_output(m.g, m.y);
    g_mark_output(m.g, m.z);
    g_mark_output(m.g, m.u);
    return m;
}

/* The params' seeds; a rewrite changes one. */
typedef struct seeds {
    uint32_t s[6];
} seeds;

static void write_all(backend_plan *p, const net *m, const seeds *sd)
{
    const int ts[6] = {m->x, m->x2, m->w, m->w2, m->b2, m->w3};
    for (int i = 0; i < 6; i++)
        plan_write_seeded(p, m->g, ts[i], sd->s[i]);
}

/* Tensor t of the reference backend's full run with these seeds. */
static float *reference(const net *m, const seeds *sd, int t)
{
    backend *be = NULL;
    backend_plan *p = NULL;
    assert_int_equal(backend_open("ref", 0, &be), CC_OK);
    assert_int_equal(backend_plan_create(be, m->g, &p), CC_OK);
    write_all(p, m, sd);
    assert_int_equal(backend_plan_run(p), CC_OK);
    float *v = plan_read_new(p, m->g, t);
    backend_plan_free(p);
    backend_close(be);
    return v;
}

static void expect_ref(backend_plan *p, const net *m, const seeds *sd, int t, const char *what)
{
    float *want = reference(m, sd, t), *got = plan_read_new(p, m->g, t);
    double err = 0, big = 0;
    for (int64_t i = 0; i < g_numel(m->g, t); i++) {
        err = fmax(err, fabs((double)got[i] - want[i]));
        big = fmax(big, fabs((double)want[i]));
    }
    print_message("%-48s max |err| %.3e of max |ref| %.3e\n", what, err, big);
    assert_true(big > 0.1);
    assert_true(err <= 1e-5 * big);
    free(want);
    free(got);
}

static int last_run(backend_plan *p)
{
    backend_plan_stats st;
    assert_int_equal(backend_plan_stats_get(p, &st), CC_OK);
    return st.n_last_run;
}

static void test_prefix_runs(void **state)
{
    (void)state;
    setenv("CLIPCL_GEMM", "own", 1);
    net m = build();
    seeds sd = {{11u, 12u, 13u, 14u, 15u, 16u}};
    backend *be = NULL;
    backend_plan *p = NULL;
    assert_int_equal(backend_open(NULL, 0, &be), CC_OK);
    assert_int_equal(backend_plan_create(be, m.g, &p), CC_OK);
    backend_plan_stats st;
    assert_int_equal(backend_plan_stats_get(p, &st), CC_OK);
    print_message("%d launches, %d static\n", st.n_launches, st.n_static);
    write_all(p, &m, &sd);

    /* first run, prefix: packs W and W2, not W3 */
    assert_int_equal(backend_plan_run_for(p, 1, &m.y), CC_OK);
    const int prefix_dirty = last_run(p);
    print_message("prefix run for y: %d launches\n", prefix_dirty);
    assert_true(prefix_dirty > 0 && prefix_dirty < st.n_launches);
    expect_ref(p, &m, &sd, m.y, "y, prefix run");

    /* full run: W3 packed now, W and W2 not again */
    assert_int_equal(backend_plan_run(p), CC_OK);
    const int full_after = last_run(p);
    assert_true(full_after < st.n_launches && full_after > st.n_launches - st.n_static);
    expect_ref(p, &m, &sd, m.u, "u, full run after a prefix run");
    expect_ref(p, &m, &sd, m.z, "z, full run after a prefix run");

    /* params unchanged: the prefix skips its packing */
    assert_int_equal(backend_plan_run_for(p, 1, &m.y), CC_OK);
    assert_true(last_run(p) < prefix_dirty);
    expect_ref(p, &m, &sd, m.y, "y, second prefix run");

    /* W3 rewritten (packed after the prefix): prefix, then full run */
    float *w3 = seeded(N2 * N3, sd.s[5] = 99u);
    assert_int_equal(backend_plan_write(p, m.w3, w3, sizeof(float) * N2 * N3), CC_OK);
    free(w3);
    assert_int_equal(backend_plan_run_for(p, 1, &m.y), CC_OK);
    assert_int_equal(backend_plan_run(p), CC_OK);
    expect_ref(p, &m, &sd, m.u, "u, W3 rewritten");

    /* W rewritten (packed inside the prefix): both runs follow it */
    float *w = seeded(K * N, sd.s[2] = 77u);
    assert_int_equal(backend_plan_write(p, m.w, w, sizeof(float) * K * N), CC_OK);
    free(w);
    assert_int_equal(backend_plan_run_for(p, 1, &m.y), CC_OK);
    expect_ref(p, &m, &sd, m.y, "y, W rewritten, prefix run");
    assert_int_equal(backend_plan_run(p), CC_OK);
    expect_ref(p, &m, &sd, m.z, "z, W rewritten, full run");
    expect_ref(p, &m, &sd, m.u, "u, W rewritten, full run");

    /* the last tensor of the schedule: every launch but the skipped packs */
    assert_int_equal(backend_plan_run_for(p, 1, &m.u), CC_OK);
    assert_int_equal(last_run(p), st.n_launches - st.n_static);
    /* nothing to run for a param */
    assert_int_equal(backend_plan_run_for(p, 1, &m.w), CC_OK);
    assert_true(last_run(p) < prefix_dirty);
    assert_int_not_equal(backend_plan_run_for(p, 1, (const int[]){-1}), CC_OK);
    cc_clear_error();

    backend_plan_free(p);
    backend_close(be);
    unsetenv("CLIPCL_GEMM");
    g_free(m.g);
}

/* The reference backend runs everything: the wanted tensor is right. */
static void test_ref_runs_all(void **state)
{
    (void)state;
    net m = build();
    seeds sd = {{21u, 22u, 23u, 24u, 25u, 26u}};
    backend *be = NULL;
    backend_plan *p = NULL;
    assert_int_equal(backend_open("ref", 0, &be), CC_OK);
    assert_int_equal(backend_plan_create(be, m.g, &p), CC_OK);
    write_all(p, &m, &sd);
    assert_int_equal(backend_plan_run_for(p, 1, &m.y), CC_OK);
    expect_ref(p, &m, &sd, m.u, "ref backend: u after a run for y");
    backend_plan_free(p);
    backend_close(be);
    g_free(m.g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prefix_runs),
        cmocka_unit_test(test_ref_runs_all),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
