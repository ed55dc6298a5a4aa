/* An inference plan releases the weights only packed copies read
 * (backend_plan_release_originals, backends/opencl/ocl_plan.c): after the
 * first run W (read by two GEMMs, both through one packed copy) and W2
 * (trans_b) are gone from the device, the bias b2 and C (read by an add)
 * stay; every later run still matches the reference backend; writing or
 * reading a released weight fails with one line; a plan that is not told
 * to release keeps every param writable (training). */
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

enum { M = 5, K = 37, N = 70, N2 = 33, M2 = 3 };

typedef struct net {
    graph *g;
    int x, x2, w, w2, b2, c, y, z, u;
} net;

/* y = gelu((x @ W) @ W2^T + b2), z = x2 @ W, u = z + C (C a param read by
 * an elementwise add, never packed). */
static net build(void)
{
    net m;
    memset(&m, 0, sizeof m);
    m.g = g_new();
    assert_non_null(m.g);
    int64_t xs[2] = {M, K}, x2s[2] = {M2, K}, ws[2] = {K, N}, w2s[2] = {N2, N}, bs[1] = {N2},
            cs[2] = {M2, N};
    m.x = g_input(m.g, "x", G_F32, 2, xs);
    m.x2 = g_input(m.g, "x2", G_F32, 2, x2s);
    m.w = g_param(m.g, "w", 2, ws);
    m.w2 = g_param(m.g, "w2", 2, w2s);
    m.b2 = g_param(m.g, "b2", 1, bs);
    m.c = g_param(m.g, "c", 2, cs);
    int h = g_matmul(m.g, m.x, m.w, -1, 0, 0);
    m.y = g_gelu(m.g, g_matmul(m.g, h, m.w2, m.b2, 0, 1));
    m.z = g_matmul(m.g, m.x2, m.w, -1, 0, 0);
    m.u = g_add(m.g, m.z, m.c);
    assert_true(m.y >= 0 && m.z >= 0 && m.u >= 0);
    g_mark_output(m.g, m.y);
    g_mark_output(m.g, m.z);
    g_mark_output(m.g, m.u);
    return m;
}

static void write_all(backend_plan *p, const net *m, uint32_t input_seed)
{
    const int ts[6] = {m->x, m->x2, m->w, m->w2, m->b2, m->c};
    for (int i = 0; i < 6; i++)
        plan_write_seeded(p, m->g, ts[i], (i < 2 ? input_seed : 100u) + (uint32_t)i);
}

static void expect_ref(backend_plan *p, const net *m, uint32_t input_seed, const char *what)
{
    backend *be = NULL;
    backend_plan *r = NULL;
    assert_int_equal(backend_open("ref", 0, &be), CC_OK);
    assert_int_equal(backend_plan_create(be, m->g, &r), CC_OK);
    write_all(r, m, input_seed);
    assert_int_equal(backend_plan_run(r), CC_OK);
    const int outs[3] = {m->y, m->z, m->u};
    for (int o = 0; o < 3; o++) {
        float *got = plan_read_new(p, m->g, outs[o]), *want = plan_read_new(r, m->g, outs[o]);
        double err = 0, big = 0;
        for (int64_t i = 0; i < g_numel(m->g, outs[o]); i++) {
            err = fmax(err, fabs((double)got[i] - want[i]));
            big = fmax(big, fabs((double)want[i]));
        }
        print_message("%-32s output %d: max |err| %.3e of max |ref| %.3e\n", what, o, err, big);
        assert_true(big > 0.1);
        assert_true(err <= 1e-5 * big);
        free(got);
        free(want);
    }
    backend_plan_free(r);
    backend_close(be);
}

static void released_runs(const char *variant)
{
    net m = build();
    backend *be = open_own(variant);
    backend_plan *p = NULL;
    assert_int_equal(backend_plan_create(be, m.g, &p), CC_OK);
    write_all(p, &m, 1u);
    backend_plan_release_originals(p);
    backend_plan_stats st;
    assert_int_equal(backend_plan_stats_get(p, &st), CC_OK);
    assert_int_equal((int)st.released_bytes, 0); /* not before the packing run */

    assert_int_equal(backend_plan_run(p), CC_OK);
    assert_int_equal(backend_plan_stats_get(p, &st), CC_OK);
    print_message("%s: %zu bytes released\n", variant, st.released_bytes);
    if (strcmp(variant, "cpu") == 0) /* W and W2 packed into panels; b2 and C stay */
        assert_int_equal((int)st.released_bytes, (int)(g_nbytes(m.g, m.w) + g_nbytes(m.g, m.w2)));
    expect_ref(p, &m, 1u, "first run");

    /* new inputs, twice: the released originals are never read again */
    for (int r = 0; r < 2; r++) {
        const int ins[2] = {m.x, m.x2};
        for (int i = 0; i < 2; i++)
            plan_write_seeded(p, m.g, ins[i], 7u + (uint32_t)i);
        assert_int_equal(backend_plan_run(p), CC_OK);
        expect_ref(p, &m, 7u, r ? "released, third run" : "released, second run");
    }

    /* weights are frozen: one line naming the reason */
    float *w = seeded(K * N, 4242u);
    int rc = backend_plan_write(p, m.w, w, sizeof(float) * K * N);
    assert_int_equal(rc, CC_ERR_INVALID);
    print_message("write W: %s\n", cc_last_error());
    assert_null(strchr(cc_last_error(), '\n'));
    assert_non_null(strstr(cc_last_error(), "inference plan"));
    assert_int_equal(backend_plan_write(p, m.c, w, g_nbytes(m.g, m.c)), CC_ERR_INVALID);
    if (strcmp(variant, "cpu") == 0) {
        assert_int_equal(backend_plan_read(p, m.w, w, g_nbytes(m.g, m.w)), CC_ERR_INVALID);
        assert_non_null(strstr(cc_last_error(), "released"));
    }
    free(w);
    backend_plan_free(p);
    close_own(be);
    g_free(m.g);
}

static void test_cpu_variant(void **state)
{
    (void)state;
    released_runs("cpu");
}

static void test_gpu_variant(void **state)
{
    (void)state;
    released_runs("gpu");
}

/* Without the call (training), nothing is released and W stays writable. */
static void test_kept_without_release(void **state)
{
    (void)state;
    net m = build();
    backend *be = open_own("cpu");
    backend_plan *p = NULL;
    assert_int_equal(backend_plan_create(be, m.g, &p), CC_OK);
    write_all(p, &m, 1u);
    assert_int_equal(backend_plan_run(p), CC_OK);
    assert_int_equal(backend_plan_run(p), CC_OK);
    backend_plan_stats st;
    assert_int_equal(backend_plan_stats_get(p, &st), CC_OK);
    assert_int_equal((int)st.released_bytes, 0);
    float *w = seeded(K * N, 4242u);
    assert_int_equal(backend_plan_write(p, m.w, w, sizeof(float) * K * N), CC_OK);
    free(w);
    backend_plan_free(p);
    close_own(be);
    g_free(m.g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cpu_variant),
        cmocka_unit_test(test_gpu_variant),
        cmocka_unit_test(test_kept_without_release),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
