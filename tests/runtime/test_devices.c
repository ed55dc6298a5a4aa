/* Device listing and selection, error strings, buffers, and the exit codes
 * of `clipcl devices`. Expected values come from the device list itself
 * (queried independently of the selector) and from the OpenCL spec. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/rt.h"

#ifndef CLIPCL_EXE
#error "CLIPCL_EXE (path of the clipcl binary) must be defined by meson"
#endif

static char self_path[1024];

/* Runs a shell command, captures stdout+stderr (or only stdout), returns the
 * exit status (or -1). */
static int run_capture(const char *cmd, int with_stderr, char *out, size_t len)
{
    char full[2048];
    snprintf(full, sizeof full, "%s%s", cmd, with_stderr ? " 2>&1" : " 2>/dev/null");
    FILE *p = popen(full, "r");
    if (!p)
        return -1;
    size_t n = fread(out, 1, len - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_error_strings(void **state)
{
    (void)state;
    assert_string_equal(rt_cl_error_string(0), "CL_SUCCESS");
    assert_string_equal(rt_cl_error_string(-5), "CL_OUT_OF_RESOURCES");
    assert_string_equal(rt_cl_error_string(-11), "CL_BUILD_PROGRAM_FAILURE");
    assert_string_equal(rt_cl_error_string(-46), "CL_INVALID_KERNEL_NAME");
    assert_string_equal(rt_cl_error_string(-70), "CL_INVALID_DEVICE_QUEUE");        /* 2.0 */
    assert_string_equal(rt_cl_error_string(-72), "CL_MAX_SIZE_RESTRICTION_EXCEEDED"); /* 3.0 */
    assert_string_equal(rt_cl_error_string(-1001), "CL_PLATFORM_NOT_FOUND_KHR");
    assert_non_null(strstr(rt_cl_error_string(-12345), "-12345"));
    /* Every code in the core range -1..-72 that the spec defines has a name. */
    for (int c = -72; c <= -1; c++) {
        if (c <= -20 && c >= -29) /* unassigned by the spec */
            continue;
        assert_null(strstr(rt_cl_error_string(c), "UNKNOWN"));
    }
}

static void test_no_icd_library(void **state)
{
    (void)state;
    /* ocl-icd reads OCL_ICD_VENDORS once per process, so the check runs in a
     * fresh child process of this binary. */
    char cmd[1400], out[2048];
    snprintf(cmd, sizeof cmd, "env -u OCL_ICD_FILENAMES OCL_ICD_VENDORS=/nonexistent '%s' --no-icd-child",
             self_path);
    int rc = run_capture(cmd, 1, out, sizeof out);
    assert_int_equal(rc, CC_ERR_NO_PLATFORM);
    assert_non_null(strstr(out, "no OpenCL platform found"));
    assert_non_null(strstr(out, "pocl-opencl-icd"));
}

static int no_icd_child(void)
{
    rt_device_info *l = NULL;
    int n = -1;
    int rc = rt_list_devices(&l, &n);
    printf("%s\n", cc_last_error());
    rt_device_info sel;
    int rc2 = rt_select_device("cpu", &sel);
    free(l);
    /* Both entry points must agree; a mismatch shows up as another code. */
    return (rc == rc2 && n == 0) ? rc : 99;
}

static void test_list(void **state)
{
    (void)state;
    rt_device_info *l = NULL;
    int n = 0;
    assert_int_equal(rt_list_devices(&l, &n), CC_OK);
    assert_true(n >= 1);
    for (int i = 0; i < n; i++) {
        const rt_device_info *d = &l[i];
        assert_true(d->compute_units > 0);
        assert_true(d->max_work_group_size >= 1);
        assert_true(d->global_mem_bytes > 0);
        assert_true(d->max_alloc_bytes > 0 && d->max_alloc_bytes <= d->global_mem_bytes);
        assert_true(strlen(d->device_name) > 0);
        assert_true(strlen(d->platform_name) > 0);
        assert_true(strncmp(d->device_version, "OpenCL ", 7) == 0);
        assert_true(d->preferred_vector_width_float >= 1);
        assert_true(d->mem_base_addr_align_bytes >= 4);
        if (d->type & CL_DEVICE_TYPE_CPU)
            assert_int_equal(d->device_class, RT_CLASS_CPU);
        else if (d->type & CL_DEVICE_TYPE_GPU)
            assert_int_equal(d->device_class, d->host_unified_memory ? RT_CLASS_IGPU : RT_CLASS_DGPU);
        if (i > 0 && l[i - 1].platform_index == d->platform_index)
            assert_int_equal(d->device_index, l[i - 1].device_index + 1);
    }
    assert_string_equal(rt_device_class_name(RT_CLASS_CPU), "cpu");
    assert_string_equal(rt_device_class_name(RT_CLASS_DGPU), "dgpu");
    free(l);
}

static void test_select(void **state)
{
    (void)state;
    rt_device_info *l = NULL, s;
    int n = 0;
    assert_int_equal(rt_list_devices(&l, &n), CC_OK);
    unsetenv("CLIPCL_DEVICE");

    int first_gpu = -1, first_cpu = -1;
    for (int i = n - 1; i >= 0; i--) {
        if (l[i].type & CL_DEVICE_TYPE_GPU)
            first_gpu = i;
        if (l[i].type & CL_DEVICE_TYPE_CPU)
            first_cpu = i;
    }
    int want = first_gpu >= 0 ? first_gpu : first_cpu;
    assert_int_equal(rt_select_device(NULL, &s), CC_OK);
    assert_string_equal(s.device_name, l[want].device_name);
    assert_int_equal(rt_select_device("", &s), CC_OK);
    assert_int_equal(s.platform_index, l[want].platform_index);

    if (first_cpu >= 0) {
        assert_int_equal(rt_select_device("cpu", &s), CC_OK);
        assert_true(s.type & CL_DEVICE_TYPE_CPU);
        assert_int_equal(rt_select_device("CPU", &s), CC_OK);
        assert_true(s.type & CL_DEVICE_TYPE_CPU);
    }
    if (first_gpu < 0) {
        assert_int_equal(rt_select_device("gpu", &s), CC_ERR_NO_DEVICE);
        assert_non_null(strstr(cc_last_error(), "\"gpu\""));
    }

    char pd[32];
    snprintf(pd, sizeof pd, "%d:%d", l[n - 1].platform_index, l[n - 1].device_index);
    assert_int_equal(rt_select_device(pd, &s), CC_OK);
    assert_string_equal(s.device_name, l[n - 1].device_name);
    assert_int_equal(s.device_index, l[n - 1].device_index);

    /* A lowercase piece from the middle of the real name. */
    char piece[8] = {0};
    size_t nl = strlen(l[0].device_name);
    size_t off = nl > 10 ? 3 : 0, take = nl - off < 6 ? nl - off : 6;
    for (size_t i = 0; i < take; i++)
        piece[i] = (char)tolower((unsigned char)l[0].device_name[off + i]);
    assert_int_equal(rt_select_device(piece, &s), CC_OK);
    assert_string_equal(s.device_name, l[0].device_name);

    assert_int_equal(rt_select_device("nosuchdevice", &s), CC_ERR_NO_DEVICE);
    assert_non_null(strstr(cc_last_error(), "\"nosuchdevice\""));
    assert_non_null(strstr(cc_last_error(), l[0].device_name));
    assert_non_null(strstr(cc_last_error(), "use gpu, cpu, P:D"));
    assert_int_equal(rt_select_device("97:3", &s), CC_ERR_NO_DEVICE);

    /* $CLIPCL_DEVICE is the default spec; an explicit spec wins over it. */
    setenv("CLIPCL_DEVICE", "nosuchdevice", 1);
    assert_int_equal(rt_select_device(NULL, &s), CC_ERR_NO_DEVICE);
    assert_int_equal(rt_select_device(pd, &s), CC_OK);
    setenv("CLIPCL_DEVICE", pd, 1);
    assert_int_equal(rt_select_device(NULL, &s), CC_OK);
    assert_string_equal(s.device_name, l[n - 1].device_name);
    unsetenv("CLIPCL_DEVICE");
    free(l);
}

static void test_buffers(void **state)
{
    (void)state;
    unsetenv("CLIPCL_PROFILE");
    rt_ctx *ctx = NULL;
    assert_int_equal(rt_ctx_create(NULL, 1, &ctx), CC_OK);
    assert_true(ctx->profiling);
    enum { N = 1000 };
    float a[N], b[N];
    for (int i = 0; i < N; i++)
        a[i] = (float)i * 0.5f - 7.0f;
    cl_mem m = NULL;
    assert_int_equal(rt_alloc(ctx, sizeof a, &m), CC_OK);
    assert_int_equal(rt_upload(ctx, m, 0, a, sizeof a), CC_OK);
    memset(b, 0, sizeof b);
    assert_int_equal(rt_download(ctx, m, 0, b, sizeof b), CC_OK);
    assert_memory_equal(a, b, sizeof a);
    /* Offsets are in bytes. */
    float tail[10];
    assert_int_equal(rt_download(ctx, m, 990 * sizeof(float), tail, sizeof tail), CC_OK);
    assert_memory_equal(tail, a + 990, sizeof tail);

    cl_event ev = NULL;
    assert_int_equal(clEnqueueWriteBuffer(ctx->queue, m, CL_FALSE, 0, sizeof a, a, 0, NULL, &ev), CL_SUCCESS);
    assert_int_equal(rt_finish(ctx), CC_OK);
    double sec = rt_event_seconds(ev);
    assert_true(sec >= 0.0 && sec < 10.0);
    clReleaseEvent(ev);

    assert_int_equal(rt_alloc(ctx, 0, &m), CC_ERR_INVALID);
    cl_mem big = NULL;
    assert_int_equal(rt_alloc(ctx, (size_t)ctx->dev.max_alloc_bytes + 1, &big), CC_ERR_NOMEM);
    assert_int_equal(rt_download(ctx, m, sizeof a, b, 4), CC_ERR_OPENCL); /* out of range */
    assert_non_null(strstr(cc_last_error(), "CL_INVALID_VALUE"));
    clReleaseMemObject(m);
    rt_ctx_free(ctx);

    /* Without profiling the event time is unavailable, reported as -1. */
    assert_int_equal(rt_ctx_create(NULL, 0, &ctx), CC_OK);
    assert_false(ctx->profiling);
    assert_int_equal(rt_alloc(ctx, 64, &m), CC_OK);
    assert_int_equal(clEnqueueWriteBuffer(ctx->queue, m, CL_TRUE, 0, 64, a, 0, NULL, &ev), CL_SUCCESS);
    assert_true(rt_event_seconds(ev) < 0.0);
    clReleaseEvent(ev);
    clReleaseMemObject(m);
    rt_ctx_free(ctx);

    setenv("CLIPCL_PROFILE", "1", 1);
    assert_int_equal(rt_ctx_create(NULL, 0, &ctx), CC_OK);
    assert_true(ctx->profiling);
    rt_ctx_free(ctx);
    unsetenv("CLIPCL_PROFILE");

    assert_int_equal(rt_ctx_create("nosuchdevice", 0, &ctx), CC_ERR_NO_DEVICE);
    assert_null(ctx);
}

static void test_cli(void **state)
{
    (void)state;
    static char out[65536];
    char cmd[1400];
    rt_device_info *l = NULL;
    int n = 0;
    assert_int_equal(rt_list_devices(&l, &n), CC_OK);

    snprintf(cmd, sizeof cmd, "env -u CLIPCL_DEVICE '%s' devices", CLIPCL_EXE);
    assert_int_equal(run_capture(cmd, 1, out, sizeof out), 0);
    assert_non_null(strstr(out, l[0].device_name));
    assert_non_null(strstr(out, "* = selected"));

    snprintf(cmd, sizeof cmd, "env -u CLIPCL_DEVICE '%s' devices --json", CLIPCL_EXE);
    assert_int_equal(run_capture(cmd, 0, out, sizeof out), 0);
    json_object *root = json_tokener_parse(out);
    assert_non_null(root);
    json_object *arr = NULL, *sel = NULL;
    assert_true(json_object_object_get_ex(root, "devices", &arr));
    assert_int_equal((int)json_object_array_length(arr), n);
    json_object *d0 = json_object_array_get_idx(arr, 0), *f = NULL;
    assert_true(json_object_object_get_ex(d0, "name", &f));
    assert_string_equal(json_object_get_string(f), l[0].device_name);
    assert_true(json_object_object_get_ex(d0, "compute_units", &f));
    assert_int_equal(json_object_get_int64(f), l[0].compute_units);
    assert_true(json_object_object_get_ex(root, "selected", &sel));
    rt_device_info s;
    unsetenv("CLIPCL_DEVICE");
    assert_int_equal(rt_select_device(NULL, &s), CC_OK);
    char pd[32];
    snprintf(pd, sizeof pd, "%d:%d", s.platform_index, s.device_index);
    assert_string_equal(json_object_get_string(sel), pd);
    json_object_put(root);

    snprintf(cmd, sizeof cmd, "CLIPCL_DEVICE=nosuchdevice '%s' devices", CLIPCL_EXE);
    assert_int_equal(run_capture(cmd, 1, out, sizeof out), 1);
    assert_non_null(strstr(out, "clipcl: no OpenCL device matches \"nosuchdevice\""));

    snprintf(cmd, sizeof cmd, "'%s' devices --device nosuchdevice", CLIPCL_EXE);
    assert_int_equal(run_capture(cmd, 1, out, sizeof out), 1);

    snprintf(cmd, sizeof cmd, "'%s' devices --device=%s --json", CLIPCL_EXE, pd);
    assert_int_equal(run_capture(cmd, 0, out, sizeof out), 0);

    snprintf(cmd, sizeof cmd, "env -u OCL_ICD_FILENAMES OCL_ICD_VENDORS=/nonexistent '%s' devices",
             CLIPCL_EXE);
    assert_int_equal(run_capture(cmd, 1, out, sizeof out), 1);
    assert_non_null(strstr(out, "clipcl: no OpenCL platform found"));
    assert_non_null(strstr(out, "pocl-opencl-icd"));

    snprintf(cmd, sizeof cmd, "'%s' nosuchcommand", CLIPCL_EXE);
    assert_int_equal(run_capture(cmd, 1, out, sizeof out), 2);
    assert_non_null(strstr(out, "unknown command"));
    assert_non_null(strstr(out, "devices"));

    snprintf(cmd, sizeof cmd, "'%s' devices --bogus", CLIPCL_EXE);
    assert_int_equal(run_capture(cmd, 1, out, sizeof out), 2);

    const char *helps[] = {"--help", "help", "help devices", "devices --help", "devices -h"};
    for (size_t i = 0; i < sizeof helps / sizeof helps[0]; i++) {
        snprintf(cmd, sizeof cmd, "'%s' %s", CLIPCL_EXE, helps[i]);
        assert_int_equal(run_capture(cmd, 0, out, sizeof out), 0);
        assert_non_null(strstr(out, "usage: clipcl"));
    }
    free(l);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--no-icd-child") == 0)
        return no_icd_child();
    ssize_t k = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
    if (k > 0)
        self_path[k] = '\0';
    else
        snprintf(self_path, sizeof self_path, "%s", argv[0]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_strings),
        cmocka_unit_test(test_no_icd_library),
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_select),
        cmocka_unit_test(test_buffers),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
