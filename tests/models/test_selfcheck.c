/* The device self-check (backends/selfcheck.h) catching wrong kernels: a
 * GEMM and a softmax broken on purpose through CLIPCL_KERNEL_DIR (a copy of
 * the embedded file with one line changed, as a miscompiling driver would
 * change it) are found, disabled for the device, replaced by another variant
 * (CLBlast, the other row variant), and the small CLIP model's features still
 * match the PyTorch goldens through backend_open. The clean kernels pass the
 * same check, which on first use covers only the variants the policy uses
 * (all of them with SC_ALL); the second check of a key comes from the cache
 * file. */
#include "clip_golden.h"

#include <sys/stat.h>
#include <unistd.h>

#include "backends/backend.h"
#include "backends/opencl/ocl_gemm.h"
#include "backends/opencl/ocl_fusion.h"
#include "backends/selfcheck.h"
#include "runtime/clock.h"
#include "runtime/kernel_source.h"

static char g_dir[512];

/* Runs g through the backend interface (the path every tool takes). */
static void run_backend(void *ctx, graph *g, void **slots, int out, float *dst)
{
    backend_plan *p = NULL;
    int rc = backend_plan_create(ctx, g, &p);
    if (rc)
        print_error("backend_plan_create: %s\n", cc_last_error());
    assert_int_equal(rc, CC_OK);
    for (int i = 0; i < g->n_tensors; i++) {
        g_role r = g->tensors[i].role;
        if ((r == G_ROLE_INPUT || r == G_ROLE_PARAM) && slots[i])
            assert_int_equal(backend_plan_write(p, i, slots[i], g_nbytes(g, i)), CC_OK);
    }
    rc = backend_plan_run(p);
    if (rc)
        print_error("backend_plan_run: %s\n", cc_last_error());
    assert_int_equal(rc, CC_OK);
    assert_int_equal(backend_plan_read(p, out, dst, g_nbytes(g, out)), CC_OK);
    backend_plan_free(p);
}

/* The embedded `file` with `from` replaced by `to` (exactly once), written
 * into the override folder. */
static void write_broken(const char *file, const char *from, const char *to)
{
    const char *src = NULL;
    for (const rt_embedded_kernel *k = rt_embedded_kernels; k->name; k++)
        if (!strcmp(k->name, file))
            src = k->source;
    assert_non_null(src);
    const char *at = strstr(src, from);
    assert_non_null(at);
    assert_null(strstr(at + 1, from));
    char path[700];
    snprintf(path, sizeof path, "%s/%s", g_dir, file);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fwrite(src, 1, (size_t)(at - src), f);
    fputs(to, f);
    fputs(at + strlen(from), f);
    assert_int_equal(fclose(f), 0);
}

static void remove_broken(const char *file)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s", g_dir, file);
    remove(path);
}

static int has(const sc_report *r, const char *name)
{
    for (int i = 0; i < r->n_items; i++)
        if (!strcmp(r->item[i].name, name))
            return 1;
    return 0;
}

static const sc_item *item(const sc_report *r, const char *name)
{
    for (int i = 0; i < r->n_items; i++)
        if (!strcmp(r->item[i].name, name))
            return &r->item[i];
    print_error("no self-check item %s\n", name);
    fail();
    return NULL;
}

static void print_report(const char *what, const sc_report *r)
{
    printf("%s: %s in %.2f s\n", what, r->ran ? "checked" : "from the cache", r->seconds);
    for (int i = 0; i < r->n_items; i++)
        printf("    %-26s %-8s %6.2f s %s\n", r->item[i].name, r->item[i].disabled ? "DISABLED" : "ok",
               r->item[i].seconds, r->item[i].why);
}

/* The GEMM choice for the device pinned to the own kernel (as a measurement
 * that found it faster writes it), so that a first use checks the own GEMM
 * whatever an earlier run measured on this busy machine. */
