/* The device self-check (backends/selfcheck.h) catching wrong kernels: a
 * GEMM and a softmax broken on purpose through CLIPCL_KERNEL_DIR (a copy of
 * the embedded file with one line changed, as a miscompiling driver would
 * change it) are found by the check of the first plan that uses them,
 * disabled for the device, replaced by another variant (CLBlast, the other
 * row variant; the plan is lowered again on it), and the small CLIP model's
 * features still match the PyTorch goldens through backend_open. The clean
 * kernels pass the same check, which covers exactly the parts of the kernels
 * the plans launch and the patterns they fuse, and compiles no program the
 * plans do not (all of them with SC_ALL); a later process takes the result
 * from the cache file. */
#include "clip_golden.h"

#include <sys/stat.h>
#include <unistd.h>

#include "backends/backend.h"
#include "backends/opencl/ocl_gemm.h"
#include "backends/opencl/ocl_fusion.h"
#include "backends/selfcheck.h"
#include "runtime/clock.h"
#include "runtime/kernel_source.h"
#include "runtime/fs.h"
#include "runtime/timings.h"

static char g_dir[512];

/* What the plans made through run_backend launched and fused, each once. */
static char g_kernels[256][48], g_patterns[32][48];
static int g_n_kernels, g_n_patterns;

static void record_reset(void) { g_n_kernels = g_n_patterns = 0; }

static void record_one(char (*list)[48], int *n, int cap, const char *name)
{
    for (int i = 0; i < *n; i++)
        if (!strcmp(list[i], name))
            return;
    assert_true(*n < cap);
    snprintf(list[(*n)++], 48, "%s", name);
}

static void record_plan(const backend_plan *p)
{
    backend_kernel_use ku[256];
    const int n = backend_plan_kernels(p, ku, 256);
    assert_true(n >= 0 && n <= 256); /* 0 on the reference backend */
    for (int i = 0; i < n; i++)
        record_one(g_kernels, &g_n_kernels, 256, ku[i].name);
    backend_plan_stats st;
    assert_int_equal(backend_plan_stats_get(p, &st), CC_OK);
    for (int i = 0; i < st.n_patterns; i++)
        if (st.fired[i] > 0)
            record_one(g_patterns, &g_n_patterns, 32, st.pattern[i]);
}

static int recorded(const char *kernel)
{
    for (int i = 0; i < g_n_kernels; i++)
        if (!strcmp(g_kernels[i], kernel))
            return 1;
    return 0;
}

/* Runs g through the backend interface (the path every tool takes). */
static void run_backend(void *ctx, graph *g, void **slots, int out, float *dst)
{
    backend_plan *p = NULL;
    int rc = backend_plan_create(ctx, g, &p);
    if (rc)
        print_error("backend_plan_create: %s\n", cc_last_error());
    assert_int_equal(rc, CC_OK);
    record_plan(p);
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
    assert_int_equal(rt_make_dirs(path), CC_OK);
    *slash = '/';
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("tile 6x16x4\nchoice own\n", f);
    assert_int_equal(fclose(f), 0);
    ocl_gemm_choose_reset();
}

static rt_ctx *new_ctx(void)
{
    rt_ctx *ctx = NULL;
    int rc = rt_ctx_create(NULL, 0, &ctx);
    if (rc) {
        printf("no OpenCL context: %s\n", cc_last_error());
        skip();
    }
    return ctx;
}

/* A context with the result known for the device applied (checks nothing). */
static rt_ctx *known(sc_report *r)
{
    rt_ctx *ctx = new_ctx();
    assert_int_equal(backend_selfcheck(ctx, 0, r), CC_OK);
    assert_int_equal(r->ran, 0);
    return ctx;
}

/* The GEMM pinned to the own kernel and the known result for the device
 * (the kernel sources as now) forgotten: the next plan checks afresh. */
static void start_fresh(void)
{
    rt_ctx *ctx = new_ctx();
    pin_gemm_choice_own(ctx);
    sc_report r;
    assert_int_equal(backend_selfcheck(ctx, SC_FRESH, &r), CC_OK);
    assert_int_equal(r.n_items, 0);
    assert_int_equal(r.ran, 0);
    rt_ctx_free(ctx);
    record_reset();
}

