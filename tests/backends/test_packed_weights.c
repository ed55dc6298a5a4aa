/* Weights packed once (backends/opencl/ocl_gemm.c, static launches): a GEMM
 * whose B (or A) is a param packs it into a persistent buffer on the first
 * run and again only after a param change. Checked through backend.h
 * against the reference backend, on both GEMM variants of the own kernel
 * (CPU-class panels, GPU-class local-memory tiles):
 *  - a second run enqueues fewer launches and gives the same bytes;
 *  - a param rewritten with backend_plan_write, or in place by an AdamW
 *    step, is followed by the next run (the packed copy is made again);
 *  - a device too small for the packed copies still gets a plan (the one
 *    that packs every run), with the same result. */
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

/* y = gelu((x @ W) @ W2^T + b2) and z = x2 @ W: W read by two GEMMs (one
 * packed copy), W2 transposed (trans_b), b2 a bias. gw: an input standing
 * for W's gradient, so an optimizer step has one (out2 = W + gw keeps it
 * in the plan). */
typedef struct net {
    graph *g;
    int x, x2, w, w2, b2, gw, y, z, out2;
} net;

static net build(void)
{
    net m;
    memset(&m, 0, sizeof m);
    m.g = g_new();
    assert_non_null(m.g);
    int64_t xs[2] = {M, K}, x2s[2] = {M2, K}, ws[2] = {K, N}, w2s[2] = {N2, N}, bs[1] = {N2};
    m.x = g_input(m.g, "x", G_F32, 2, xs);
    m.x2 = g_input(m.g, "x2", G_F32, 2, x2s);
    m.w = g_param(m.g, "w", 2, ws);
    m.w2 = g_param(m.g, "w2", 2, w2s);
    m.b2 = g_param(m.g, "b2", 1, bs);
    m.gw = g_input(m.g, "gw", G_F32, 2, ws);
    int h = g_matmul(m.g, m.x, m.w, -1, 0, 0);
    m.y = g_gelu(m.g, g_matmul(m.g, h, m.w2, m.b2, 0, 1));
    m.z = g_matmul(m.g, m.x2, m.w, -1, 0, 0);
    m.out2 = g_add(m.g, m.w, m.gw);
    assert_true(m.y >= 0 && m.z >= 0 && m.out2 >= 0);
    g_mark_output(m.g, m.y);
    g_mark_output(m.g, m.z);
    g_mark_output(m.g, m.out2);
    return m;
}

static void write_all(backend_plan *p, const net *m)
{
    const int ts[6] = {m->x, m->x2, m->w, m->w2, m->b2, m->gw};
    for (int i = 0; i < 6; i++)
        plan_write_seeded(p, m->g, ts[i], 100u + (uint32_t)i);
}

/* y and z of the reference backend for the given W (NULL: the seeded one). */
static void reference(const net *m, const float *w, float **y, float **z)
{
    backend *be = NULL;
    backend_plan *p = NULL;
    assert_int_equal(backend_open("ref", 0, &be), CC_OK);
    assert_int_equal(backend_plan_create(be, m->g, &p), CC_OK);
    write_all(p, m);
    if (w)
        assert_int_equal(backend_plan_write(p, m->w, w, g_nbytes(m->g, m->w)), CC_OK);
    assert_int_equal(backend_plan_run(p), CC_OK);
    *y = plan_read_new(p, m->g, m->y);
    *z = plan_read_new(p, m->g, m->z);
    backend_plan_free(p);
    backend_close(be);
}

static void expect_close(const float *got, const float *want, int64_t n, const char *what)
{
    double err = 0, big = 0;
    for (int64_t i = 0; i < n; i++) {
        err = fmax(err, fabs((double)got[i] - want[i]));
        big = fmax(big, fabs((double)want[i]));
    }
    print_message("%-44s max |err| %.3e of max |ref| %.3e\n", what, err, big);
    assert_true(big > 0.1);
    assert_true(err <= 1e-5 * big);
}