static void pin_gemm_choice_own(rt_ctx *ctx)
{
    char path[1000];
    assert_int_equal(ocl_gemm_tuning_path(ctx, path, sizeof path), 0);
    char *slash = strrchr(path, '/');
    *slash = 0;
    mkdir(path, 0755);
    *slash = '/';
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("tile 6x16x4\nchoice own\n", f);
    assert_int_equal(fclose(f), 0);
    ocl_gemm_choose_reset();
}

/* Check now (flags, SC_FRESH at least), then again from the cache file in a
 * fresh context with the process memory cleared; returns the context of the
 * first. */
static rt_ctx *check_twice(const char *what, int flags, sc_report *r)
{
    rt_ctx *ctx = NULL;
    int rc = rt_ctx_create(NULL, 0, &ctx);
    if (rc) {
        printf("no OpenCL context: %s\n", cc_last_error());
        skip();
    }
    pin_gemm_choice_own(ctx);
    rc = backend_selfcheck(ctx, flags, r);
    if (rc)
        print_error("backend_selfcheck: %s\n", cc_last_error());
    assert_int_equal(rc, CC_OK);
    assert_int_equal(r->ran, 1);
    print_report(what, r);

    backend_selfcheck_reset();
    rt_ctx *again = NULL;
    assert_int_equal(rt_ctx_create(NULL, 0, &again), CC_OK);
    sc_report cached;
    const double t0 = cc_now_s();
    assert_int_equal(backend_selfcheck(again, 0, &cached), CC_OK);
    printf("    again, from %s: %.3f s\n", cached.cache_file, cc_now_s() - t0);
    assert_true(cached.cache_file[0] != 0);
    assert_int_equal(cached.ran, 0);
    assert_int_equal(cached.n_items, r->n_items);
    assert_int_equal(cached.disabled, r->disabled);
    assert_string_equal(cached.fusion_off, r->fusion_off);
    const rt_policy *a = &again->policy, *b = &ctx->policy;
    assert_int_equal(a->row_variant, b->row_variant);
    assert_int_equal(a->gemm_impl, b->gemm_impl);
    assert_int_equal(a->gemm_variant, b->gemm_variant);
    assert_int_equal(a->attention, b->attention);
    assert_string_equal(a->fusion_patterns, b->fusion_patterns);
    assert_memory_equal(a->source, b->source, sizeof a->source);
    rt_ctx_free(again);
    return ctx;
}

/* The small ViT's features through backend_open, which applies the result. */
static void features_still_right(void)
{
    backend *b = NULL;
    int rc = backend_open(NULL, 0, &b);
    if (rc)
        print_error("backend_open: %s\n", cc_last_error());
    assert_int_equal(rc, CC_OK);
    check_model(run_backend, b, "OpenCL after the self-check", "clip_small_vit", "openai");
    backend_close(b);
}

/* First use: only what the policy uses (the device's row variant, the GEMM
 * it chose, its attention variant and the enabled fusion patterns), each
 * checked now. */
static void test_clean_first_use_checks_chosen(void **state)
{
    (void)state;
    unsetenv("CLIPCL_KERNEL_DIR");
    sc_report r;
    rt_ctx *ctx = check_twice("embedded kernels, first use", SC_FRESH, &r);
    const rt_policy *p = &ctx->policy;
    assert_int_equal(r.disabled, 0u);
    const int row_gpu = p->row_variant == RT_STYLE_GPU, gemm_gpu = p->gemm_variant == RT_STYLE_GPU,
              att_rows = p->attention == RT_STYLE_GPU;
    assert_true(has(&r, row_gpu ? "row_variant=gpu" : "row_variant=cpu"));
    assert_false(has(&r, row_gpu ? "row_variant=cpu" : "row_variant=gpu"));
    assert_true(has(&r, gemm_gpu ? "gemm=own/gpu" : "gemm=own/cpu"));
    assert_false(has(&r, gemm_gpu ? "gemm=own/cpu" : "gemm=own/gpu"));
    assert_false(has(&r, "gemm=clblast")); /* the own GEMM was chosen and passed */
    assert_true(has(&r, att_rows ? "attention=rows" : "attention=cpu"));
    assert_false(has(&r, att_rows ? "attention=cpu" : "attention=rows"));
    int fusion_items = 0, fusion_on = 0;
    for (int i = 0; i < r.n_items; i++) {
        assert_false(r.item[i].disabled);
        assert_int_equal(r.item[i].now, 1);
        fusion_items += !strncmp(r.item[i].name, "fusion=", 7);
    }
    for (int i = 0; i < ocl_fusion_count(); i++)
        fusion_on += rt_policy_fusion_on(p, ocl_fusion_get(i)->name);
    assert_int_equal(fusion_items, fusion_on);
    assert_int_equal(r.n_items, 3 + fusion_on);
    rt_ctx_free(ctx);
}

