/* $CLIPCL_KERNEL_DIR replaces an embedded kernel file without a rebuild:
 * our own tiny elementwise.cl writes a known constant, an edit of that file
 * is picked up by the same context, and unsetting the variable restores the
 * embedded source. The real kernels' contents are not depended upon. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "rt_test_util.h"

static const char *override_v1 =
    "__kernel void clipcl_override_probe(__global float *y, float a) {\n"
    "    y[get_global_id(0)] = 42.5f + a * 0.0f;\n}\n";
static const char *override_v2 =
    "__kernel void clipcl_override_probe(__global float *y, float a) {\n"
    "    y[get_global_id(0)] = -7.25f + a;\n}\n";

static char *kdir, *cache;

static void expect_all(rt_ctx *ctx, float a, float want)
{
    enum { N = 19 };
    float y[N];
    memset(y, 0, sizeof y);
    assert_int_equal(rtt_run_kernel(ctx, "elementwise.cl", "", "clipcl_override_probe", a, y, N), CC_OK);
    for (int i = 0; i < N; i++)
        assert_float_equal(y[i], want, 0.0f);
}

static void test_override(void **state)
{
    (void)state;
    size_t emb_len = 0, len = 0;
    int from = -1;
    unsetenv("CLIPCL_KERNEL_DIR");
    const char *embedded = rt_kernel_source("elementwise.cl", &emb_len, &from);
    assert_non_null(embedded);
    assert_int_equal(from, 0);
    assert_int_equal(strlen(embedded), emb_len);

    assert_int_equal(rtt_write_file(kdir, "elementwise.cl", override_v1), 0);
    setenv("CLIPCL_KERNEL_DIR", kdir, 1);
    const char *src = rt_kernel_source("elementwise.cl", &len, &from);
    assert_non_null(src);
    assert_int_equal(from, 1);
    assert_int_equal(len, strlen(override_v1));
    assert_string_equal(src, override_v1);
    /* A file the override dir lacks still comes from the embedded table. */
    const char *other = rt_kernel_source("gemm.cl", &len, &from);
    assert_non_null(other);
    assert_int_equal(from, 0);

    rt_ctx *ctx = NULL;
    assert_int_equal(rt_ctx_create(NULL, 0, &ctx), CC_OK);
    expect_all(ctx, 3.0f, 42.5f);

    /* Edit the file: the same ctx recompiles (the memory cache key includes
     * the source hash), no rebuild or restart. */
    assert_int_equal(rtt_write_file(kdir, "elementwise.cl", override_v2), 0);
    src = rt_kernel_source("elementwise.cl", &len, &from);
    assert_string_equal(src, override_v2);
    assert_int_equal(from, 1);
    expect_all(ctx, 3.0f, -4.25f);
    /* Editing back finds the first program again in memory. */
    assert_int_equal(rtt_write_file(kdir, "elementwise.cl", override_v1), 0);
    int lookups = ctx->disk_cache_hits + ctx->disk_cache_misses + ctx->disk_cache_rejected;
    expect_all(ctx, 3.0f, 42.5f);
    assert_int_equal(ctx->disk_cache_hits + ctx->disk_cache_misses + ctx->disk_cache_rejected, lookups);

    /* Back to the embedded source: our probe kernel is gone from it. */
    unsetenv("CLIPCL_KERNEL_DIR");
    src = rt_kernel_source("elementwise.cl", &len, &from);
    assert_ptr_equal(src, embedded);
    assert_int_equal(len, emb_len);
    assert_int_equal(from, 0);
    assert_null(strstr(src, "clipcl_override_probe"));
    rt_ctx_free(ctx);
}

static void test_missing_and_bad_names(void **state)
{
    (void)state;
    size_t len = 123;
    int from = -1;
    setenv("CLIPCL_KERNEL_DIR", kdir, 1);
    assert_null(rt_kernel_source("no_such_kernel_file.cl", &len, &from));
    assert_int_equal(from, 0);
    /* Only plain names: a path must not escape the kernel dir. */
    assert_null(rt_kernel_source("../etc/passwd", &len, &from));
    assert_null(rt_kernel_source("", &len, &from));
    assert_null(rt_kernel_source(NULL, &len, &from));
    /* A file only in the override dir is served from there. */
    assert_int_equal(rtt_write_file(kdir, "only_here.cl", "// x\n"), 0);
    const char *s = rt_kernel_source("only_here.cl", &len, &from);
    assert_non_null(s);
    assert_int_equal(from, 1);
    assert_int_equal(len, 5);
    /* Empty variable = no override dir. */
    setenv("CLIPCL_KERNEL_DIR", "", 1);
    assert_null(rt_kernel_source("only_here.cl", &len, &from));
    unsetenv("CLIPCL_KERNEL_DIR");
}

int main(void)
{
    kdir = rtt_mkdtemp("override");
    cache = rtt_mkdtemp("override-cache");
    if (!kdir || !cache)
        return 1;
    setenv("CLIPCL_CACHE_DIR", cache, 1);
    unsetenv("CLIPCL_DEVICE");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_override),
        cmocka_unit_test(test_missing_and_bad_names),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    rtt_rmtree(kdir);
    rtt_rmtree(cache);
    free(kdir);
    free(cache);
    return rc;
}
