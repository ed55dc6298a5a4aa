/* G_OP_CONV2D_GRAD_INPUT, G_OP_CONV2D_GRAD_WEIGHT and G_OP_AVGPOOL2D_GRAD on
 * OpenCL against the ref backend (backends/ref/ref_grad_conv.c): stride 1/2,
 * pad 0/1/2, 1x1, 3x3, 5x5, non-square kernels, ViT-like 8x8 stride-8
 * patchify, rows no window reaches, odd channel counts; both GEMM paths; the
 * chunked paths forced with small scratch caps (one image per chunk, and
 * chunks of two with a last chunk of one). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include "tests/common/op_harness.h"

/* fp32 sums of O*KH*KW (dX) or N*OH*OW (dW) products of values in [-1, 1]
 * against a double oracle, scale-aware; measured <= 3e-7 */
#define RTOL_CONV_GRAD 1e-5f
/* sums of <= 9 values divided by KH*KW */
#define RTOL_POOL_GRAD 1e-6f

typedef struct conv_shape {
    int64_t n, c, h, w, o;
    int kh, kw, sh, sw, ph, pw;
} conv_shape;

static int64_t out_size(int64_t in, int k, int s, int p) { return (in + 2 * p - k) / s + 1; }

static void label_of(char *buf, size_t len, const char *what, const char *impl, const conv_shape *s)
{
    snprintf(buf, len, "%s %s x[%lld,%lld,%lld,%lld] o%lld k%dx%d s%dx%d p%dx%d", what, impl, (long long)s->n,
             (long long)s->c, (long long)s->h, (long long)s->w, (long long)s->o, s->kh, s->kw, s->sh, s->sw,
             s->ph, s->pw);
}

static void grad_input_case(const char *impl, conv_shape s)
{
    setenv("CLIPCL_GEMM", impl, 1);
    graph *g = g_new();
    int64_t xs[4] = {s.n, s.c, s.h, s.w}, ws[4] = {s.o, s.c, s.kh, s.kw};
    int64_t ds[4] = {s.n, s.o, out_size(s.h, s.kh, s.sh, s.ph), out_size(s.w, s.kw, s.sw, s.pw)};
    int dy = g_input(g, "dy", G_F32, 4, ds);
    int wt = g_param(g, "w", 4, ws);
    int dx = g_conv2d_grad_input(g, dy, wt, s.sh, s.sw, s.ph, s.pw, 4, xs);
    assert_true(dx >= 0);
    g_mark_output(g, dx);
    char label[160];
    label_of(label, sizeof label, "conv dX", impl, &s);
    oh_opts opt = oh_tol(RTOL_CONV_GRAD);
    assert_int_equal(oh_check(g, &opt, label), 0);
    g_free(g);
    unsetenv("CLIPCL_GEMM");
}

static void grad_weight_case(const char *impl, conv_shape s)
{
    setenv("CLIPCL_GEMM", impl, 1);
    graph *g = g_new();
    int64_t xs[4] = {s.n, s.c, s.h, s.w};
    int64_t ds[4] = {s.n, s.o, out_size(s.h, s.kh, s.sh, s.ph), out_size(s.w, s.kw, s.sw, s.pw)};
    int x = g_input(g, "x", G_F32, 4, xs);
    int dy = g_input(g, "dy", G_F32, 4, ds);
    int dw = g_conv2d_grad_weight(g, x, dy, s.sh, s.sw, s.ph, s.pw, s.kh, s.kw);
    assert_true(dw >= 0);
    g_mark_output(g, dw);
    char label[160];
    label_of(label, sizeof label, "conv dW", impl, &s);
    oh_opts opt = oh_tol(RTOL_CONV_GRAD);
    assert_int_equal(oh_check(g, &opt, label), 0);
    g_free(g);
    unsetenv("CLIPCL_GEMM");
}

static void both(const char *impl, conv_shape s)
{
    grad_input_case(impl, s);
    grad_weight_case(impl, s);
}

/* n, c, h, w, o, kh, kw, sh, sw, ph, pw */
static const conv_shape k_shapes[] = {
    {2, 5, 9, 7, 7, 3, 3, 1, 1, 1, 1},    /* 3x3 s1 p1 */
    {2, 5, 9, 7, 13, 3, 3, 2, 2, 1, 1},   /* 3x3 s2 p1 */
    {1, 3, 11, 11, 6, 3, 3, 2, 2, 0, 0},  /* 3x3 s2 p0 */
    {2, 3, 8, 10, 4, 3, 3, 2, 2, 0, 0},   /* last row and col reached by no window: zeros */
    {3, 33, 5, 6, 17, 1, 1, 1, 1, 0, 0},  /* 1x1: no im2col / col2im */
    {2, 7, 9, 9, 5, 1, 1, 2, 2, 0, 0},    /* 1x1 stride 2 */
    {1, 3, 7, 6, 4, 5, 5, 1, 1, 2, 2},    /* 5x5 p2 */
    {2, 4, 9, 8, 3, 3, 1, 2, 1, 1, 0},    /* non-square kernel, stride and pad */
    {2, 3, 24, 32, 19, 8, 8, 8, 8, 0, 0}, /* patchify 8x8/8: 3x4 patches */
    {1, 3, 20, 17, 9, 8, 8, 8, 8, 0, 0},  /* patchify, edges no patch covers */
};