static void test_clean_kernels_pass(void **state)
{
    (void)state;
    unsetenv("CLIPCL_KERNEL_DIR");
    sc_report r;
    rt_ctx *ctx = check_twice("embedded kernels, every variant", SC_FRESH | SC_ALL, &r);
    for (int i = 0; i < r.n_items; i++)
        assert_false(r.item[i].disabled);
    assert_int_equal(r.disabled, 0u);
    /* every variant family was checked */
    item(&r, "row_variant=cpu");
    item(&r, "row_variant=gpu");
    item(&r, "gemm=own/cpu");
    item(&r, "gemm=clblast");
    item(&r, "attention=cpu");
    item(&r, "attention=rows");
    item(&r, "fusion=matmul_gelu");
    rt_ctx_free(ctx);
}

/* Every CPU-style own GEMM kernel multiplies by 1.01 too much. */
static void test_wrong_gemm(void **state)
{
    (void)state;
    write_broken("gemm.cl", "acc[i][j] = fma(a, bv[j], acc[i][j]);", "acc[i][j] = fma(a, bv[j] * 1.01f, acc[i][j]);");
    setenv("CLIPCL_KERNEL_DIR", g_dir, 1);
    sc_report r;
    rt_ctx *ctx = check_twice("gemm.cl broken", SC_FRESH, &r);
    assert_true(item(&r, "gemm=own/cpu")->disabled);
    assert_non_null(strstr(item(&r, "gemm=own/cpu")->why, "matmul"));
    assert_false(item(&r, "gemm=clblast")->disabled);
    assert_false(item(&r, "row_variant=cpu")->disabled);
    assert_true(r.disabled & (1u << RT_VAR_GEMM_OWN_CPU));
    /* the fallback: CLBlast, marked as the self-check's doing */
    assert_int_equal(ctx->policy.gemm_impl, RT_GEMM_CLBLAST);
    assert_int_equal(ctx->policy.source[RT_POL_GEMM_IMPL], RT_SRC_SELFCHECK);
    char line[600];
    for (int i = 0; i < r.n_items; i++)
        if (!strcmp(r.item[i].name, "gemm=own/cpu"))
            backend_selfcheck_warning(ctx, &r, i, line, sizeof line);
    printf("    warning: %s\n", line);
    assert_non_null(strstr(line, "gemm=own/cpu"));
    assert_non_null(strstr(line, "CLBlast"));
    rt_ctx_free(ctx);
    features_still_right();
    unsetenv("CLIPCL_KERNEL_DIR");
    remove_broken("gemm.cl");
}

/* softmax_rows (the CPU row variant) divides by a sum 5% too large. */
static void test_wrong_softmax(void **state)
{
    (void)state;
    write_broken("reduce.cl", "float inv = 1.0f / s;\n    for (c = 0; c + 8 <= lim; c += 8)",
                 "float inv = 1.0f / (s * 1.05f);\n    for (c = 0; c + 8 <= lim; c += 8)");
    setenv("CLIPCL_KERNEL_DIR", g_dir, 1);
    sc_report r;
    rt_ctx *ctx = check_twice("reduce.cl broken", SC_FRESH, &r);
    assert_true(item(&r, "row_variant=cpu")->disabled);
    assert_non_null(strstr(item(&r, "row_variant=cpu")->why, "softmax"));
    assert_false(item(&r, "row_variant=gpu")->disabled);
    assert_false(item(&r, "gemm=own/cpu")->disabled);
    assert_int_equal(ctx->policy.row_variant, RT_STYLE_GPU);
    assert_int_equal(ctx->policy.source[RT_POL_ROW_VARIANT], RT_SRC_SELFCHECK);
    rt_ctx_free(ctx);
    features_still_right();
    unsetenv("CLIPCL_KERNEL_DIR");
    remove_broken("reduce.cl");
}

