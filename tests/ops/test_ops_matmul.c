/* G_OP_MATMUL on OpenCL against the ref backend, through BOTH GEMM
 * implementations (forced with CLIPCL_GEMM): odd M/N/K that are multiples of
 * no tile, both transposes, with and without bias, batched with a shared and
 * a per-batch B; B packed into panels and read in place; the local-memory
 * variant forced with CLIPCL_FORCE_VARIANT=gpu. Then the per-device choice: measured, written to the tuning
 * file, read back, and a hand-written file honoured. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/opencl/ocl_gemm.h"
#include "backends/opencl/ocl_gemm_tune.h"
#include "backends/opencl/ocl_backend.h"
#include "tests/common/op_harness.h"
#include "runtime/settings.h"

/* fp32 fma accumulation over K <= 3072 against a double oracle; scale-aware
 * (max |ocl - ref| <= RTOL * max |ref|). */
#define RTOL_MATMUL 1e-5f

static void matmul_case(const char *impl, int na, const int64_t *ashape, int nb, const int64_t *bshape,
                        int with_bias, int ta, int tb)
{
    setenv("CLIPCL_GEMM", impl, 1);
    graph *g = g_new();
    int a = g_input(g, "A", G_F32, na, ashape);
    int b = g_param(g, "B", nb, bshape);
    int bias = -1;
    int64_t N = tb ? bshape[nb - 2] : bshape[nb - 1];
    if (with_bias)
        bias = g_param(g, "bias", 1, &N);
    int y = g_matmul(g, a, b, bias, ta, tb);
    assert_true(y >= 0);
    g_mark_output(g, y);
    char label[160], as[64], bs[64];
    snprintf(label, sizeof label, "matmul %s A%s%s B%s%s%s", impl, g_shape_str(g, a, as, sizeof as),
             ta ? "^T" : "", g_shape_str(g, b, bs, sizeof bs), tb ? "^T" : "", with_bias ? " +bias" : "");
    oh_opts o = oh_tol(RTOL_MATMUL);
    assert_int_equal(oh_check(g, &o, label), 0);
    g_free(g);
}

/* 2-D op(A) M x K @ op(B) K x N in all four transpose combinations. */
static void mm2(const char *impl, int64_t M, int64_t N, int64_t K, int with_bias)
{
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            int64_t as[2] = {ta ? K : M, ta ? M : K};
            int64_t bs[2] = {tb ? N : K, tb ? K : N};
            matmul_case(impl, 2, as, 2, bs, with_bias, ta, tb);
        }
}

static void test_own_2d(void **state)
{
    (void)state;
    static const int64_t shapes[][3] = {
        {1, 1, 1}, {1, 7, 33}, {7, 1, 50}, {33, 77, 7}, {50, 129, 77}, {77, 33, 129},
        {129, 50, 1}, {8, 32, 16}, {50, 96, 768},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        mm2("own", shapes[i][0], shapes[i][1], shapes[i][2], (int)(i % 2));
}

static void test_own_batched(void **state)
{
    (void)state;
    /* shared 2-D B (folded into one tall GEMM unless A is transposed) */
    static const int64_t a1[] = {3, 50, 33}, b1[] = {33, 77};
    matmul_case("own", 3, a1, 2, b1, 1, 0, 0);
    static const int64_t a2[] = {3, 33, 50}, b2[] = {77, 33};
    matmul_case("own", 3, a2, 2, b2, 1, 1, 1);
    /* per-batch B, 4-D like attention heads */
    static const int64_t a3[] = {2, 3, 7, 64}, b3[] = {2, 3, 77, 64};
    matmul_case("own", 4, a3, 4, b3, 0, 0, 1);
    static const int64_t a4[] = {2, 129, 7}, b4[] = {2, 129, 33};
    matmul_case("own", 3, a4, 3, b4, 1, 1, 0);
    static const int64_t a5[] = {5, 1, 1}, b5[] = {5, 1, 1};
    matmul_case("own", 3, a5, 3, b5, 0, 0, 0);
}

/* The own kernel reading B in place (no pack) is the default only for M <= 2
 * row tiles; force it (and the packing path) on shapes with full and partial
 * column panels. */
static void test_own_pack_modes(void **state)
{
    (void)state;
    static const char *modes[] = {"never", "always"};
    for (int m = 0; m < 2; m++) {
        setenv("CLIPCL_GEMM_PACK", modes[m], 1);
        mm2("own", 50, 77, 129, 1);
        mm2("own", 3, 64, 33, 0);
        mm2("own", 9, 31, 5, 1);
        static const int64_t a1[] = {3, 50, 33}, b1[] = {3, 33, 97};
        matmul_case("own", 3, a1, 3, b1, 1, 0, 0);
        static const int64_t a2[] = {2, 77, 16}, b2[] = {16, 160};
        matmul_case("own", 3, a2, 2, b2, 1, 0, 0);
    }
    unsetenv("CLIPCL_GEMM_PACK");
}

/* The local-memory (GPU-class) own kernel, forced on PoCL: 64x64 blocks,
 * so sizes around and past 64 matter. */
static void test_own_local_variant(void **state)
{
    (void)state;
    setenv("CLIPCL_FORCE_VARIANT", "gpu", 1);
    mm2("own", 1, 1, 1, 1);
    mm2("own", 7, 33, 50, 0);
    mm2("own", 65, 129, 17, 1);
    mm2("own", 64, 64, 64, 0);
    static const int64_t a1[] = {3, 50, 33}, b1[] = {33, 77};
    matmul_case("own", 3, a1, 2, b1, 1, 0, 0);
    static const int64_t a3[] = {2, 3, 7, 64}, b3[] = {2, 3, 77, 64};
    matmul_case("own", 4, a3, 4, b3, 0, 0, 1);
    static const int64_t a4[] = {2, 129, 7}, b4[] = {2, 129, 33};
    matmul_case("own", 3, a4, 3, b4, 1, 1, 0);
    unsetenv("CLIPCL_FORCE_VARIANT");
}

/* CLBlast compiles for seconds per kernel family on PoCL: a few shapes only. */
static void test_clblast(void **state)
{
    (void)state;
    mm2("clblast", 33, 77, 50, 1);
    static const int64_t a1[] = {3, 50, 33}, b1[] = {33, 77};
    matmul_case("clblast", 3, a1, 2, b1, 1, 0, 0);
    static const int64_t a3[] = {2, 3, 7, 64}, b3[] = {2, 3, 77, 64};
    matmul_case("clblast", 4, a3, 4, b3, 0, 0, 1);
}

static int read_text(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, len - 1, f);
    buf[n] = 0;
    fclose(f);
    return 0;
}

