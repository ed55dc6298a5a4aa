/* The row-tile GEMM kernel (gemm_tiled_pa, kernels/gemm.cl) against the ref
 * backend in each of its A sources and grid orders, forced through the
 * policy on any device (docs/gemm.md "A in place"):
 *   - A read in place (the default for an activation) and A packed into
 *     row panels every run (CLIPCL_GEMM_PACK_A=always); in place on one
 *     or two row tiles, which only CLIPCL_GEMM_PACK_A=inplace sends to this
 *     kernel (the device self-check's way to run the in-place branch);
 *   - row groups first and column panels first (CLIPCL_GEMM_ORDER; the
 *     default picks panels only for an A larger than half the device's
 *     cache, which no test shape is);
 *   - K blocks (CLIPCL_GEMM_KC=16, K not a multiple of it), several row
 *     tiles per work-item (CLIPCL_GEMM_RT=3, M not a multiple of the tile
 *     nor of the row group), a partial last column panel, the reduced last
 *     row tile (gemm_small_m), bias, fused epilogues, a batch of A with a
 *     shared or per-item B, a transposed A;
 * with two tiles. Also the order rule itself on a device whose cache size
 * is set by hand. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/opencl/ocl_gemm.h"
#include "runtime/rt.h"
#include "tests/common/op_harness.h"

#define RTOL_MATMUL 1e-5f

/* act: 0 none, 1 quickgelu after the matmul, 2 + a residual input (both
 * fuse into the GEMM's epilogue by default). batch_b: 0 a 2-D A and B, else
 * a batch of A over one shared B (folded into one taller GEMM) or, with
 * per_item, a B per batch item. trans_a: A given as [K, M]. */
static void case_mm(int64_t M, int64_t N, int64_t K, int bias_on, int act, int batch_b, int per_item, int trans_a)
{
    graph *g = g_new();
    int64_t as3[3] = {batch_b, trans_a ? K : M, trans_a ? M : K}, bs3[3] = {batch_b, K, N};
    int64_t as2[2] = {trans_a ? K : M, trans_a ? M : K}, bs2[2] = {K, N};
    int a = batch_b ? g_input(g, "A", G_F32, 3, as3) : g_input(g, "A", G_F32, 2, as2);
    int b = batch_b && per_item ? g_param(g, "B", 3, bs3) : g_param(g, "B", 2, bs2);
    int bias = bias_on ? g_param(g, "bias", 1, &N) : -1;
    int y = g_matmul(g, a, b, bias, trans_a, 0);
    if (act == 1)
        y = g_quickgelu(g, y);
    if (act == 2) {
        int64_t rs3[3] = {batch_b, M, N}, rs2[2] = {M, N};
        y = g_add(g, y, batch_b ? g_input(g, "R", G_F32, 3, rs3) : g_input(g, "R", G_F32, 2, rs2));
    }
    assert_true(y >= 0);
    g_mark_output(g, y);
    char label[200];
    snprintf(label, sizeof label, "row-tile GEMM tile %s pack_a %s order %s: %lldx%lldx%lld%s%s batch %d%s%s",
             getenv("CLIPCL_GEMM_TILE"), getenv("CLIPCL_GEMM_PACK_A") ? getenv("CLIPCL_GEMM_PACK_A") : "auto",
             getenv("CLIPCL_GEMM_ORDER"), (long long)M, (long long)N, (long long)K, bias_on ? " +bias" : "",
             act == 1 ? " quickgelu" : act == 2 ? " +R" : "", batch_b, per_item ? " B per item" : "",
             trans_a ? " trans_a" : "");
    oh_opts o = oh_tol(RTOL_MATMUL);
    assert_int_equal(oh_check(g, &o, label), 0);
    g_free(g);
}

static void cases(void)
{
    case_mm(50, 100, 96, 1, 0, 0, 0, 0);  /* ViT's 50 tokens: 6 K blocks, reduced last tile */
    case_mm(51, 70, 33, 0, 1, 0, 0, 0);   /* K 33 = 2 blocks of 16 + 1 */
    case_mm(77, 129, 50, 1, 2, 0, 0, 0);  /* partial panel, residual */
    case_mm(100, 64, 129, 1, 0, 0, 0, 0); /* M 100: row groups of 3 tiles leave a partial group */
    case_mm(19, 33, 7, 0, 0, 3, 0, 0);    /* a batch over one B: folded, M 57 */
    case_mm(29, 40, 21, 1, 2, 2, 1, 0);   /* a B per batch item: a_stride and bp_stride */
    case_mm(43, 50, 37, 1, 0, 0, 0, 1);   /* trans_a: the transposed copy read in place */
}

