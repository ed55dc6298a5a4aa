/* The GEMM choice on a real device (backends/opencl/ocl_gemm_select.c,
 * ocl_gemm_tune.c), each case in a fresh cache folder: with a database entry
 * first use measures nothing and writes nothing; a cache entry overlays the
 * database (and `clipcl devices --policy` names it); a malformed cache line
 * is ignored with a warning; with no entry a bounded quick tune runs once,
 * says so once, and the next process reads its result; the tuner's result
 * stored is what the next use gets. No timing assertions. */
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
#include "backends/opencl/ocl_warn.h"
#include "runtime/settings.h"
#include "tests/common/op_harness.h"

static char warnings[8][600];
static int n_warnings;

static void catch_warning(const char *line)
{
    if (n_warnings < 8)
        snprintf(warnings[n_warnings], sizeof warnings[0], "%s", line);
    n_warnings++;
}

static char dir[600], file[1000], old_cache[600];

/* A fresh cache folder and no GEMM variables; the choice forgotten. */
static int fresh(void **state)
{
    (void)state;
    const char *base = rt_setting_value(RT_SET_CACHE_DIR);
    snprintf(old_cache, sizeof old_cache, "%s", base ? base : "");
    static int serial;
    snprintf(dir, sizeof dir, "%s/gemm-tune-%ld-%d", base && *base ? base : "/tmp", (long)getpid(), serial++);
    if (base && *base)
        mkdir(base, 0755); /* the suite's cache folder may not exist yet */
    mkdir(dir, 0755);
    setenv("CLIPCL_CACHE_DIR", dir, 1);
    unsetenv("CLIPCL_GEMM");
    unsetenv("CLIPCL_GEMM_TILE");
    unsetenv("CLIPCL_GEMM_DB");
    unsetenv("CLIPCL_FORCE_VARIANT");
    rt_ctx *ctx = oh_ctx();
    assert_non_null(ctx);
    rt_policy_reload(ctx);
    ocl_gemm_choose_reset();
    assert_int_equal(ocl_gemm_tuning_path(ctx, file, sizeof file), 0);
    remove(file);
    n_warnings = 0;
    ocl_set_warning_sink(catch_warning);
    return 0;
}

