/* Fusion at lowering, driven by the pattern table (backends/opencl/ocl_fusion.h):
 * for every row, its example (the unfused subgraph) on odd shapes must make
 * the pattern fire and the fused OpenCL plan must equal the reference within
 * the tolerance of the ops it replaces, on both row variants and both GEMM
 * implementations; CLIPCL_FUSION=0 fires nothing; the switch list works; the
 * epilogue fusions do not fire in a training graph (the backward pass reads
 * the pre-activation), there or in the CLIP training graphs; the memory plan
 * keeps a fused run's inputs alive.
 *
 * A new pattern row is tested here without touching this file. Run one:
 *   CLIPCL_TEST_FUSION=name meson test -C build test_fusion --verbose */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/opencl/ocl_fusion.h"
#include "models/clip.h"
#include "models/clip_train.h"
#include "runtime/settings.h"
#include "tests/common/op_harness.h"

/* rows x cols of the examples: 1, 3, 7, 33, 77, 513 and widths that are
 * multiples of nothing (panel edges, partial vectors, one-column rows) */
static const int k_sizes[][2] = {{1, 3}, {3, 7}, {7, 33}, {33, 77}, {77, 129}, {513, 17}};
#define N_SIZES ((int)(sizeof k_sizes / sizeof k_sizes[0]))

/* variant x GEMM: the CPU-class rows and register-tiled GEMM, the GPU-class
 * work-group rows and local-memory GEMM, and CLBlast (epilogue after it) */
static const char *const k_variants[][2] = {{"cpu", "own"}, {"gpu", "own"}, {"cpu", "clblast"}};
#define N_VARIANTS ((int)(sizeof k_variants / sizeof k_variants[0]))

static int selected(const char *name)
{
    const char *only = rt_setting_value(RT_SET_TEST_FUSION);
    return !only || !*only || !strcmp(only, name);
}

/* How often pattern `row` fires in the plan of g, and how many fire in all. */
static int fired(graph *g, int row, int *total, int *n_launches)
{
    ocl_plan *p = NULL;
    if (ocl_plan_create(oh_ctx(), g, &p) != 0) {
        printf("ocl_plan_create failed: %s\n", cc_last_error());
        return -1;
    }
    ocl_fusion_stats st;
    assert_int_equal(ocl_plan_fusion_stats(p, &st), 0);
    ocl_plan_free(p);
    *total = 0;
    for (int r = 0; r < st.n_patterns; r++)
        *total += st.fired[r];
    if (n_launches)
        *n_launches = st.n_launches;
    return row >= 0 ? st.fired[row] : 0;
}

static graph *build_example(const ocl_fusion_pattern *pat, int rows, int cols, ocl_fusion_example *ex)
{
    graph *g = g_new();
    memset(ex, 0, sizeof *ex);
    if (pat->example(g, rows, cols, ex) != 0 || g->n_errors) {
        printf("%s example %dx%d: builder failed: %s\n", pat->name, rows, cols, cc_last_error());
        fail();
    }
    return g;
}

/* The example on the reference vs the fused plan; checks the firing count. */
static void check_example(int row, int rows, int cols, int expect_fired, const char *tag)
{
    const ocl_fusion_pattern *pat = ocl_fusion_get(row);
    ocl_fusion_example ex;
    graph *g = build_example(pat, rows, cols, &ex);
    int total, launches;
    int n = fired(g, row, &total, &launches);
    char label[160];
    snprintf(label, sizeof label, "%s %dx%d %s (fired %d, %d launches)", pat->name, rows, cols, tag, n,
             launches);
    if (n != expect_fired || (expect_fired == 0 && total != 0)) {
        printf("%s: expected the pattern to fire %d time(s), %d fusion(s) in all\n", label, expect_fired, total);
        fail();
    }
    oh_opts o = oh_tol(ex.rtol > 0.0f ? ex.rtol : 1e-5f);
    for (int k = 0; k < ex.n_positive; k++)
        oh_f32_range(ex.positive[k], 0.25f, 2.0f);
    assert_int_equal(oh_check(g, &o, label), 0);
    g_free(g);
}

static void set_variant(int v)
{
    setenv("CLIPCL_FORCE_VARIANT", k_variants[v][0], 1);
    setenv("CLIPCL_GEMM", k_variants[v][1], 1);
}

static void clear_env(void)
{
    unsetenv("CLIPCL_FORCE_VARIANT");
    unsetenv("CLIPCL_GEMM");
    unsetenv("CLIPCL_FUSION");
    unsetenv("CLIPCL_GEMM_KC");
}