static void test_conv_grad_own(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof k_shapes / sizeof k_shapes[0]; i++)
        both("own", k_shapes[i]);
    /* the own GEMM reading dY in place instead of packing it */
    setenv("CLIPCL_GEMM_PACK", "never", 1);
    both("own", k_shapes[0]);
    both("own", k_shapes[4]);
    unsetenv("CLIPCL_GEMM_PACK");
}

static void test_conv_grad_chunked(void **state)
{
    (void)state;
    /* below one image's scratch: one image per chunk (dW accumulates, dY used
     * in place) */
    setenv("CLIPCL_CONV_SCRATCH", "1024", 1);
    both("own", (conv_shape){4, 4, 9, 8, 6, 3, 3, 1, 1, 1, 1});
    both("own", (conv_shape){3, 9, 7, 7, 5, 1, 1, 1, 1, 0, 0});
    both("clblast", (conv_shape){3, 4, 9, 8, 6, 3, 3, 2, 2, 1, 1});
    /* dW: 5 images in chunks of 2, 2, 1 (permuted dY, then dY in place).
     * With tile 8x16x2 one image takes 36 rows x 32 floats of packed colT plus
     * 6 x 36 floats of permuted dY = 5472 bytes: 12000 hold two, not three. */
    setenv("CLIPCL_GEMM_TILE", "8x16x2", 1);
    setenv("CLIPCL_CONV_SCRATCH", "12000", 1);
    both("own", (conv_shape){5, 3, 6, 6, 6, 3, 3, 1, 1, 1, 1});
    unsetenv("CLIPCL_GEMM_TILE");
    unsetenv("CLIPCL_CONV_SCRATCH");
}

/* CLBlast compiles for seconds on PoCL: a few shapes. */
static void test_conv_grad_clblast(void **state)
{
    (void)state;
    both("clblast", k_shapes[1]);
    both("clblast", k_shapes[4]);
    both("clblast", k_shapes[8]);
}

static void pool_case(int64_t n, int64_t c, int64_t h, int64_t w, int k, int s, int p)
{
    graph *g = g_new();
    int64_t xs[4] = {n, c, h, w}, ds[4] = {n, c, out_size(h, k, s, p), out_size(w, k, s, p)};
    int dy = g_input(g, "dy", G_F32, 4, ds);
    int dx = g_avgpool2d_grad(g, dy, k, s, p, 4, xs);
    assert_true(dx >= 0);
    g_mark_output(g, dx);
    char label[96];
    snprintf(label, sizeof label, "avgpool dX k%d s%d p%d x[%lld,%lld,%lld,%lld]", k, s, p, (long long)n,
             (long long)c, (long long)h, (long long)w);
    oh_opts opt = oh_tol(RTOL_POOL_GRAD);
    assert_int_equal(oh_check(g, &opt, label), 0);
    g_free(g);
}

static void test_avgpool_grad(void **state)
{
    (void)state;
    pool_case(2, 3, 8, 8, 2, 2, 0);
    pool_case(2, 3, 9, 7, 2, 2, 0);  /* floor mode: last row/col get nothing */
    pool_case(1, 5, 7, 9, 3, 1, 1);  /* overlapping windows, padding in the divisor */
    pool_case(3, 2, 1, 1, 1, 1, 0);
    pool_case(1, 4, 14, 13, 3, 2, 1);
    pool_case(2, 3, 10, 11, 3, 3, 0); /* stride = kernel, edges uncovered */
}

/* A failed assert skips a case's unsetenv: clear every knob a case may set
 * so one failure does not leak into the next test. */
static int clear_env(void **state)
{
    (void)state;
    unsetenv("CLIPCL_GEMM");
    unsetenv("CLIPCL_GEMM_PACK");
    unsetenv("CLIPCL_GEMM_TILE");
    unsetenv("CLIPCL_CONV_SCRATCH");
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_conv_grad_own, clear_env),
        cmocka_unit_test_teardown(test_conv_grad_chunked, clear_env),
        cmocka_unit_test_teardown(test_conv_grad_clblast, clear_env),
        cmocka_unit_test_teardown(test_avgpool_grad, clear_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