/* A fresh cache folder: the choice is measured (by the tuner), stored and
 * read back. */
static void test_choice_measured_and_cached(void **state)
{
    (void)state;
    rt_ctx *ctx = oh_ctx();
    assert_non_null(ctx);
    const char *base = rt_setting_value(RT_SET_CACHE_DIR);
    char dir[600], file[1000], text[4096];
    snprintf(dir, sizeof dir, "%s/gemm-choice-%ld", base && *base ? base : "/tmp", (long)getpid());
    mkdir(dir, 0755);
    char *old = base ? strdup(base) : NULL;
    setenv("CLIPCL_CACHE_DIR", dir, 1);
    unsetenv("CLIPCL_GEMM");
    unsetenv("CLIPCL_FORCE_VARIANT"); /* in case an earlier test failed before resetting it */
    unsetenv("CLIPCL_GEMM_TILE");
    rt_policy_reload(ctx);
    ocl_gemm_choose_reset();
    assert_int_equal(ocl_gemm_tuning_path(ctx, file, sizeof file), 0);
    remove(file);

    /* first use no longer measures where the GEMM database has an entry
     * (ocl_gemm_select.c): the tuner measures these tiles and both
     * implementations into the file, which the choice then reads */
    static const ocl_gemm_tile tiles[] = {{8, 16, 2}, {6, 16, 3}, {8, 16, 3}};
    static const ocl_gemm_shape shapes[] = {{50, 3072, 768}, {1600, 768, 3072}};
    ocl_gemm_tune_opts o = {.cand = tiles, .n_cand = 3, .shapes = shapes, .n_shapes = 2, .rounds = 2, .runs = 3,
                            .clblast = 1, .source = "test"};
    static ocl_gemm_tune_result r;
    assert_int_equal(ocl_gemm_tune(ctx, &o, &r), 0);
    assert_int_equal(ocl_gemm_tune_store(ctx, &r), 0);
    ocl_gemm_choose_reset();
    ocl_gemm_impl first;
    assert_int_equal(ocl_gemm_choose(ctx, &first), 0);
    assert_int_equal(read_text(file, text, sizeof text), 0);
    printf("%s", text);
    char expect[64];
    snprintf(expect, sizeof expect, "choice %s", ocl_gemm_impl_name(first));
    assert_non_null(strstr(text, expect));
    assert_non_null(strstr(text, "gflops own:8x16x2 50x3072x768"));
    assert_non_null(strstr(text, "gflops own:6x16x3 1600x768x3072"));
    assert_non_null(strstr(text, "gflops own:8x16x3 1600x768x3072"));
    ocl_gemm_tile t;
    assert_int_equal(ocl_gemm_tile_cached(ctx, &t), 1);
    snprintf(expect, sizeof expect, "tile %dx%dx%d", t.tm, t.vw, t.nv);
    assert_non_null(strstr(text, expect));
    /* On a CPU device through PoCL the own kernel must win (CLBlast's
     * GPU-style tiles run ~10x slower there): the project's requirement. */
    if (ctx->dev.device_class == RT_CLASS_CPU)
        assert_int_equal(first, OCL_GEMM_OWN);

    /* a hand-edited file is honoured by a new process (simulated by reset) */
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fprintf(f, "# edited\nchoice %s\ntile 5x8x3\n", first == OCL_GEMM_OWN ? "clblast" : "own");
    fclose(f);
    ocl_gemm_choose_reset();
    ocl_gemm_impl second;
    assert_int_equal(ocl_gemm_choose(ctx, &second), 0);
    assert_int_equal(second, first == OCL_GEMM_OWN ? OCL_GEMM_CLBLAST : OCL_GEMM_OWN);
    t = ocl_gemm_tile_for(ctx);
    assert_int_equal(t.tm, 5);
    assert_int_equal(t.vw, 8);
    assert_int_equal(t.nv, 3);
    /* the own kernel with the file's odd tile (panel 24) still agrees with ref */
    mm2("own", 33, 77, 50, 1);

    /* the environment overrides any file; nonsense is an error */
    setenv("CLIPCL_GEMM", "own", 1);
    rt_policy_reload(ctx);
    assert_int_equal(ocl_gemm_choose(ctx, &second), 0);
    assert_int_equal(second, OCL_GEMM_OWN);
    setenv("CLIPCL_GEMM", "fastest", 1);
    rt_policy_reload(ctx);
    assert_int_equal(ocl_gemm_choose(ctx, &second), CC_ERR_INVALID);
    unsetenv("CLIPCL_GEMM");
    rt_policy_reload(ctx);

    remove(file);
    char sub[700];
    snprintf(sub, sizeof sub, "%s/tuning", dir);
    rmdir(sub);
    rmdir(dir);
    ocl_gemm_choose_reset();
    if (old) {
        setenv("CLIPCL_CACHE_DIR", old, 1);
        free(old);
    }
}