/* Every row, every size, every variant: fires once and agrees. */
static void test_patterns_fire_and_agree(void **state)
{
    (void)state;
    for (int r = 0; r < ocl_fusion_count(); r++) {
        if (!selected(ocl_fusion_get(r)->name))
            continue;
        for (int v = 0; v < N_VARIANTS; v++) {
            set_variant(v);
            char tag[64];
            snprintf(tag, sizeof tag, "%s/%s", k_variants[v][0], k_variants[v][1]);
            for (int s = 0; s < N_SIZES; s++)
                check_example(r, k_sizes[s][0], k_sizes[s][1], 1, tag);
        }
    }
    clear_env();
}

/* The own GEMM in K blocks (partial sums through C): the epilogue must come
 * with the last block only. */
static void test_epilogue_with_k_blocks(void **state)
{
    (void)state;
    setenv("CLIPCL_GEMM_KC", "16", 1);
    set_variant(0);
    for (int r = 0; r < ocl_fusion_count(); r++)
        if (!strncmp(ocl_fusion_get(r)->name, "matmul_", 7) && selected(ocl_fusion_get(r)->name)) {
            check_example(r, 77, 129, 1, "cpu/own KC=16");
            check_example(r, 33, 77, 1, "cpu/own KC=16");
        }
    clear_env();
}

/* CLIPCL_FUSION=0 fires nothing (and still agrees); "-name" drops one row;
 * "name" keeps only that one; an unknown name fails the plan. */
static void test_switches(void **state)
{
    (void)state;
    for (int r = 0; r < ocl_fusion_count(); r++) {
        const char *name = ocl_fusion_get(r)->name;
        if (!selected(name))
            continue;
        setenv("CLIPCL_FUSION", "0", 1);
        check_example(r, 7, 33, 0, "CLIPCL_FUSION=0");
        char spec[80];
        snprintf(spec, sizeof spec, "-%s", name);
        setenv("CLIPCL_FUSION", spec, 1);
        ocl_fusion_example ex;
        graph *g = build_example(ocl_fusion_get(r), 7, 33, &ex);
        int total;
        assert_int_equal(fired(g, r, &total, NULL), 0);
        setenv("CLIPCL_FUSION", name, 1);
        assert_int_equal(fired(g, r, &total, NULL), 1);
        assert_int_equal(total, 1);
        g_free(g);
    }
    setenv("CLIPCL_FUSION", "matmul_gelu,no_such_fusion", 1);
    ocl_fusion_example ex;
    graph *g = build_example(ocl_fusion_get(0), 3, 7, &ex);
    ocl_plan *p = NULL;
    assert_int_not_equal(ocl_plan_create(oh_ctx(), g, &p), 0);
    assert_non_null(strstr(cc_last_error(), "no_such_fusion"));
    assert_null(p);
    g_free(g);
    clear_env();
}

/* In a training graph the activation's backward reads the matmul output
 * (the pre-activation), a second reader: the epilogue must not fire. */
static void test_no_epilogue_in_training(void **state)
{
    (void)state;
    static const g_op acts[] = {G_OP_GELU, G_OP_QUICKGELU};
    for (int a = 0; a < 2; a++) {
        graph *g = g_new();
        const int64_t xs[2] = {5, 9}, ws[2] = {11, 9}, one[1] = {1}, n = 11;
        int x = g_input(g, "x", G_F32, 2, xs);
        int w = g_param(g, "w", 2, ws);
        int b = g_param(g, "b", 1, &n);
        int h = g_matmul(g, x, w, b, 0, 1);
        int y = acts[a] == G_OP_GELU ? g_gelu(g, h) : g_quickgelu(g, h);
        int loss = g_reshape(g, g_mean(g, g_reshape(g, y, 1, (int64_t[]){55})), 1, one);
        int wrt[2] = {w, b}, grads[2];
        assert_int_equal(g_backward(g, loss, 2, wrt, grads, NULL), 0);
        g_mark_output(g, loss);
        int total;
        assert_int_equal(fired(g, ocl_fusion_find(acts[a] == G_OP_GELU ? "matmul_gelu" : "matmul_quickgelu"),
                               &total, NULL), 0);
        /* and the plan still agrees with the reference, gradients included */
        oh_opts o = oh_tol(1e-5f);
        assert_int_equal(oh_check(g, &o, acts[a] == G_OP_GELU ? "training matmul->gelu" : "training matmul->quickgelu"),
                         0);
        g_free(g);
    }
}

/* A fused run writes its last output at its first step: the memory plan
 * must keep the run's inputs (here activations, so they live in the arena)
 * alive until then, or the output could take their bytes. */
