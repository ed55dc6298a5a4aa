/* The small-M paths of the CPU-class own GEMM (kernels/gemm_small.cl,
 * backends/opencl/ocl_gemm_small.c) against the ref backend, forced on any
 * device by the tile (CLIPCL_GEMM_TILE) and compared with the policy's
 * gemm_small_m off (CLIPCL_GEMM_SMALL_M=off): gemm_gemv for M = 1 (a weight
 * B, packed once; partial last panel, bias, fused epilogues, batch of
 * per-item weights) and the reduced last row tile of the packed-A kernel
 * (M % TM in 1..ceil(TM/2), also across K blocks, which continue sums
 * stored in C), next to M where it must not fire. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include "tests/common/op_harness.h"

#define RTOL_MATMUL 1e-5f

/* act: 0 none, 1 quickgelu after the matmul, 2 + a residual input (both
 * fuse into the GEMM's epilogue by default). */
static void case_mm(int64_t M, int64_t N, int64_t K, int bias_on, int act, int batch_b)
{
    graph *g = g_new();
    int64_t as3[3] = {batch_b, M, K}, bs3[3] = {batch_b, K, N}, as2[2] = {M, K}, bs2[2] = {K, N};
    int a = batch_b ? g_input(g, "A", G_F32, 3, as3) : g_input(g, "A", G_F32, 2, as2);
    int b = batch_b ? g_param(g, "B", 3, bs3) : g_param(g, "B", 2, bs2);
    int bias = bias_on ? g_param(g, "bias", 1, &N) : -1;
    int y = g_matmul(g, a, b, bias, 0, 0);
    if (act == 1)
        y = g_quickgelu(g, y);
    if (act == 2) {
        int64_t rs3[3] = {batch_b, M, N}, rs2[2] = {M, N};
        y = g_add(g, y, batch_b ? g_input(g, "R", G_F32, 3, rs3) : g_input(g, "R", G_F32, 2, rs2));
    }
    assert_true(y >= 0);
    g_mark_output(g, y);
    char label[160];
    snprintf(label, sizeof label, "small-M tile %s small_m %s: %lldx%lldx%lld%s%s batch_b %d",
             getenv("CLIPCL_GEMM_TILE"), getenv("CLIPCL_GEMM_SMALL_M") ? "off" : "auto", (long long)M,
             (long long)N, (long long)K, bias_on ? " +bias" : "", act == 1 ? " quickgelu" : act == 2 ? " +R" : "",
             batch_b);
    oh_opts o = oh_tol(RTOL_MATMUL);
    assert_int_equal(oh_check(g, &o, label), 0);
    g_free(g);
}

static const char *const tiles[] = {"6x16x4", "4x8x3", "5x8x2"};

static void each_setting(void (*body)(void))
{
    setenv("CLIPCL_GEMM", "own", 1);
    for (size_t t = 0; t < sizeof tiles / sizeof tiles[0]; t++) {
        setenv("CLIPCL_GEMM_TILE", tiles[t], 1);
        unsetenv("CLIPCL_GEMM_SMALL_M");
        body();
        setenv("CLIPCL_GEMM_SMALL_M", "off", 1);
        body();
    }
    unsetenv("CLIPCL_GEMM_SMALL_M");
    unsetenv("CLIPCL_GEMM_TILE");
    unsetenv("CLIPCL_GEMM");
}

static void gemv_cases(void)
{
    case_mm(1, 512, 768, 1, 0, 0);   /* a pooled projection */
    case_mm(1, 100, 77, 0, 0, 0);    /* a partial last panel */
    case_mm(1, 3072, 33, 1, 1, 0);   /* fc1 with quickgelu */
    case_mm(1, 40, 129, 1, 2, 0);    /* fc2 with the residual, one partial panel */
    case_mm(1, 70, 19, 1, 2, 3);     /* a weight per batch item */
}

static void tail_cases(void)
{
    case_mm(50, 100, 96, 1, 0, 0);   /* ViT's 50 tokens */
    case_mm(51, 70, 33, 0, 1, 0);
    case_mm(52, 64, 40, 1, 2, 0);    /* 4 rows left on 6-row tiles: the full tile */
    case_mm(33, 33, 1600, 1, 2, 0);  /* K blocks (KC 768) continuing stored sums */
    case_mm(77, 50, 20, 1, 0, 0);
    case_mm(13, 17, 8, 0, 0, 0);
}

static void test_gemv(void **state)
{
    (void)state;
    each_setting(gemv_cases);
}

static void test_tail(void **state)
{
    (void)state;
    each_setting(tail_cases);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemv),
        cmocka_unit_test(test_tail),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
