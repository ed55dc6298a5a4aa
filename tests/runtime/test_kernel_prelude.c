/* The kernel prelude (kernels/common.cl) and `#include "x.cl"` resolution:
 * embedded kernel files come back with the prelude spliced in; an edited
 * common.cl in $CLIPCL_KERNEL_DIR changes what an embedded kernel computes
 * (and the program caches notice); a missing include is one line naming the
 * file; compiler messages name the file and line the code came from; the
 * storage-type macros build for half. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "rt_test_util.h"

static char *kdir, *cache;

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static char *concat(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    char *s = malloc(na + nb + 1);
    assert_non_null(s);
    memcpy(s, a, na);
    memcpy(s + na, b, nb + 1);
    return s;
}

static void remove_from_kdir(const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", kdir, name);
    unlink(path);
}

/* y = kernel(x) for an elementwise.cl unary kernel (x, y, alpha). */
static void run_unary(rt_ctx *ctx, const char *name, const float *x, float *y, size_t n)
{
    cl_kernel k = NULL;
    assert_int_equal(rt_kernel(ctx, "elementwise.cl", "", name, &k), CC_OK);
    cl_mem mx = NULL, my = NULL;
    assert_int_equal(rt_alloc(ctx, n * sizeof(float), &mx), CC_OK);
    assert_int_equal(rt_alloc(ctx, n * sizeof(float), &my), CC_OK);
    assert_int_equal(rt_upload(ctx, mx, 0, x, n * sizeof(float)), CC_OK);
    float alpha = 1.0f;
    cl_int e = clSetKernelArg(k, 0, sizeof mx, &mx);
    e |= clSetKernelArg(k, 1, sizeof my, &my);
    e |= clSetKernelArg(k, 2, sizeof alpha, &alpha);
    assert_int_equal(e, CL_SUCCESS);
    size_t g = n;
    assert_int_equal(clEnqueueNDRangeKernel(ctx->queue, k, 1, NULL, &g, NULL, 0, NULL, NULL), CL_SUCCESS);
    assert_int_equal(rt_download(ctx, my, 0, y, n * sizeof(float)), CC_OK);
    clReleaseMemObject(mx);
    clReleaseMemObject(my);
    clReleaseKernel(k);
}

static void test_embedded_files_are_resolved(void **state)
{
    (void)state;
    unsetenv("CLIPCL_KERNEL_DIR");
    size_t len = 0;
    int from = -1;
    const char *src = rt_kernel_source("reduce.cl", &len, &from);
    assert_non_null(src);
    assert_int_equal(from, 0);
    assert_int_equal(strlen(src), len);
    assert_null(strstr(src, "\n#include \"common.cl\"")); /* a line of its own: resolved */
    assert_int_equal(count(src, "#line 1 \"common.cl\""), 1);
    assert_int_equal(count(src, "static float wg_sum("), 1);
    /* the same text (pointer) on every call: one program-cache entry */
    assert_ptr_equal(rt_kernel_source("reduce.cl", NULL, NULL), src);
    /* the prelude itself is served like any kernel file */
    const char *common = rt_kernel_source("common.cl", &len, &from);
    assert_non_null(common);
    assert_non_null(strstr(common, "CLIPCL_COMMON_CL"));
}

/* An override of common.cl alone changes the embedded elementwise.cl's gelu
 * (which calls the prelude's erf_fast), in the same ctx, and unsetting the
 * override brings the embedded numbers back. */
static void test_prelude_override_changes_kernels(void **state)
{
    (void)state;
    unsetenv("CLIPCL_KERNEL_DIR");
    const char *embedded = rt_kernel_source("common.cl", NULL, NULL);
    assert_non_null(embedded);
    /* erf_fast's last line; if it changes, update this test's edit too */
    static const char *erf_ret = "return copysign(1.0f - p * exp(-a * a), x);";
    const char *at = strstr(embedded, erf_ret);
    assert_non_null(at);
    size_t head = (size_t)(at - embedded);
    char *edited = malloc(strlen(embedded) + 64);
    assert_non_null(edited);
    memcpy(edited, embedded, head);
    strcpy(edited + head, "return 0.0f * x; /* erf = 0: gelu(v) = v / 2 */");
    strcat(edited, at + strlen(erf_ret));

    rt_ctx *ctx = NULL;
    assert_int_equal(rt_ctx_create(NULL, 0, &ctx), CC_OK);
    enum { N = 8 };
    const float x[N] = {-3.0f, -1.0f, -0.25f, 0.0f, 0.5f, 1.0f, 2.0f, 4.0f};
    float y0[N], y1[N], y2[N];
    run_unary(ctx, "ew_gelu", x, y0, N);
    assert_float_equal(y0[5], 0.8413f, 1e-3f); /* gelu(1) */

    assert_int_equal(rtt_write_file(kdir, "common.cl", edited), 0);
    setenv("CLIPCL_KERNEL_DIR", kdir, 1);
    int from = 0;
    const char *src = rt_kernel_source("elementwise.cl", NULL, &from);
    assert_non_null(src);
    assert_int_equal(from, 1); /* the kernel file is embedded, its prelude is not */
    assert_non_null(strstr(src, "erf = 0: gelu(v) = v / 2"));
    run_unary(ctx, "ew_gelu", x, y1, N);
    for (int i = 0; i < N; i++)
        assert_float_equal(y1[i], 0.5f * x[i], 1e-6f);

    /* a prelude with an extra helper: visible in every file that includes it */
    char *probe = concat(embedded, "__kernel void clipcl_prelude_probe(__global float *y, float a)\n"
                                   "{\n    y[get_global_id(0)] = hsum4((float4)(a)) + 1.0f;\n}\n");
    assert_int_equal(rtt_write_file(kdir, "common.cl", probe), 0);
    float yp[5];
    assert_int_equal(rtt_run_kernel(ctx, "norm.cl", "", "clipcl_prelude_probe", 2.0f, yp, 5), CC_OK);
    assert_float_equal(yp[4], 9.0f, 0.0f);
    assert_int_equal(rtt_run_kernel(ctx, "grad.cl", "", "clipcl_prelude_probe", 3.0f, yp, 5), CC_OK);
    assert_float_equal(yp[0], 13.0f, 0.0f);

    unsetenv("CLIPCL_KERNEL_DIR");
    run_unary(ctx, "ew_gelu", x, y2, N);
    assert_memory_equal(y0, y2, sizeof y0);
    cl_kernel k = NULL;
    assert_int_equal(rt_kernel(ctx, "norm.cl", "", "clipcl_prelude_probe", &k), CC_ERR_INVALID);
    rt_ctx_free(ctx);
    free(edited);
    free(probe);
    remove_from_kdir("common.cl");
}