static int n_fusion_items(const sc_report *r)
{
    int n = 0;
    for (int i = 0; i < r->n_items; i++)
        n += !strncmp(r->item[i].name, "fusion=", 7);
    return n;
}

/* backend_open checks the policy's variants only; the first plan that fuses
 * a pattern checks that pattern (and no other), and the result is kept. */
static void test_fusion_checked_by_first_plan(void **state)
{
    (void)state;
    unsetenv("CLIPCL_KERNEL_DIR");
    const char *old = getenv("CLIPCL_CACHE_DIR");
    char *saved = old ? strdup(old) : NULL;
    char cache[600];
    snprintf(cache, sizeof cache, "%s/lazy-cache", g_dir);
    mkdir(cache, 0755);
    setenv("CLIPCL_CACHE_DIR", cache, 1);
    backend_selfcheck_reset();
    rt_ctx *ctx = NULL;
    if (rt_ctx_create(NULL, 0, &ctx)) {
        printf("no OpenCL context: %s\n", cc_last_error());
        skip();
    }
    pin_gemm_choice_own(ctx);

    backend *b = NULL;
    assert_int_equal(backend_open(NULL, 0, &b), CC_OK);
    sc_report r;
    int nd = -1;
    assert_int_equal(backend_selfcheck_fusions(ctx, NULL, 0, &r, &nd), CC_OK); /* what is known */
    print_report("after backend_open", &r);
    assert_true(has(&r, "gemm=own/cpu") || has(&r, "gemm=own/gpu"));
    assert_int_equal(n_fusion_items(&r), 0);

    graph *g = g_new();
    assert_non_null(g);
    ocl_fusion_example ex;
    memset(&ex, 0, sizeof ex);
    assert_int_equal(ocl_fusion_example_matmul_gelu(g, 7, 33, &ex), 0);
    backend_plan *p = NULL;
    assert_int_equal(backend_plan_create(b, g, &p), CC_OK);
    backend_plan_stats st;
    assert_int_equal(backend_plan_stats_get(p, &st), CC_OK);
    assert_int_equal(backend_selfcheck_fusions(ctx, NULL, 0, &r, &nd), CC_OK);
    print_report("after the first plan", &r);
    int fired = 0;
    for (int i = 0; i < st.n_patterns; i++)
        if (st.fired[i] > 0) {
            char name[64];
            snprintf(name, sizeof name, "fusion=%s", st.pattern[i]);
            assert_false(item(&r, name)->disabled);
            fired++;
        }
    assert_true(fired >= 1);
    assert_false(item(&r, "fusion=matmul_gelu")->disabled);
    assert_int_equal(n_fusion_items(&r), fired);
    backend_plan_free(p);
    g_free(g);
    backend_close(b);
    rt_ctx_free(ctx);
    if (saved) {
        setenv("CLIPCL_CACHE_DIR", saved, 1);
        free(saved);
    } else {
        unsetenv("CLIPCL_CACHE_DIR");
    }
}

int main(void)
{
    golden_init();
    setenv("CLIPCL_SELFCHECK", "1", 1);
    snprintf(g_dir, sizeof g_dir, "/tmp/clipcl-selfcheck-XXXXXX");
    if (!mkdtemp(g_dir)) {
        fprintf(stderr, "cannot create %s\n", g_dir);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clean_first_use_checks_chosen),
        cmocka_unit_test(test_clean_kernels_pass),
        cmocka_unit_test(test_wrong_gemm),
        cmocka_unit_test(test_wrong_softmax),
        cmocka_unit_test(test_fusion_checked_by_first_plan),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    rmdir(g_dir);
    return rc;
}