/* A later process: the same result from the cache file alone, applied the
 * same way as on ctx. */
static void same_from_cache(const sc_report *r, const rt_ctx *ctx)
{
    backend_selfcheck_reset();
    rt_ctx *again = new_ctx();
    sc_report cached;
    const double t0 = cc_now_s();
    assert_int_equal(backend_selfcheck(again, 0, &cached), CC_OK);
    printf("    again, from %s: %.3f s\n", cached.cache_file, cc_now_s() - t0);
    assert_true(cached.cache_file[0] != 0);
    assert_int_equal(cached.ran, 0);
    assert_int_equal(cached.n_items, r->n_items);
    for (int i = 0; i < r->n_items; i++)
        assert_int_equal(item(&cached, r->item[i].name)->disabled, r->item[i].disabled);
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
}

/* The small ViT's features through backend_open, whose plans check what
 * they use and apply the result. */
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

static int n_prefix(const sc_report *r, const char *prefix)
{
    int n = 0;
    for (int i = 0; i < r->n_items; i++)
        n += !strncmp(r->item[i].name, prefix, strlen(prefix));
    return n;
}

/* The first plans check exactly the parts of the kernels they launch and
 * the patterns they fuse: no other part (a ViT runs no sum or max, so no
 * reduce.cl), no other variant. */
static void test_first_plans_check_what_they_use(void **state)
{
    (void)state;
    unsetenv("CLIPCL_KERNEL_DIR");
    start_fresh();
    features_still_right();
    sc_report r;
    rt_ctx *ctx = known(&r);
    print_report("embedded kernels, the small ViT's plans", &r);
    assert_int_equal(r.disabled, 0u);
    int expected = 0;
    for (int i = 0; i < g_n_kernels; i++) {
        char part[48];
        if (!backend_selfcheck_part(g_kernels[i], part, sizeof part))
            continue;
        printf("    %s: %s\n", g_kernels[i], part);
        assert_false(item(&r, part)->disabled);
        int first = 1; /* two kernels of one part count once */
        for (int j = 0; j < i; j++) {
            char other[48];
            if (backend_selfcheck_part(g_kernels[j], other, sizeof other) && !strcmp(other, part))
                first = 0;
        }
        expected += first;
    }
    for (int i = 0; i < g_n_patterns; i++) {
        char name[64];
        snprintf(name, sizeof name, "fusion=%.47s", g_patterns[i]);
        assert_false(item(&r, name)->disabled);
        expected++;
    }
    assert_int_equal(r.n_items, expected);
    /* the towers' layer norms, attention and GEMMs, one style of each */
    assert_true(has(&r, "row_variant=cpu:layernorm") || has(&r, "row_variant=gpu:layernorm"));
    assert_false(n_prefix(&r, "row_variant=cpu") && n_prefix(&r, "row_variant=gpu"));
    assert_int_equal(n_prefix(&r, "attention="), 1);
    assert_true(n_prefix(&r, "gemm=own/cpu:") >= 1 || has(&r, "gemm=own/gpu"));
    assert_false(has(&r, "gemm=clblast")); /* the own GEMM was chosen and passed */
    if (!recorded("sum_rows") && !recorded("max_rows"))
        assert_false(has(&r, "row_variant=cpu:reduce"));
    same_from_cache(&r, ctx);
    rt_ctx_free(ctx);
}

/* The programs (file and build options) built since a snapshot: rows of
 * "kernel program build" whose count grew, without the ", from ..." tail. */
typedef struct builds {
    char what[64][160];
    int n;
} builds;

static void builds_since(const rt_timing_row *before, int n_before, builds *out)
{
    static rt_timing_row now[128];
    const int n = rt_timing_rows(now, 128);
    out->n = 0;
    for (int i = 0; i < n; i++) {
        if (strcmp(now[i].name, "kernel program build"))
            continue;
        int was = 0;
        for (int j = 0; j < n_before; j++)
            if (!strcmp(before[j].name, now[i].name) && !strcmp(before[j].detail, now[i].detail))
                was = before[j].count;
        if (now[i].count == was)
            continue;
        char what[160];
        snprintf(what, sizeof what, "%s", now[i].detail);
        char *tail = strstr(what, ", from ");
        if (tail)
            *tail = 0;
        int dup = 0;
        for (int k = 0; k < out->n; k++)
            dup |= !strcmp(out->what[k], what);
        if (!dup && out->n < 64)
            snprintf(out->what[out->n++], sizeof out->what[0], "%s", what);
    }
}

