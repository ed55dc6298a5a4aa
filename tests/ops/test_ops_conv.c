/* G_OP_CONV2D and G_OP_AVGPOOL2D on OpenCL against the ref backend: stride
 * 1/2, pad 0/1, 1x1, 3x3, a ViT-like 32x32 stride-32 patch conv, bias and no
 * bias, channel counts that are multiples of nothing; both GEMM paths and
 * the local-memory variant; the chunked im2col path forced with a tiny
 * scratch cap; the implicit-GEMM convs (CPU direct, GPU local tiles) forced
 * on RN50-like shapes. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include "tests/common/op_harness.h"

/* sums of up to C*KH*KW = 3072 products in fp32 against a double oracle */
#define RTOL_CONV 1e-5f
/* a window sum of <= 9 values divided by 9 */
#define RTOL_POOL 1e-6f

static void conv_case(const char *impl, int64_t n, int64_t c, int64_t h, int64_t w, int64_t o, int64_t k,
                      int stride, int pad, int with_bias)
{
    setenv("CLIPCL_GEMM", impl, 1);
    graph *g = g_new();
    int64_t xs[4] = {n, c, h, w}, ws[4] = {o, c, k, k};
    int x = g_input(g, "x", G_F32, 4, xs);
    int wt = g_param(g, "w", 4, ws);
    int b = with_bias ? g_param(g, "b", 1, &o) : -1;
    int y = g_conv2d(g, x, wt, b, stride, stride, pad, pad);
    assert_true(y >= 0);
    g_mark_output(g, y);
    char label[128];
    snprintf(label, sizeof label, "conv %s x[%lld,%lld,%lld,%lld] w%lldx%lld s%d p%d%s", impl, (long long)n,
             (long long)c, (long long)h, (long long)w, (long long)k, (long long)k, stride, pad,
             with_bias ? " +b" : "");
    oh_opts opt = oh_tol(RTOL_CONV);
    assert_int_equal(oh_check(g, &opt, label), 0);
    g_free(g);
    unsetenv("CLIPCL_GEMM");
}

static void conv_own_cases(void)
{
    conv_case("own", 2, 5, 9, 7, 7, 3, 1, 1, 1);   /* 3x3 s1 p1 */
    conv_case("own", 2, 5, 9, 7, 13, 3, 2, 1, 0);  /* 3x3 s2 p1 */
    conv_case("own", 1, 3, 11, 11, 6, 3, 2, 0, 1); /* 3x3 s2 p0 */
    conv_case("own", 3, 33, 5, 6, 17, 1, 1, 0, 1); /* 1x1: plain GEMM */
    conv_case("own", 2, 7, 9, 9, 5, 1, 2, 0, 0);   /* 1x1 stride 2: im2col */
    conv_case("own", 1, 3, 5, 5, 4, 5, 1, 2, 1);   /* 5x5 p2 */
    conv_case("own", 2, 3, 64, 64, 33, 32, 32, 0, 0); /* ViT patch conv, 2x2 patches */
    conv_case("own", 1, 3, 96, 96, 40, 32, 32, 0, 1); /* 3x3 patches, bias */
}

/* Both own-GEMM paths on every shape with im2col forced: the per-image
 * W @ col with panels, and the small-Q Y^T = colT @ W^T (the default below
 * two panels of pixels). Then the same shapes with the device's default
 * conv variant (direct on a CPU: its stride-1 shapes, im2col the rest). */
static void test_conv_own(void **state)
{
    (void)state;
    static const char *modes[] = {"0", "1"};
    setenv("CLIPCL_CONV", "im2col", 1);
    for (int m = 0; m < 2; m++) {
        setenv("CLIPCL_CONV_ROWS", modes[m], 1);
        printf("CLIPCL_CONV=im2col CLIPCL_CONV_ROWS=%s\n", modes[m]);
        conv_own_cases();
    }
    unsetenv("CLIPCL_CONV_ROWS");
    unsetenv("CLIPCL_CONV");
    printf("default conv variant\n");
    conv_own_cases();
}

/* RN50-like shapes for the implicit GEMMs: 3x3 s1 p1 (channels not a
 * multiple of the tile, 7x7 and 14x14 maps whose last panel is partial),
 * 1x1 s1 on 7x7 maps (batch columns past the panel), the 3x3 stride-2 stem
 * with C_in = 3, the 7x7 stride-2 stem, 3x3 with C_in = 3, 5x5 p2, and
 * batches of several images. */
static void conv_implicit_cases(void)
{
    conv_case("own", 3, 19, 14, 14, 23, 3, 1, 1, 1);
    conv_case("own", 2, 40, 7, 7, 13, 3, 1, 1, 0);
    conv_case("own", 3, 37, 7, 7, 29, 1, 1, 0, 1);
    conv_case("own", 1, 64, 7, 7, 70, 1, 1, 0, 0);
    conv_case("own", 2, 3, 32, 32, 8, 3, 2, 1, 0);   /* the ModifiedResNet stem's first conv */
    conv_case("own", 2, 3, 30, 30, 16, 7, 2, 3, 1);  /* the torchvision stem */
    conv_case("own", 2, 3, 17, 19, 10, 3, 1, 1, 1);  /* C_in = 3, stride 1 */
    conv_case("own", 2, 6, 12, 11, 9, 5, 1, 2, 1);
    conv_case("own", 1, 16, 28, 28, 12, 3, 1, 1, 1);
    conv_case("own", 2, 8, 9, 9, 6, 3, 1, 0, 1);     /* unpadded 3x3 */
}