static const char *const tiles[] = {"6x16x4", "4x8x3"};
static const char *const orders[] = {"rows", "panels"};

static void test_row_tile_kernel(void **state)
{
    (void)state;
    setenv("CLIPCL_GEMM", "own", 1);
    setenv("CLIPCL_FORCE_VARIANT", "cpu", 1);
    setenv("CLIPCL_GEMM_KC", "16", 1);
    setenv("CLIPCL_GEMM_RT", "3", 1);
    for (size_t t = 0; t < sizeof tiles / sizeof tiles[0]; t++)
        for (size_t o = 0; o < sizeof orders / sizeof orders[0]; o++)
            for (int pack = 0; pack < 2; pack++) {
                setenv("CLIPCL_GEMM_TILE", tiles[t], 1);
                setenv("CLIPCL_GEMM_ORDER", orders[o], 1);
                if (pack)
                    setenv("CLIPCL_GEMM_PACK_A", "always", 1);
                else
                    unsetenv("CLIPCL_GEMM_PACK_A");
                cases();
            }
    /* the defaults (KC 768, RT from the shape, order by the cache) on a
     * shape with K blocks and a partial row group */
    unsetenv("CLIPCL_GEMM_KC");
    unsetenv("CLIPCL_GEMM_RT");
    unsetenv("CLIPCL_GEMM_ORDER");
    unsetenv("CLIPCL_GEMM_PACK_A");
    setenv("CLIPCL_GEMM_TILE", "6x16x4", 1);
    case_mm(200, 100, 1600, 1, 2, 0, 0, 0);
    /* inplace: the row-tile kernel on one and two row tiles, A in place */
    setenv("CLIPCL_GEMM_PACK_A", "inplace", 1);
    case_mm(9, 70, 33, 1, 1, 0, 0, 0);
    case_mm(5, 129, 40, 0, 2, 0, 0, 0);
    unsetenv("CLIPCL_GEMM_PACK_A");
    unsetenv("CLIPCL_GEMM_TILE");
    unsetenv("CLIPCL_FORCE_VARIANT");
    unsetenv("CLIPCL_GEMM");
}

/* ocl_gemm_panel_major: panels first only when A outgrows half the cache
 * and B is smaller; an unknown cache keeps rows; the policy overrides. */
static void test_order_rule(void **state)
{
    (void)state;
    rt_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    const size_t mb = 1000 * 1000;
    ctx.dev.global_mem_cache_bytes = 32u << 20;
    ctx.policy.gemm_order = RT_ORDER_AUTO;
    assert_int_equal(ocl_gemm_panel_major(&ctx, 19660 * mb / 1000, 9437 * mb / 1000), 1); /* ViT fc2, batch 32 */
    assert_int_equal(ocl_gemm_panel_major(&ctx, 4915 * mb / 1000, 9437 * mb / 1000), 0);  /* fc1 */
    assert_int_equal(ocl_gemm_panel_major(&ctx, 40 * mb, 60 * mb), 0);                    /* B larger still */
    assert_int_equal(ocl_gemm_panel_major(&ctx, 9830 * mb / 1000, 9437 * mb / 1000), 0);  /* fc2, batch 16 */
    ctx.dev.global_mem_cache_bytes = 0;
    assert_int_equal(ocl_gemm_panel_major(&ctx, 19660 * mb / 1000, 9437 * mb / 1000), 0);
    ctx.policy.gemm_order = RT_ORDER_PANELS;
    assert_int_equal(ocl_gemm_panel_major(&ctx, 1, 2), 1);
    ctx.dev.global_mem_cache_bytes = 32u << 20;
    ctx.policy.gemm_order = RT_ORDER_ROWS;
    assert_int_equal(ocl_gemm_panel_major(&ctx, 19660 * mb / 1000, 9437 * mb / 1000), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_rule),
        cmocka_unit_test(test_row_tile_kernel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