static int in_builds(const builds *b, const char *what)
{
    for (int i = 0; i < b->n; i++)
        if (!strcmp(b->what[i], what))
            return 1;
    return 0;
}

/* The check runs the programs the plans compiled (same build options and
 * kernel selection, the attention program's head dim and key block): with
 * it, the model's plans build the same programs as without it. The one
 * exception allowed: a fusion example's op outside its pattern (the add
 * after add_layernorm, which checks that the fused kernel still writes the
 * sum) may take an elementwise kernel the model has no use for, a program
 * of one small kernel. */
static void test_check_compiles_nothing_new(void **state)
{
    (void)state;
    unsetenv("CLIPCL_KERNEL_DIR");
    static rt_timing_row before[128];
    builds off, on;

    setenv("CLIPCL_SELFCHECK", "0", 1);
    start_fresh();
    int n_before = rt_timing_rows(before, 128);
    features_still_right();
    builds_since(before, n_before, &off);

    setenv("CLIPCL_SELFCHECK", "1", 1);
    start_fresh();
    n_before = rt_timing_rows(before, 128);
    features_still_right();
    builds_since(before, n_before, &on);

    printf("programs without the check: %d, with it: %d\n", off.n, on.n);
    for (int i = 0; i < on.n; i++) {
        printf("    %s%s\n", on.what[i], in_builds(&off, on.what[i]) ? "" : "   <- the check's own");
        if (!in_builds(&off, on.what[i]))
            assert_non_null(strstr(on.what[i], "elementwise.cl -DKSEL -DKSEL_ew_"));
    }
    for (int i = 0; i < off.n; i++)
        assert_true(in_builds(&on, off.what[i]));
    assert_true(on.n > 0);
}

/* Check now (flags, SC_FRESH at least), then again from the cache file in a
 * fresh context with the process memory cleared; returns the context of the
 * first. */
static rt_ctx *check_twice(const char *what, int flags, sc_report *r)
{
    rt_ctx *ctx = new_ctx();
    pin_gemm_choice_own(ctx);
    int rc = backend_selfcheck(ctx, flags, r);
    if (rc)
        print_error("backend_selfcheck: %s\n", cc_last_error());
    assert_int_equal(rc, CC_OK);
    assert_int_equal(r->ran, 1);
    print_report(what, r);
    same_from_cache(r, ctx);
    return ctx;
}

/* SC_ALL (clipcl devices --check): every part of every variant. */
static void test_clean_kernels_pass(void **state)
{
    (void)state;
    unsetenv("CLIPCL_KERNEL_DIR");
    sc_report r;
    rt_ctx *ctx = check_twice("embedded kernels, every part of every variant", SC_FRESH | SC_ALL, &r);
    for (int i = 0; i < r.n_items; i++)
        assert_false(r.item[i].disabled);
    assert_int_equal(r.disabled, 0u);
    static const char *const every[] = {
        "row_variant=cpu:softmax", "row_variant=cpu:layernorm", "row_variant=cpu:l2norm", "row_variant=cpu:reduce",
        "row_variant=gpu:softmax", "row_variant=gpu:layernorm", "row_variant=gpu:l2norm", "row_variant=gpu:reduce",
        "gemm=own/cpu:packed_a",   "gemm=own/cpu:packed_b",    "gemm=own/cpu:rowmajor_b", "gemm=own/cpu:gemv",
        "gemm=clblast",            "attention=cpu",            "attention=rows",          "fusion=matmul_gelu",
        "row_variant=cpu:bn_stats", "row_variant=cpu:bn_grad_sums", "row_variant=gpu:bn_stats",
        "row_variant=gpu:bn_grad_sums",
    };
    for (size_t i = 0; i < sizeof every / sizeof every[0]; i++)
        item(&r, every[i]);
    if (ctx->dev.max_work_group_size >= 256)
        item(&r, "gemm=own/gpu");
    assert_int_equal(n_prefix(&r, "fusion="), ocl_fusion_count());
    rt_ctx_free(ctx);
}