static void test_missing_include_is_one_line(void **state)
{
    (void)state;
    assert_int_equal(rtt_write_file(kdir, "needs_missing.cl",
                                    "/* probe */\n#include \"no_such_prelude.cl\"\n"
                                    "__kernel void k(__global float *y) { y[0] = 1.0f; }\n"),
                     0);
    setenv("CLIPCL_KERNEL_DIR", kdir, 1);
    assert_null(rt_kernel_source("needs_missing.cl", NULL, NULL));
    rt_ctx *ctx = NULL;
    assert_int_equal(rt_ctx_create(NULL, 0, &ctx), CC_OK);
    cl_program p = NULL;
    assert_int_equal(rt_program(ctx, "needs_missing.cl", "", &p), CC_ERR_IO);
    const char *msg = cc_last_error();
    assert_non_null(strstr(msg, "needs_missing.cl line 2"));
    assert_non_null(strstr(msg, "#include \"no_such_prelude.cl\" not found"));
    assert_null(strchr(msg, '\n'));

    /* an overridden prelude that includes a missing file: named with the
     * prelude's own name, for an embedded kernel file that includes it */
    assert_int_equal(rtt_write_file(kdir, "common.cl", "// a broken prelude\n#include \"gone.cl\"\n"), 0);
    assert_int_equal(rt_program(ctx, "norm.cl", "", &p), CC_ERR_IO);
    msg = cc_last_error();
    assert_non_null(strstr(msg, "common.cl line 2: #include \"gone.cl\" not found"));
    assert_null(strchr(msg, '\n'));
    remove_from_kdir("common.cl");
    unsetenv("CLIPCL_KERNEL_DIR");
    rt_ctx_free(ctx);
}

/* #line markers: an error after the prelude is reported at the kernel
 * file's own line, not at that line plus the prelude's length. */
static void test_build_errors_name_the_file_and_line(void **state)
{
    (void)state;
    assert_int_equal(rtt_write_file(kdir, "bad_after_prelude.cl",
                                    "#include \"common.cl\"\n\n"
                                    "__kernel void k(__global float *y) { y[0] = no_such_name; }\n"),
                     0);
    setenv("CLIPCL_KERNEL_DIR", kdir, 1);
    rt_ctx *ctx = NULL;
    assert_int_equal(rt_ctx_create(NULL, 0, &ctx), CC_OK);
    cl_program p = NULL;
    assert_int_equal(rt_program(ctx, "bad_after_prelude.cl", "", &p), CC_ERR_BUILD);
    assert_non_null(strstr(cc_last_error(), "bad_after_prelude.cl:3:"));
    unsetenv("CLIPCL_KERNEL_DIR");
    rt_ctx_free(ctx);
}

/* The storage-type macros build for half storage too (attention.cl uses
 * them in both kernels); nothing runs, only the compile is checked. */
static void test_half_storage_builds(void **state)
{
    (void)state;
    unsetenv("CLIPCL_KERNEL_DIR");
    rt_ctx *ctx = NULL;
    assert_int_equal(rt_ctx_create(NULL, 0, &ctx), CC_OK);
    cl_program p = NULL;
    int rc = rt_program(ctx, "attention.cl", "-DHD=64 -DVW=16 -DTQ=4 -DKB=64 -DSTORE_HALF", &p);
    if (rc != CC_OK)
        printf("%s\n", cc_last_error());
    assert_int_equal(rc, CC_OK);
    rt_ctx_free(ctx);
}

int main(void)
{
    kdir = rtt_mkdtemp("prelude");
    cache = rtt_mkdtemp("prelude-cache");
    if (!kdir || !cache)
        return 1;
    setenv("CLIPCL_CACHE_DIR", cache, 1);
    unsetenv("CLIPCL_DEVICE");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_embedded_files_are_resolved),
        cmocka_unit_test(test_prelude_override_changes_kernels),
        cmocka_unit_test(test_missing_include_is_one_line),
        cmocka_unit_test(test_build_errors_name_the_file_and_line),
        cmocka_unit_test(test_half_storage_builds),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    rtt_rmtree(kdir);
    rtt_rmtree(cache);
    free(kdir);
    free(cache);
    return rc;
}
