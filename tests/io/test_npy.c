/* .npy: round trips, files written by numpy (tests/reference/make_preprocess_goldens.py),
 * and the errors for what the reader refuses. */
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

#include "io/npy.h"
#include "runtime/status.h"
#include "tests/io/io_test_util.h"
#include "runtime/settings.h"

static int setup(void **state)
{
    (void)state;
    return iot_setup("G_npy");
}

static const char *data(const char *name)
{
    static char buf[1024];
    const char *d = rt_setting_value(RT_SET_TEST_DATA);
    snprintf(buf, sizeof buf, "%s/%s", d ? d : "tests/data", name);
    return buf;
}

static void test_numpy_written(void **state)
{
    (void)state;
    npy_array a;
    if (npy_read_f32(data("npy_numpy_f32_2x3x4.npy"), &a) != CC_OK)
        fail_msg("%s", cc_last_error());
    assert_int_equal(a.ndim, 3);
    assert_int_equal(a.shape[0], 2);
    assert_int_equal(a.shape[1], 3);
    assert_int_equal(a.shape[2], 4);
    const float *f = a.data;
    for (int i = 0; i < 24; i++) /* np.arange(24) * 0.5 - 3.25, exact in binary */
        assert_true(f[i] == (float)i * 0.5f - 3.25f);
    npy_free(&a);

    assert_int_equal(npy_read_f32(data("npy_numpy_f32_v2.npy"), &a), CC_OK);
    assert_int_equal(a.ndim, 1);
    assert_int_equal(a.shape[0], 3);
    f = a.data;
    assert_true(f[0] == 1.5f && f[1] == -2.0f && f[2] == 1e-8f);
    npy_free(&a);

    assert_int_equal(npy_read_f32(data("npy_numpy_f32_scalar.npy"), &a), CC_OK);
    assert_int_equal(a.ndim, 0);
    assert_int_equal(a.numel, 1);
    assert_true(((float *)a.data)[0] == 7.25f);
    npy_free(&a);
}

static void expect_error(const char *path, const char *must_contain)
{
    npy_array a;
    cc_clear_error();
    int rc = npy_read_f32(path, &a);
    printf("  %s\n", cc_last_error());
    assert_int_not_equal(rc, CC_OK);
    assert_null(a.data);
    assert_non_null(strstr(cc_last_error(), path));
    assert_non_null(strstr(cc_last_error(), must_contain));
}

static void test_refused(void **state)
{
    (void)state;
    expect_error(data("npy_numpy_f64.npy"), "'<f8'");
    expect_error(data("npy_numpy_f32_fortran.npy"), "fortran_order");
    expect_error(iot_path("missing.npy"), "cannot open");
    expect_error(iot_root(), "is a directory");

    /* truncated copy of a numpy file */
    const char *p = iot_path("trunc.npy");
    FILE *src = fopen(data("npy_numpy_f32_2x3x4.npy"), "rb");
    assert_non_null(src);
    unsigned char buf[512];
    size_t n = fread(buf, 1, sizeof buf, src);
    fclose(src);
    FILE *o = fopen(p, "wb");
    assert_int_equal(fwrite(buf, 1, n - 5, o), n - 5);
    fclose(o);
    expect_error(p, "truncated");

    o = fopen(p, "wb");
    fputs("not an npy file at all", o);
    fclose(o);
    expect_error(p, "not a .npy file");
    unlink(p);
}

static void test_round_trip(void **state)
{
    (void)state;
    const char *p = iot_path("rt.npy");
    float v[2 * 5 * 3];
    for (int i = 0; i < 30; i++)
        v[i] = (float)i / 7.0f - 1.0f;
    int64_t shape[3] = {2, 5, 3};
    if (npy_write_f32(p, v, shape, 3) != CC_OK)
        fail_msg("%s", cc_last_error());
    /* header padded to a multiple of 64 bytes, as numpy does */
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal((st.st_size - 30 * 4) % 64, 0);
    npy_array a;
    assert_int_equal(npy_read_f32(p, &a), CC_OK);
    assert_int_equal(a.ndim, 3);
    assert_int_equal(a.shape[1], 5);
    assert_memory_equal(a.data, v, sizeof v);
    npy_free(&a);

    int32_t iv[4] = {-7, 0, 123456, INT32_MAX};
    int64_t s1[1] = {4};
    assert_int_equal(npy_write_i32(p, iv, s1, 1), CC_OK);
    assert_int_equal(npy_read(p, NPY_I32, &a), CC_OK);
    assert_memory_equal(a.data, iv, sizeof iv);
    npy_free(&a);
    /* reading an int32 file as float32 is refused by dtype */
    expect_error(p, "'<i4'");

    /* no temporary file is left next to the destination */
    char tmpl[1100];
    snprintf(tmpl, sizeof tmpl, "%s.tmp.", p);
    const char *dir_end = strrchr(p, '/');
    char dir[1024];
    snprintf(dir, sizeof dir, "%.*s", (int)(dir_end - p), p);
    char cmd[2400];
    snprintf(cmd, sizeof cmd, "ls '%s' | grep -q '%s'", dir, strrchr(tmpl, '/') + 1);
    assert_int_not_equal(system(cmd), 0);
    unlink(p);
}

static void test_numpy_reads_ours(void **state)
{
    (void)state;
    if (access("/usr/bin/python3", X_OK) != 0)
        skip();
    const char *p = iot_path("for_numpy.npy");
    float v[6] = {0.5f, -1.25f, 3.0f, 1e-3f, 0.0f, 42.0f};
    int64_t shape[2] = {3, 2};
    assert_int_equal(npy_write_f32(p, v, shape, 2), CC_OK);
    char cmd[1400];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"import numpy as np,sys; a=np.load('%s'); "
             "sys.exit(0 if a.shape==(3,2) and a.dtype==np.float32 and "
             "a.tolist()==[[0.5,-1.25],[3.0,np.float32(1e-3).item()],[0.0,42.0]] else 1)\" "
             "2>/dev/null", p);
    int rc = system(cmd);
    if (rc != 0 && system("/usr/bin/python3 -c 'import numpy' 2>/dev/null") != 0) {
        unlink(p);
        skip(); /* numpy not installed */
    }
    assert_int_equal(rc, 0);
    unlink(p);
}

int main(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(test_numpy_written),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_numpy_reads_ours),
    };
    return cmocka_run_group_tests(t, setup, iot_teardown);
}