/* Every CPU-style own GEMM kernel multiplies by 1.01 too much: the first
 * plan's check finds the part it uses wrong, the plan is lowered again on
 * CLBlast, whose check passes. */
static void test_wrong_gemm(void **state)
{
    (void)state;
    write_broken("gemm.cl", "acc[i][j] = fma(a, bv[j], acc[i][j]);", "acc[i][j] = fma(a, bv[j] * 1.01f, acc[i][j]);");
    setenv("CLIPCL_KERNEL_DIR", g_dir, 1);
    start_fresh();
    features_still_right();
    sc_report r;
    rt_ctx *ctx = known(&r);
    print_report("gemm.cl broken, after the small ViT's plans", &r);
    int bad = -1;
    for (int i = 0; i < r.n_items; i++)
        if (!strncmp(r.item[i].name, "gemm=own/cpu:", 13) && r.item[i].disabled)
            bad = i;
    assert_true(bad >= 0);
    assert_non_null(strstr(r.item[bad].why, "matmul"));
    assert_false(item(&r, "gemm=clblast")->disabled);
    assert_int_equal(r.disabled, 1u << RT_VAR_GEMM_OWN_CPU);
    /* the plans that ran: CLBlast, no own CPU-style GEMM kernel */
    assert_true(recorded("clblast"));
    assert_false(recorded("gemm_tiled_pa") || recorded("gemm_tiled") || recorded("gemm_tiled_rm") ||
                 recorded("gemm_gemv"));
    /* the fallback: CLBlast, marked as the self-check's doing */
    assert_int_equal(ctx->policy.gemm_impl, RT_GEMM_CLBLAST);
    assert_int_equal(ctx->policy.source[RT_POL_GEMM_IMPL], RT_SRC_SELFCHECK);
    char line[600];
    backend_selfcheck_warning(ctx, &r, bad, line, sizeof line);
    printf("    warning: %s\n", line);
    assert_non_null(strstr(line, "gemm=own/cpu:"));
    assert_non_null(strstr(line, "CLBlast"));
    same_from_cache(&r, ctx);
    rt_ctx_free(ctx);
    unsetenv("CLIPCL_KERNEL_DIR");
    remove_broken("gemm.cl");
}

/* softmax_rows (the CPU row variant) divides by a sum 5% too large: a plan
 * that runs a softmax finds it, is lowered again on softmax_wg and gives the
 * reference's values; the model then runs on the other row variant. */
