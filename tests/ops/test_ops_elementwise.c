/* Elementwise ops on OpenCL against the ref backend: every unary op, and the
 * four binary ops under every broadcast layout the lowering distinguishes
 * (same shape, bias row, column, scalar, general N-d, operand order). Sizes
 * are odd on purpose (1, 3, 7, 33, 77, 513, 769). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>

#include "backends/opencl/ocl_backend.h"
#include "tests/common/op_harness.h"

/* Relative tolerances (scale-aware, see op_harness.h). Plain arithmetic is
 * exact up to one rounding; transcendental ops carry the device library's
 * few-ulp error. */
#define RTOL_ARITH 1e-6f
#define RTOL_TRANS 1e-5f

typedef int (*unary_fn)(graph *, int);
typedef int (*binary_fn)(graph *, int, int);

static int scale_half(graph *g, int x) { return g_scale(g, x, -0.37f); }

static void check_unary(unary_fn fn, const char *name, int ndim, const int64_t *shape, float rtol, float lo, float hi)
{
    graph *g = g_new();
    int x = g_input(g, "x", G_F32, ndim, shape);
    int y = fn(g, x);
    assert_true(y >= 0);
    g_mark_output(g, y);
    oh_opts o = oh_tol(rtol);
    o.lo = lo;
    o.hi = hi;
    char label[96];
    snprintf(label, sizeof label, "%s ndim=%d n=%lld", name, ndim, (long long)g_numel(g, x));
    assert_int_equal(oh_check(g, &o, label), 0);
    g_free(g);
}

static void test_unary(void **state)
{
    (void)state;
    /* s5 (a multiple of 16) takes the 16-wide kernels */
    static const int64_t s1[] = { 1 }, s2[] = { 7, 33 }, s3[] = { 3, 77, 5 }, s4[] = { 2, 1, 769 },
                         s5[] = { 5, 48 };
    struct { unary_fn fn; const char *name; float rtol; } ops[] = {
        { scale_half, "scale", RTOL_ARITH }, { g_relu, "relu", RTOL_ARITH },
        { g_gelu, "gelu", RTOL_TRANS },      { g_quickgelu, "quickgelu", RTOL_TRANS },
        { g_sigmoid, "sigmoid", RTOL_TRANS }, { g_exp, "exp", RTOL_TRANS },
    };
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        /* [-6, 6] reaches the saturating tails of gelu/sigmoid. */
        check_unary(ops[i].fn, ops[i].name, 1, s1, ops[i].rtol, -6.0f, 6.0f);
        check_unary(ops[i].fn, ops[i].name, 2, s2, ops[i].rtol, -6.0f, 6.0f);
        check_unary(ops[i].fn, ops[i].name, 3, s3, ops[i].rtol, -6.0f, 6.0f);
        check_unary(ops[i].fn, ops[i].name, 3, s4, ops[i].rtol, -1.0f, 1.0f);
        check_unary(ops[i].fn, ops[i].name, 2, s5, ops[i].rtol, -6.0f, 6.0f);
    }
}

typedef struct bcase {
    int na;
    int64_t a[6];
    int nb;
    int64_t b[6];
    const char *what;
} bcase;

static const bcase cases[] = {
    { 2, { 7, 33 }, 2, { 7, 33 }, "same" },
    { 1, { 1 }, 1, { 1 }, "same 1" },
    { 3, { 3, 77, 513 }, 1, { 513 }, "bias row" },
    { 1, { 769 }, 2, { 7, 769 }, "row first (a broadcast)" },
    { 2, { 77, 33 }, 2, { 77, 1 }, "column" },
    { 2, { 3, 7 }, 1, { 1 }, "scalar b" },
    { 1, { 1 }, 3, { 2, 3, 7 }, "scalar a" },
    { 2, { 5, 1 }, 2, { 1, 33 }, "outer product" },
    { 4, { 3, 1, 5, 7 }, 3, { 4, 1, 7 }, "general 4-d" },
    { 6, { 2, 3, 1, 2, 1, 3 }, 6, { 1, 3, 2, 1, 5, 3 }, "general 6-d" },
    { 4, { 1, 7, 1, 33 }, 4, { 1, 7, 1, 33 }, "size-1 dims" },
    { 3, { 7, 3, 33 }, 3, { 7, 1, 33 }, "middle broadcast" },
    /* BatchNorm in training: [N, C, H*W] against a per-channel [C, 1] (CPU
     * class: ew_*_nd16, 16 elements per item, a scalar tail when H*W is not
     * a multiple of 16) */
    { 3, { 4, 6, 49 }, 2, { 6, 1 }, "per channel, inner 49" },
    { 2, { 5, 1 }, 3, { 2, 5, 64 }, "per channel first, inner 64" },
    { 4, { 2, 3, 14, 14 }, 3, { 3, 1, 1 }, "per channel NCHW 14x14" },
    { 3, { 3, 4, 40 }, 3, { 1, 4, 40 }, "outer broadcast, inner 40" },
    { 2, { 3, 1 }, 2, { 1, 20 }, "outer product, inner 20" },
};