/* Plan-wide shared scratch (ocl_lower_shared_scratch): a chain of GEMMs whose
 * scratch needs differ, one with two requests in the same node (transposed A
 * and packed B: they must not overlap), all through one shared buffer that
 * is re-bound after lowering. Values against ref for every node's output, and
 * the plan's scratch is the largest single node's, not the sum. */
static graph *chain_graph(int part)
{
    graph *g = g_new();
    static const int64_t sa[] = {33, 50}, sb1[] = {77, 33}, sb2[] = {77, 129}, sc[] = {50, 7};
    int y1 = -1, y2 = -1, y3 = -1;
    if (part == 0 || part == 1) {
        int a = g_input(g, "A", G_F32, 2, sa);
        int b1 = g_param(g, "B1", 2, sb1);
        y1 = g_matmul(g, a, b1, -1, 1, 1); /* [50, 77] */
    }
    if (part == 0 || part == 2) {
        static const int64_t s1[] = {50, 77};
        if (part == 2)
            y1 = g_input(g, "Y1", G_F32, 2, s1);
        int b2 = g_param(g, "B2", 2, sb2);
        y2 = g_matmul(g, y1, b2, -1, 0, 0); /* [50, 129] */
    }
    if (part == 0 || part == 3) {
        static const int64_t s2[] = {50, 129};
        if (part == 3)
            y2 = g_input(g, "Y2", G_F32, 2, s2);
        int c = g_input(g, "C", G_F32, 2, sc);
        y3 = g_matmul(g, y2, c, -1, 1, 0); /* [129, 7] */
    }
    if (y1 >= 0 && part != 2)
        g_mark_output(g, y1);
    if (y2 >= 0 && part != 3)
        g_mark_output(g, y2);
    if (y3 >= 0)
        g_mark_output(g, y3);
    return g;
}

static size_t plan_scratch(graph *g)
{
    ocl_plan *p = NULL;
    assert_int_equal(ocl_plan_create(oh_ctx(), g, &p), CC_OK);
    size_t s = ocl_plan_scratch_bytes(p);
    ocl_plan_free(p);
    return s;
}

static void test_shared_scratch(void **state)
{
    (void)state;
    static const char *impls[] = {"own", "clblast"};
    for (int i = 0; i < 2; i++) {
        setenv("CLIPCL_GEMM", impls[i], 1);
        graph *g = chain_graph(0);
        char label[64];
        snprintf(label, sizeof label, "matmul %s chain A^T B1^T, B2, Y2^T C", impls[i]);
        oh_opts o = oh_tol(RTOL_MATMUL);
        assert_int_equal(oh_check(g, &o, label), 0);
        if (i == 0) {
            size_t whole = plan_scratch(g), most = 0, sum = 0;
            for (int part = 1; part <= 3; part++) {
                graph *gp = chain_graph(part);
                size_t s = plan_scratch(gp);
                most = s > most ? s : most;
                sum += s;
                g_free(gp);
            }
            printf("shared scratch: chain %zu bytes, largest node %zu, sum of nodes %zu\n", whole, most, sum);
            assert_true(most > 0);
            assert_int_equal(whole, most);
            assert_true(whole < sum);
        }
        g_free(g);
    }
    unsetenv("CLIPCL_GEMM");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_own_2d),
        cmocka_unit_test(test_own_batched),
        cmocka_unit_test(test_own_pack_modes),
        cmocka_unit_test(test_own_local_variant),
        cmocka_unit_test(test_shared_scratch),
        cmocka_unit_test(test_clblast),
        cmocka_unit_test(test_choice_measured_and_cached),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