static void test_wrong_softmax(void **state)
{
    (void)state;
    write_broken("reduce.cl", "float inv = 1.0f / s;\n    for (c = 0; c + 8 <= lim; c += 8)",
                 "float inv = 1.0f / (s * 1.05f);\n    for (c = 0; c + 8 <= lim; c += 8)");
    setenv("CLIPCL_KERNEL_DIR", g_dir, 1);
    start_fresh();

    graph *g = g_new();
    assert_non_null(g);
    const int64_t xs[2] = {6, 50};
    const int x = g_input(g, "x", G_F32, 2, xs), y = g_softmax(g, x, 0);
    g_mark_output(g, y);
    assert_true(x >= 0 && y >= 0 && x < 8);
    float xv[300], want[300], got[300];
    for (int i = 0; i < 300; i++)
        xv[i] = (float)((i * 37) % 101) / 25.0f - 2.0f;
    backend *ref = NULL, *b = NULL;
    assert_int_equal(backend_open("ref", 0, &ref), CC_OK);
    assert_int_equal(backend_open(NULL, 0, &b), CC_OK);
    void *slots[8] = {0};
    slots[x] = xv;
    run_backend(ref, g, slots, y, want);
    record_reset();
    run_backend(b, g, slots, y, got);
    assert_false(recorded("softmax_rows"));
    assert_true(recorded("softmax_wg"));
    for (int i = 0; i < 300; i++)
        assert_float_equal(got[i], want[i], 1e-6);
    backend_close(b);
    backend_close(ref);
    g_free(g);

    sc_report r;
    rt_ctx *ctx = known(&r);
    print_report("reduce.cl broken, after a softmax plan", &r);
    assert_true(item(&r, "row_variant=cpu:softmax")->disabled);
    assert_non_null(strstr(item(&r, "row_variant=cpu:softmax")->why, "softmax"));
    assert_false(item(&r, "row_variant=gpu:softmax")->disabled);
    assert_int_equal(r.disabled, 1u << RT_VAR_ROW_CPU);
    assert_int_equal(ctx->policy.row_variant, RT_STYLE_GPU);
    assert_int_equal(ctx->policy.source[RT_POL_ROW_VARIANT], RT_SRC_SELFCHECK);
    rt_ctx_free(ctx);

    features_still_right(); /* on the GPU-style row kernels, checked as used */
    ctx = known(&r);
    print_report("reduce.cl broken, after the small ViT's plans", &r);
    assert_false(item(&r, "row_variant=gpu:layernorm")->disabled);
    assert_false(has(&r, "row_variant=cpu:layernorm"));
    assert_int_equal(r.disabled, 1u << RT_VAR_ROW_CPU);
    same_from_cache(&r, ctx);
    rt_ctx_free(ctx);
    unsetenv("CLIPCL_KERNEL_DIR");
    remove_broken("reduce.cl");
}

/* backend_open checks nothing; the first plan checks the parts of its
 * kernels and the patterns it fused (and nothing else), and the result is
 * kept. */
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
    rt_ctx *ctx = new_ctx();
    pin_gemm_choice_own(ctx);

    backend *b = NULL;
    assert_int_equal(backend_open(NULL, 0, &b), CC_OK);
    sc_report r;
    assert_int_equal(backend_selfcheck(ctx, 0, &r), CC_OK); /* what is known */
    print_report("after backend_open", &r);
    assert_int_equal(r.n_items, 0);

    graph *g = g_new();
    assert_non_null(g);
    ocl_fusion_example ex;
    memset(&ex, 0, sizeof ex);
    assert_int_equal(ocl_fusion_example_matmul_gelu(g, 7, 33, &ex), 0);
    backend_plan *p = NULL;
    assert_int_equal(backend_plan_create(b, g, &p), CC_OK);
    record_reset();
    record_plan(p);
    assert_int_equal(backend_selfcheck(ctx, 0, &r), CC_OK);
    print_report("after the first plan", &r);
    int parts = 0;
    for (int i = 0; i < g_n_kernels; i++) {
        char part[48];
        if (backend_selfcheck_part(g_kernels[i], part, sizeof part)) {
            assert_false(item(&r, part)->disabled);
            parts++;
        }
    }
    assert_true(parts >= 1); /* its GEMM */
    assert_true(g_n_patterns >= 1);
    for (int i = 0; i < g_n_patterns; i++) {
        char name[64];
        snprintf(name, sizeof name, "fusion=%.47s", g_patterns[i]);
        assert_false(item(&r, name)->disabled);
    }
    assert_false(item(&r, "fusion=matmul_gelu")->disabled);
    assert_int_equal(n_prefix(&r, "fusion="), g_n_patterns);
    assert_int_equal(r.n_items, parts + g_n_patterns);
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
    setenv("CLIPCL_TIMINGS", "1", 1); /* the program builds, for test_check_compiles_nothing_new */
    snprintf(g_dir, sizeof g_dir, "/tmp/clipcl-selfcheck-XXXXXX");
    if (!mkdtemp(g_dir)) {
        fprintf(stderr, "cannot create %s\n", g_dir);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_plans_check_what_they_use),
        cmocka_unit_test(test_check_compiles_nothing_new),
        cmocka_unit_test(test_clean_kernels_pass),
        cmocka_unit_test(test_wrong_gemm),
        cmocka_unit_test(test_wrong_softmax),
        cmocka_unit_test(test_fusion_checked_by_first_plan),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    rmdir(g_dir);
    return rc;
}