static void binary_cases(void)
{
    struct { binary_fn fn; const char *name; } ops[] = {
        { g_add, "add" }, { g_sub, "sub" }, { g_mul, "mul" }, { g_div, "div" },
    };
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            graph *g = g_new();
            int a = g_input(g, "a", G_F32, cases[c].na, cases[c].a);
            int b = g_input(g, "b", G_F32, cases[c].nb, cases[c].b);
            int y = ops[i].fn(g, a, b);
            assert_true(y >= 0);
            g_mark_output(g, y);
            /* Keep divisors away from zero: b in [0.5, 2]. */
            if (ops[i].fn == g_div)
                oh_f32_range(b, 0.5f, 2.0f);
            oh_opts o = oh_tol(RTOL_ARITH);
            char label[96];
            snprintf(label, sizeof label, "%s %s", ops[i].name, cases[c].what);
            assert_int_equal(oh_check(g, &o, label), 0);
            g_free(g);
        }
    }
}

static void test_binary(void **state)
{
    (void)state;
    binary_cases();
}

/* The one-element kernels (_rows, _nd) on the same cases: the layouts a
 * GPU-class device gets, forced on PoCL. */
static void test_binary_gpu_rows(void **state)
{
    (void)state;
    setenv("CLIPCL_FORCE_VARIANT", "gpu", 1);
    binary_cases();
    unsetenv("CLIPCL_FORCE_VARIANT");
}

/* A chain (bias add -> gelu -> scale -> residual add) checks that arena
 * reuse between steps does not clobber live values. */
static void test_chain(void **state)
{
    (void)state;
    graph *g = g_new();
    int64_t sx[] = { 77, 513 }, sb[] = { 513 };
    int x = g_input(g, "x", G_F32, 2, sx);
    int b = g_param(g, "b", 1, sb);
    int h = g_add(g, x, b);
    h = g_gelu(g, h);
    h = g_scale(g, h, 0.5f);
    h = g_sigmoid(g, h);
    int y = g_add(g, h, x);
    assert_true(y >= 0);
    g_mark_output(g, y);
    oh_opts o = oh_tol(RTOL_TRANS);
    assert_int_equal(oh_check(g, &o, "chain bias+gelu+scale+sigmoid+residual"), 0);
    g_free(g);
}

/* The plan itself: profiling attributes time to the nodes that launched
 * (-1 for a reshape, which launches nothing), the arena is no larger than
 * the sum of its tensors, and a write of the wrong size is refused. */
static void test_plan_profiling(void **state)
{
    (void)state;
    rt_ctx *ctx = NULL;
    assert_int_equal(rt_ctx_create(NULL, 1, &ctx), 0);
    graph *g = g_new();
    int64_t sx[] = { 7, 33 }, sr[] = { 231 };
    int x = g_input(g, "x", G_F32, 2, sx);
    int a = g_relu(g, x);
    int r = g_reshape(g, a, 1, sr);
    int y = g_exp(g, r);
    assert_true(y >= 0);
    g_mark_output(g, y);
    ocl_plan *p = NULL;
    assert_int_equal(ocl_plan_create(ctx, g, &p), 0);
    assert_true(ocl_plan_arena_bytes(p) >= 2 * 231 * sizeof(float));
    assert_true(ocl_plan_arena_bytes(p) <= 4096);
    float in[231], out[231];
    for (int i = 0; i < 231; i++)
        in[i] = (float)(i % 17) * 0.25f - 2.0f;
    assert_int_not_equal(ocl_plan_write(p, x, in, sizeof in - 4), 0);
    assert_int_equal(ocl_plan_write(p, x, in, sizeof in), 0);
    assert_int_equal(ocl_plan_run(p), 0);
    assert_int_equal(ocl_plan_read(p, y, out, sizeof out), 0);
    for (int i = 0; i < 231; i++) {
        float want = expf(in[i] > 0 ? in[i] : 0.0f);
        assert_true(fabsf(out[i] - want) <= 1e-6f * want);
    }
    double sec[16];
    assert_true(g->n_nodes <= 16);
    assert_int_equal(ocl_plan_node_seconds(p, sec), 0);
    int n_relu = g->tensors[a].producer, n_resh = g->tensors[r].producer, n_exp = g->tensors[y].producer;
    assert_true(sec[n_relu] >= 0.0 && sec[n_exp] >= 0.0);
    assert_true(sec[n_resh] == -1.0);
    ocl_plan_free(p);
    g_free(g);
    rt_ctx_free(ctx);
}

int main(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(test_unary),
        cmocka_unit_test(test_binary),
        cmocka_unit_test(test_binary_gpu_rows),
        cmocka_unit_test(test_chain),
        cmocka_unit_test(test_plan_profiling),
    };
    return cmocka_run_group_tests(t, NULL, NULL);
}