static void test_liveness_of_fused_runs(void **state)
{
    (void)state;
    for (int v = 0; v < N_VARIANTS; v++) {
        set_variant(v);
        graph *g = g_new();
        const int64_t xs[2] = {37, 48}, ws[2] = {48, 48}, n = 48;
        int x = g_scale(g, g_input(g, "x", G_F32, 2, xs), 1.5f);
        int r = g_scale(g, g_input(g, "r", G_F32, 2, xs), -0.5f);
        int h = g_matmul(g, x, g_param(g, "w", 2, ws), g_param(g, "b", 1, &n), 0, 1);
        int y = g_add(g, r, h);
        int gamma = g_param(g, "gamma", 1, &n), beta = g_param(g, "beta", 1, &n);
        int s = g_add(g, g_scale(g, y, 2.0f), g_scale(g, y, -1.0f));
        int z = g_layernorm(g, s, gamma, beta, 1e-5f);
        g_mark_output(g, z);
        int total;
        assert_int_equal(fired(g, ocl_fusion_find("matmul_residual"), &total, NULL), 1);
        assert_int_equal(fired(g, ocl_fusion_find("add_layernorm"), &total, NULL), 1);
        oh_opts o = oh_tol(1e-5f);
        assert_int_equal(oh_check(g, &o, k_variants[v][1]), 0);
        g_free(g);
    }
    clear_env();
}

static const char *data_path(const char *dir)
{
    static char buf[1200];
    const char *d = rt_setting_value(RT_SET_TEST_DATA);
    snprintf(buf, sizeof buf, "%s/%s", d ? d : "tests/data", dir);
    return buf;
}

static void print_stats(const char *what, const ocl_fusion_stats *st)
{
    printf("%-24s launches %d (+%d static):", what, st->n_launches - st->n_static, st->n_static);
    for (int r = 0; r < st->n_patterns; r++)
        if (st->fired[r])
            printf(" %s x%d", st->name[r], st->fired[r]);
    printf("\n");
}

static void plan_stats(graph *g, ocl_fusion_stats *st)
{
    ocl_plan *p = NULL;
    int rc = ocl_plan_create(oh_ctx(), g, &p);
    if (rc)
        printf("ocl_plan_create: %s\n", cc_last_error());
    assert_int_equal(rc, 0);
    assert_int_equal(ocl_plan_fusion_stats(p, st), 0);
    ocl_plan_free(p);
}

static int fired_named(const ocl_fusion_stats *st, const char *name)
{
    const int r = ocl_fusion_find(name);
    return r >= 0 ? st->fired[r] : -1;
}

/* The real CLIP graphs: inference towers fuse their MLPs, residual adds and
 * (ResNet) conv + batchnorm; the joint training graphs (both towers, loss,
 * backward) must not fire the activation epilogues, since the backward reads
 * the pre-activations, and have no inference batchnorm to fold. */
static void test_clip_graphs(void **state)
{
    (void)state;
    static const char *const models[][2] = {{"clip_small_vit/openai", "train_step_vit"},
                                            {"clip_small_rn/openai", "train_step_rn"}};
    for (int m = 0; m < 2; m++) {
        clip_model *cm = NULL;
        assert_int_equal(clip_load(data_path(models[m][0]), &cm), 0);
        clip_tower *t = NULL;
        assert_int_equal(clip_build_image(cm->w, &cm->cfg, 2, &t), 0);
        ocl_fusion_stats st;
        plan_stats(t->g, &st);
        print_stats(models[m][0], &st);
        assert_true(fired_named(&st, cm->cfg.vision.is_vit ? "matmul_residual" : "conv_batchnorm_relu") > 0);
        clip_tower_free(t);
        clip_model_free(cm);

        assert_int_equal(clip_load(data_path(models[m][1]), &cm), 0);
        clip_train_graph *tg = NULL;
        assert_int_equal(clip_train_build(cm->w, &cm->cfg, 2, CLIP_LOSS_CONTRASTIVE, &tg), 0);
        plan_stats(tg->g, &st);
        print_stats(models[m][1], &st);
        assert_int_equal(fired_named(&st, "matmul_gelu"), 0);
        assert_int_equal(fired_named(&st, "matmul_quickgelu"), 0);
        assert_int_equal(fired_named(&st, "conv_batchnorm"), 0);
        assert_int_equal(fired_named(&st, "conv_batchnorm_relu"), 0);
        clip_train_free(tg);
        clip_model_free(cm);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_patterns_fire_and_agree),
        cmocka_unit_test(test_epilogue_with_k_blocks),
        cmocka_unit_test(test_switches),
        cmocka_unit_test(test_no_epilogue_in_training),
        cmocka_unit_test(test_liveness_of_fused_runs),
        cmocka_unit_test(test_clip_graphs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