static void expect_ref(backend_plan *p, const net *m, const float *w, const char *what)
{
    float *yr, *zr;
    reference(m, w, &yr, &zr);
    float *y = plan_read_new(p, m->g, m->y), *z = plan_read_new(p, m->g, m->z);
    char label[96];
    snprintf(label, sizeof label, "%s: y", what);
    expect_close(y, yr, g_numel(m->g, m->y), label);
    snprintf(label, sizeof label, "%s: z", what);
    expect_close(z, zr, g_numel(m->g, m->z), label);
    free(y);
    free(z);
    free(yr);
    free(zr);
}

static void runs_and_rewrite(const char *variant)
{
    net m = build();
    backend *be = open_own(variant);
    backend_plan *p = NULL;
    assert_int_equal(backend_plan_create(be, m.g, &p), CC_OK);
    write_all(p, &m);

    backend_plan_stats st;
    assert_int_equal(backend_plan_stats_get(p, &st), CC_OK);
    print_message("%s: %d launches, %d static\n", variant, st.n_launches, st.n_static);
    /* CPU class: W packed once for both GEMMs that read it, W2 once; GPU
     * class: only W2 (trans_b) needs a copy, transposed once */
    assert_int_equal(st.n_static, strcmp(variant, "cpu") == 0 ? 2 : 1);
    assert_int_equal(st.n_last_run, 0);

    assert_int_equal(backend_plan_run(p), CC_OK);
    assert_int_equal(backend_plan_stats_get(p, &st), CC_OK);
    assert_int_equal(st.n_last_run, st.n_launches);
    float *y1 = plan_read_new(p, m.g, m.y), *z1 = plan_read_new(p, m.g, m.z);

    assert_int_equal(backend_plan_run(p), CC_OK);
    assert_int_equal(backend_plan_stats_get(p, &st), CC_OK);
    assert_int_equal(st.n_last_run, st.n_launches - st.n_static); /* packing skipped */
    float *y2 = plan_read_new(p, m.g, m.y), *z2 = plan_read_new(p, m.g, m.z);
    assert_memory_equal(y1, y2, g_nbytes(m.g, m.y));
    assert_memory_equal(z1, z2, g_nbytes(m.g, m.z));
    expect_ref(p, &m, NULL, variant);

    /* a new W through backend_plan_write: packed again at the next run */
    float *w = seeded(K * N, 4242u);
    assert_int_equal(backend_plan_write(p, m.w, w, sizeof(float) * K * N), CC_OK);
    assert_int_equal(backend_plan_run(p), CC_OK);
    assert_int_equal(backend_plan_stats_get(p, &st), CC_OK);
    assert_int_equal(st.n_last_run, st.n_launches);
    expect_ref(p, &m, w, "W rewritten");
    assert_int_equal(backend_plan_run(p), CC_OK);
    expect_ref(p, &m, w, "W rewritten, second run");

    free(w);
    free(y1);
    free(z1);
    free(y2);
    free(z2);
    backend_plan_free(p);
    close_own(be);
    g_free(m.g);
}

static void test_cpu_variant(void **state)
{
    (void)state;
    runs_and_rewrite("cpu");
}

static void test_gpu_variant(void **state)
{
    (void)state;
    runs_and_rewrite("gpu");
}

/* Training's pattern: an AdamW step rewrites W in place on the device;
 * backend_optim_step marks the params changed, so the next run packs the
 * new W and matches the reference on the W read back. */
static void test_optimizer_step(void **state)
{
    (void)state;
    net m = build();
    backend *be = open_own("cpu");
    backend_plan *p = NULL;
    backend_optim *o = NULL;
    assert_int_equal(backend_plan_create(be, m.g, &p), CC_OK);
    write_all(p, &m);
    assert_int_equal(backend_optim_create(p, NULL, 1, &o), CC_OK);
    assert_int_equal(backend_optim_add(o, m.w, m.gw), CC_OK);
    assert_int_equal(backend_plan_run(p), CC_OK);
    assert_int_equal(backend_plan_run(p), CC_OK); /* packed copy now reused */
    assert_int_equal(backend_optim_accumulate(o), CC_OK);
    float norm = 0;
    assert_int_equal(backend_optim_step(o, 0.05, &norm), CC_OK);
    float *w_new = plan_read_new(p, m.g, m.w);
    float *w_old = seeded(K * N, 102u);
    double moved = 0;
    for (int i = 0; i < K * N; i++)
        moved = fmax(moved, fabs((double)w_new[i] - w_old[i]));
    assert_true(moved > 0.01); /* the step changed W enough to see a stale pack */
    assert_int_equal(backend_plan_run(p), CC_OK);
    backend_plan_stats st;
    assert_int_equal(backend_plan_stats_get(p, &st), CC_OK);
    assert_int_equal(st.n_last_run, st.n_launches);
    expect_ref(p, &m, w_new, "after an AdamW step");
    free(w_new);
    free(w_old);
    backend_optim_free(o);
    backend_plan_free(p);
    close_own(be);
    g_free(m.g);
}