/* The CPU-style implicit GEMM (kernels/conv_direct.cl), forced; then with a
 * scratch cap of one padded image, so the padding copy goes in chunks. */
static void test_conv_direct(void **state)
{
    (void)state;
    setenv("CLIPCL_CONV", "direct", 1);
    conv_implicit_cases();
    setenv("CLIPCL_CONV_SCRATCH", "3000", 1);
    conv_case("own", 3, 5, 9, 8, 6, 3, 1, 1, 1);
    unsetenv("CLIPCL_CONV_SCRATCH");
    unsetenv("CLIPCL_CONV");
}

/* The GPU-style implicit GEMM with local-memory tiles (kernels/conv_local.cl),
 * forced on whatever device runs the tests (PoCL emulates local memory). */
static void test_conv_local_implicit(void **state)
{
    (void)state;
    setenv("CLIPCL_CONV", "local", 1);
    conv_implicit_cases();
    conv_case("own", 2, 7, 9, 9, 5, 1, 2, 0, 0);
    conv_case("own", 2, 3, 64, 64, 33, 32, 32, 0, 0);
    conv_case("own", 1, 70, 9, 9, 130, 3, 1, 1, 1); /* several work-groups both ways */
    unsetenv("CLIPCL_CONV");
}

static void test_conv_chunked(void **state)
{
    (void)state;
    setenv("CLIPCL_CONV", "im2col", 1);
    /* a scratch cap below one image's columns: one image per chunk, for the
     * packed im2col and for the 1x1 path that otherwise packs the whole batch */
    setenv("CLIPCL_CONV_SCRATCH", "4096", 1);
    conv_case("own", 5, 4, 9, 8, 6, 3, 1, 1, 1);
    conv_case("own", 4, 9, 7, 7, 5, 1, 1, 0, 1);
    conv_case("clblast", 3, 4, 9, 8, 6, 3, 2, 1, 1);
    /* the small-Q path in chunks of one image, then of two (5 = 2 + 2 + 1):
     * colT 72 x 36 + yT 72 x 6 floats per image */
    setenv("CLIPCL_CONV_ROWS", "1", 1);
    conv_case("own", 5, 4, 9, 8, 6, 3, 1, 1, 1);
    setenv("CLIPCL_CONV_SCRATCH", "24192", 1);
    conv_case("own", 5, 4, 9, 8, 6, 3, 1, 1, 1);
    conv_case("own", 5, 3, 64, 64, 7, 32, 32, 0, 1);
    unsetenv("CLIPCL_CONV_ROWS");
    unsetenv("CLIPCL_CONV_SCRATCH");
    unsetenv("CLIPCL_CONV");
}

/* The local-memory (GPU-class) own GEMM: plain im2col, no panels. */
static void test_conv_local_variant(void **state)
{
    (void)state;
    setenv("CLIPCL_FORCE_VARIANT", "gpu", 1);
    setenv("CLIPCL_CONV", "im2col", 1);
    conv_case("own", 2, 5, 9, 7, 7, 3, 1, 1, 1);
    conv_case("own", 3, 33, 5, 6, 17, 1, 1, 0, 1);
    conv_case("own", 2, 3, 64, 64, 33, 32, 32, 0, 0);
    unsetenv("CLIPCL_CONV");
    unsetenv("CLIPCL_FORCE_VARIANT");
}

/* CLBlast compiles for seconds on PoCL: a few shapes (im2col: the implicit
 * GEMMs use no GEMM). */
static void test_conv_clblast(void **state)
{
    (void)state;
    setenv("CLIPCL_CONV", "im2col", 1);
    conv_case("clblast", 2, 5, 9, 7, 7, 3, 1, 1, 1);
    conv_case("clblast", 3, 33, 5, 6, 17, 1, 1, 0, 1);
    conv_case("clblast", 2, 3, 64, 64, 33, 32, 32, 0, 0);
    unsetenv("CLIPCL_CONV");
}

static void pool_case(int64_t n, int64_t c, int64_t h, int64_t w, int k, int s, int p)
{
    graph *g = g_new();
    int64_t xs[4] = {n, c, h, w};
    int x = g_input(g, "x", G_F32, 4, xs);
    int y = g_avgpool2d(g, x, k, s, p);
    assert_true(y >= 0);
    g_mark_output(g, y);
    char label[96];
    snprintf(label, sizeof label, "avgpool k%d s%d p%d x[%lld,%lld,%lld,%lld]", k, s, p, (long long)n,
             (long long)c, (long long)h, (long long)w);
    oh_opts opt = oh_tol(RTOL_POOL);
    assert_int_equal(oh_check(g, &opt, label), 0);
    g_free(g);
}

static void test_avgpool(void **state)
{
    (void)state;
    pool_case(2, 3, 8, 8, 2, 2, 0);
    pool_case(2, 3, 9, 7, 2, 2, 0); /* odd sizes: floor mode drops the last row/col */
    pool_case(1, 5, 7, 9, 3, 1, 1); /* padding counted in the divisor */
    pool_case(3, 2, 1, 1, 1, 1, 0);
    pool_case(1, 4, 14, 14, 3, 2, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_own),
        cmocka_unit_test(test_conv_chunked),
        cmocka_unit_test(test_conv_direct),
        cmocka_unit_test(test_conv_local_implicit),
        cmocka_unit_test(test_conv_local_variant),
        cmocka_unit_test(test_conv_clblast),
        cmocka_unit_test(test_avgpool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