static int cleanup(void **state)
{
    (void)state;
    char sub[700];
    remove(file);
    snprintf(sub, sizeof sub, "%s/tuning", dir);
    rmdir(sub);
    rmdir(dir);
    unsetenv("CLIPCL_GEMM_DB");
    if (old_cache[0])
        setenv("CLIPCL_CACHE_DIR", old_cache, 1);
    ocl_set_warning_sink(NULL);
    ocl_gemm_choose_reset();
    rt_policy_reload(oh_ctx());
    return 0;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
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

static void test_database_first_use(void **state)
{
    (void)state;
    rt_ctx *ctx = oh_ctx();
    const rt_policy *p = &ctx->policy;
    printf("device %s: %s, tile %dx%dx%d\n", ctx->dev.device_name, p->db_entry[0] ? p->db_entry : "no database entry",
           p->gemm_tm, p->gemm_vw, p->gemm_nv);
    if (!p->db_entry[0] || !((p->db_fields >> RT_POL_GEMM_IMPL) & 1u))
        skip(); /* the quick-tune case covers devices the database does not know */
    ocl_gemm_impl impl;
    assert_int_equal(ocl_gemm_choose(ctx, &impl), 0);
    assert_int_equal(impl, p->db_gemm_impl == RT_GEMM_CLBLAST ? OCL_GEMM_CLBLAST : OCL_GEMM_OWN);
    assert_int_equal(p->gemm_impl, p->db_gemm_impl); /* resolved, still a default */
    assert_int_equal(p->source[RT_POL_GEMM_IMPL], RT_SRC_DEFAULT);
    assert_int_equal(access(file, F_OK), -1); /* nothing measured, nothing written */
    assert_int_equal(n_warnings, 0);
    const ocl_gemm_tile t = ocl_gemm_tile_for(ctx);
    assert_int_equal(t.tm, p->gemm_tm);
    assert_int_equal(t.vw, p->gemm_vw);
    assert_int_equal(t.nv, p->gemm_nv);
    assert_int_equal(p->source[RT_POL_GEMM_TILE], RT_SRC_DEFAULT);
}

static void test_cache_overlays_database(void **state)
{
    (void)state;
    rt_ctx *ctx = oh_ctx();
    char tuning[700];
    snprintf(tuning, sizeof tuning, "%s/tuning", dir);
    mkdir(tuning, 0755);
    write_text(file, "# by hand\nsource clipcl tune\nload 0.42\ntile 5x8x3\nchoice own\n");
    assert_int_equal(ocl_gemm_policy_overlay(ctx), 1);
    const rt_policy *p = &ctx->policy;
    assert_int_equal(p->source[RT_POL_GEMM_TILE], RT_SRC_TUNED);
    assert_int_equal(p->gemm_tm, 5);
    char src[200];
    rt_policy_source_text(p, RT_POL_GEMM_TILE, src, sizeof src);
    assert_string_equal(src, "tuned (clipcl tune, load 0.42)");
    const ocl_gemm_tile t = ocl_gemm_tile_for(ctx);
    assert_int_equal(t.tm, 5);
    assert_int_equal(t.vw, 8);
    assert_int_equal(t.nv, 3);
    ocl_gemm_impl impl;
    assert_int_equal(ocl_gemm_choose(ctx, &impl), 0);
    assert_int_equal(impl, OCL_GEMM_OWN);
    assert_int_equal(n_warnings, 0);
}

/* A file of the first-use sweep before the tuner (timings of 16-wide tiles
 * only, no source line): its choice stands, its tile gives way to the
 * database's; a hand-written tile line (no timings) is honoured. */
static void test_old_sweep_tile_gives_way(void **state)
{
    (void)state;
    rt_ctx *ctx = oh_ctx();
    if (!ctx->policy.db_entry[0])
        skip();
    char tuning[700];
    snprintf(tuning, sizeof tuning, "%s/tuning", dir);
    mkdir(tuning, 0755);
    const ocl_gemm_tile db = {ctx->policy.gemm_tm, ctx->policy.gemm_vw, ctx->policy.gemm_nv};
    write_text(file, "# clipcl GEMM choice for one device and driver, measured 2026-11-26 23:25:27\n"
                     "gflops own:8x16x2 50x3072x768 35.6\ngflops own:6x16x3 50x3072x768 14.6\n"
                     "gflops clblast 50x3072x768 0.7\ntile 2x16x1\nchoice own\n");
    ocl_gemm_impl impl;
    assert_int_equal(ocl_gemm_choose(ctx, &impl), 0);
    assert_int_equal(impl, OCL_GEMM_OWN);
    assert_int_equal(ctx->policy.source[RT_POL_GEMM_IMPL], RT_SRC_TUNED);
    ocl_gemm_tile t = ocl_gemm_tile_for(ctx);
    assert_int_equal(t.tm, db.tm);
    assert_int_equal(t.vw, db.vw);
    assert_int_equal(t.nv, db.nv);
    assert_int_equal(ctx->policy.source[RT_POL_GEMM_TILE], RT_SRC_DEFAULT);
    assert_int_equal(n_warnings, 0);
    /* hand-written: the tile counts */
    write_text(file, "tile 2x16x1\nchoice own\n");
    ocl_gemm_choose_reset();
    rt_policy_reload(ctx);
    t = ocl_gemm_tile_for(ctx);
    assert_int_equal(t.tm, 2);
    assert_int_equal(t.nv, 1);
}

static void test_malformed_cache_ignored(void **state)
{
    (void)state;
    rt_ctx *ctx = oh_ctx();
    if (!ctx->policy.db_entry[0] || !((ctx->policy.db_fields >> RT_POL_GEMM_IMPL) & 1u))
        skip(); /* without an entry a malformed file leads to a measurement: the next case's subject */
    char tuning[700];
    snprintf(tuning, sizeof tuning, "%s/tuning", dir);
    mkdir(tuning, 0755);
    write_text(file, "tile 99x3x1\nchoice fastest\n");
    const ocl_gemm_tile want = {ctx->policy.gemm_tm, ctx->policy.gemm_vw, ctx->policy.gemm_nv};
    ocl_gemm_impl impl;
    assert_int_equal(ocl_gemm_choose(ctx, &impl), 0);
    const ocl_gemm_tile t = ocl_gemm_tile_for(ctx);
    assert_int_equal(t.tm, want.tm);
    assert_int_equal(t.vw, want.vw);
    assert_int_equal(t.nv, want.nv);
    assert_int_equal(n_warnings, 2); /* once each, however often the file is consulted */
    for (int i = 0; i < 2; i++) {
        printf("warning: %s\n", warnings[i]);
        assert_non_null(strstr(warnings[i], file));
        assert_non_null(strstr(warnings[i], "ignored"));
    }
    assert_non_null(strstr(warnings[0], "line 1: expected \"tile TMxVWxNV\""));
    assert_non_null(strstr(warnings[1], "line 2: expected \"choice own\""));
}

static void test_quick_tune_when_nothing_fits(void **state)
{
    (void)state;
    rt_ctx *ctx = oh_ctx();
    char db[700], text[8192];
    snprintf(db, sizeof db, "%s/empty-db.txt", dir);
    write_text(db, "# no entries: every device is unknown\n");
    setenv("CLIPCL_GEMM_DB", db, 1);
    rt_policy_reload(ctx);
    assert_int_equal(ctx->policy.db_entry[0], 0);
    ocl_gemm_impl impl;
    assert_int_equal(ocl_gemm_choose(ctx, &impl), 0);
    assert_int_equal(impl, OCL_GEMM_OWN);
    assert_int_equal(n_warnings, 1);
    printf("warning: %s\n", warnings[0]);
    assert_non_null(strstr(warnings[0], "quick tune"));
    assert_non_null(strstr(warnings[0], "clipcl tune"));
    assert_int_equal(read_text(file, text, sizeof text), 0);
    printf("%s", text);
    assert_non_null(strstr(text, "source quick tune at first use\n"));
    assert_non_null(strstr(text, "\nload "));
    assert_non_null(strstr(text, "gflops own:"));
    const ocl_gemm_tile t = ocl_gemm_tile_for(ctx);
    char want[64];
    snprintf(want, sizeof want, "tile %dx%dx%d\n", t.tm, t.vw, t.nv);
    assert_non_null(strstr(text, want));

    /* the next process (simulated by a reset) reads the file: no tune, no word */
    ocl_gemm_choose_reset();
    rt_policy_reload(ctx);
    assert_int_equal(ocl_gemm_choose(ctx, &impl), 0);
    assert_int_equal(n_warnings, 1);
    const ocl_gemm_tile t2 = ocl_gemm_tile_for(ctx);
    assert_int_equal(t2.tm, t.tm);
    assert_int_equal(t2.vw, t.vw);
    assert_int_equal(t2.nv, t.nv);
    assert_int_equal(ctx->policy.source[RT_POL_GEMM_TILE], RT_SRC_TUNED);
    remove(db);
}

static void test_tune_store_then_use(void **state)
{
    (void)state;
    rt_ctx *ctx = oh_ctx();
    static const ocl_gemm_tile tiles[] = {{4, 8, 3}, {6, 8, 2}};
    static const ocl_gemm_shape shapes[] = {{64, 96, 48}, {33, 40, 20}};
    ocl_gemm_tune_opts o = {.cand = tiles, .n_cand = 2, .shapes = shapes, .n_shapes = 2, .rounds = 2, .runs = 3,
                            .source = "test"};
    static ocl_gemm_tune_result r;
    assert_int_equal(ocl_gemm_tune(ctx, &o, &r), 0);
    assert_int_equal(r.n_cand, 2);
    for (int c = 0; c < 2; c++) {
        assert_true(r.measured[c]);
        assert_true(r.rounds[c] >= 2);
        assert_true(r.spread[c] >= 0);
        assert_true(ocl_gemm_tune_total(&r, c) > 0);
    }
    assert_true(ocl_gemm_tune_total(&r, r.best) <= ocl_gemm_tune_total(&r, 1 - r.best));
    assert_int_equal(ocl_gemm_tune_store(ctx, &r), 0);
    ocl_gemm_choose_reset();
    rt_policy_reload(ctx);
    const ocl_gemm_tile t = ocl_gemm_tile_for(ctx);
    assert_int_equal(t.tm, r.tile.tm);
    assert_int_equal(t.nv, r.tile.nv);
    ocl_gemm_policy_overlay(ctx);
    char src[200];
    rt_policy_source_text(&ctx->policy, RT_POL_GEMM_TILE, src, sizeof src);
    printf("gemm_tile from: %s\n", src);
    assert_non_null(strstr(src, "tuned (test"));
    /* the shape list parser the CLI uses */
    ocl_gemm_shape s[OCL_TUNE_MAX_SHAPES];
    int n;
    char err[200];
    assert_true(ocl_gemm_tune_shapes("vit-b-32", s, OCL_TUNE_MAX_SHAPES, &n, err, sizeof err));
    assert_int_equal(n, 4);
    assert_true(ocl_gemm_tune_shapes("all", s, OCL_TUNE_MAX_SHAPES, &n, err, sizeof err));
    assert_int_equal(n, 6);
    assert_true(ocl_gemm_tune_shapes("64x96x48,1x2x3", s, OCL_TUNE_MAX_SHAPES, &n, err, sizeof err));
    assert_int_equal(n, 2);
    assert_int_equal(s[1].K, 3);
    assert_false(ocl_gemm_tune_shapes("64x96", s, OCL_TUNE_MAX_SHAPES, &n, err, sizeof err));
    assert_non_null(strstr(err, "MxNxK"));
    assert_false(ocl_gemm_tune_shapes("64x96x0", s, OCL_TUNE_MAX_SHAPES, &n, err, sizeof err));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_database_first_use, fresh, cleanup),
        cmocka_unit_test_setup_teardown(test_cache_overlays_database, fresh, cleanup),
        cmocka_unit_test_setup_teardown(test_old_sweep_tile_gives_way, fresh, cleanup),
        cmocka_unit_test_setup_teardown(test_malformed_cache_ignored, fresh, cleanup),
        cmocka_unit_test_setup_teardown(test_quick_tune_when_nothing_fits, fresh, cleanup),
        cmocka_unit_test_setup_teardown(test_tune_store_then_use, fresh, cleanup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