/* A device limit that holds the plan but not the packed copies: the plan
 * is lowered again without them (nothing static), same result. */
static void test_tight_device(void **state)
{
    (void)state;
    enum { L = 4, D = 256 }; /* L chained 256 x 256 weights: copies 4x the largest pack */
    graph *g = g_new();
    int64_t xs[2] = {2, D}, ws[2] = {D, D};
    int x = g_input(g, "x", G_F32, 2, xs), h = x, w[L];
    for (int i = 0; i < L; i++) {
        char name[16];
        snprintf(name, sizeof name, "w%d", i);
        w[i] = g_param(g, name, 2, ws);
        h = g_matmul(g, h, w[i], -1, 0, 0);
    }
    g_mark_output(g, h);
    backend *be = open_own("cpu");
    backend_plan *p = NULL;
    assert_int_equal(backend_plan_create(be, g, &p), CC_OK);
    backend_plan_stats st;
    assert_int_equal(backend_plan_stats_get(p, &st), CC_OK);
    assert_int_equal(st.n_static, L);
    const size_t params = (size_t)L * D * D * sizeof(float), inputs = g_nbytes(g, x);
    assert_true(st.packed_bytes >= params); /* one copy per weight, panels padded */
    const size_t keep =
        params + inputs + backend_plan_arena_bytes(p) + backend_plan_scratch_bytes(p) + st.packed_bytes;
    backend_plan_free(p);

    /* half the copies' size less: the copies cannot fit, one pack can */
    char lim[32];
    snprintf(lim, sizeof lim, "%zu", keep - params / 2);
    setenv("CLIPCL_DEVICE_MEM_LIMIT", lim, 1);
    int rc = backend_plan_create(be, g, &p);
    unsetenv("CLIPCL_DEVICE_MEM_LIMIT");
    assert_int_equal(rc, CC_OK);
    assert_int_equal(backend_plan_stats_get(p, &st), CC_OK);
    print_message("limit %s: %d launches, %d static, scratch %zu bytes\n", lim, st.n_launches, st.n_static,
                  backend_plan_scratch_bytes(p));
    assert_int_equal(st.n_static, 0);
    assert_int_equal(st.packed_bytes, 0);

    backend *r = NULL;
    backend_plan *pr = NULL;
    assert_int_equal(backend_open("ref", 0, &r), CC_OK);
    assert_int_equal(backend_plan_create(r, g, &pr), CC_OK);
    backend_plan *both[2] = {p, pr};
    for (int k = 0; k < 2; k++) {
        plan_write_seeded(both[k], g, x, 7u);
        for (int i = 0; i < L; i++) {
            /* scaled so the chain neither blows up nor vanishes */
            float *v = seeded((int64_t)D * D, 11u + (uint32_t)i);
            for (int j = 0; j < D * D; j++)
                v[j] *= 0.1f;
            assert_int_equal(backend_plan_write(both[k], w[i], v, sizeof(float) * D * D), CC_OK);
            free(v);
        }
        assert_int_equal(backend_plan_run(both[k]), CC_OK);
    }
    float *got = plan_read_new(p, g, h), *want = plan_read_new(pr, g, h);
    expect_close(got, want, g_numel(g, h), "tight device, packed every run");
    free(got);
    free(want);
    backend_plan_free(pr);
    backend_close(r);
    backend_plan_free(p);
    close_own(be);
    g_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cpu_variant),
        cmocka_unit_test(test_gpu_variant),
        cmocka_unit_test(test_optimizer_step),
        cmocka_unit_test(test_tight_device),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
