/* The on-disk program binary cache: miss then hit across contexts, corrupt
 * entries rejected and rewritten, build errors reported with the log, and an
 * unusable cache dir never failing a run. The kernel is our own (written to a
 * temp $CLIPCL_KERNEL_DIR), so the expected values are derived by hand. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/stat.h>
#include <xxhash.h>

#include "runtime/program_cache.h"
#include "rt_test_util.h"

#define PROBE_FILE "rtt_cache_probe.cl"
/* y[i] = a * i + OFFSET; OFFSET defaults to 1 so options change results. */
static const char probe_src[] =
    "#ifndef OFFSET\n#define OFFSET 1.0f\n#endif\n"
    "__kernel void probe(__global float *y, float a) {\n"
    "    size_t i = get_global_id(0);\n"
    "    y[i] = a * (float)i + OFFSET;\n"
    "}\n";

static char *kdir;

static void check_probe(rt_ctx *ctx, const char *options, float offset)
{
    enum { N = 37 };
    float y[N];
    memset(y, 0, sizeof y);
    assert_int_equal(rtt_run_kernel(ctx, PROBE_FILE, options, "probe", 2.5f, y, N), CC_OK);
    for (int i = 0; i < N; i++)
        assert_float_equal(y[i], 2.5f * (float)i + offset, 1e-6f);
}

/* The single entry file in <cache>/programs; fails the test if not exactly one. */
static void only_entry(const char *cache, char *path, size_t len)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/programs", cache);
    DIR *d = opendir(dir);
    assert_non_null(d);
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (e->d_name[0] == '.')
            continue; /* a left-over temp file would start with '.' */
        assert_true(n == 36 && strcmp(e->d_name + 32, ".bin") == 0);
        snprintf(path, len, "%s/%s", dir, e->d_name);
        count++;
    }
    closedir(d);
    assert_int_equal(count, 1);
}

static long file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

/* Header written by hand from the documented layout, not by the cache code. */
static void assert_entry_valid(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    long size = file_size(path);
    assert_true(size > 32);
    unsigned char *buf = malloc((size_t)size);
    assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    assert_memory_equal(buf, "CLIPCLPB", 8);
    uint64_t plen = 0, sum = 0;
    for (int i = 7; i >= 0; i--) {
        plen = (plen << 8) | buf[16 + i];
        sum = (sum << 8) | buf[24 + i];
    }
    assert_int_equal(buf[8], 1); /* format version 1, little endian */
    assert_int_equal(plen, (uint64_t)size - 32);
    assert_true(XXH64(buf + 32, (size_t)plen, 0) == sum);
    free(buf);
}

static char *fresh_cache(void)
{
    char *c = rtt_mkdtemp("cache");
    assert_non_null(c);
    setenv("CLIPCL_CACHE_DIR", c, 1);
    return c;
}

static void test_miss_then_hit(void **state)
{
    (void)state;
    char *cache = fresh_cache();
    rt_ctx *ctx = NULL;
    cl_program p1 = NULL, p2 = NULL;
    assert_int_equal(rt_ctx_create(NULL, 0, &ctx), CC_OK);
    assert_int_equal(rt_program(ctx, PROBE_FILE, "", &p1), CC_OK);
    assert_int_equal(ctx->disk_cache_misses, 1);
    assert_int_equal(ctx->disk_cache_hits, 0);
    /* Second request in the same ctx: served from memory, no disk lookup. */
    assert_int_equal(rt_program(ctx, PROBE_FILE, NULL, &p2), CC_OK);
    assert_ptr_equal(p1, p2);
    assert_int_equal(ctx->disk_cache_misses + ctx->disk_cache_hits, 1);
    check_probe(ctx, "", 1.0f);
    rt_ctx_free(ctx);

    char entry[1200];
    only_entry(cache, entry, sizeof entry);
    assert_entry_valid(entry);

    assert_int_equal(rt_ctx_create(NULL, 0, &ctx), CC_OK);
    check_probe(ctx, "", 1.0f);
    assert_int_equal(ctx->disk_cache_hits, 1);
    assert_int_equal(ctx->disk_cache_misses, 0);
    assert_int_equal(ctx->disk_cache_rejected, 0);
    /* Other options are another key: a miss, and the option takes effect. */
    check_probe(ctx, "-DOFFSET=-4.0f", -4.0f);
    assert_int_equal(ctx->disk_cache_misses, 1);
    rt_ctx_free(ctx);
    rtt_rmtree(cache);
    free(cache);
}

typedef void (*corrupt_fn)(const char *path);

static void truncate_half(const char *path)
{
    assert_int_equal(truncate(path, file_size(path) / 2), 0);
}

static void flip_payload_byte(const char *path)
{
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    long at = 32 + (file_size(path) - 32) / 2;
    fseek(f, at, SEEK_SET);
    int c = fgetc(f);
    fseek(f, at, SEEK_SET);
    fputc(c ^ 0x5a, f);
    fclose(f);
}

static void bad_magic(const char *path)
{
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    fputs("NOTCLIPC", f);
    fclose(f);
}

static void empty_file(const char *path)
{
    assert_int_equal(truncate(path, 0), 0);
}

/* A header that checks out around a payload the driver cannot load: only
 * clCreateProgramWithBinary/clBuildProgram can catch it. */
static void garbage_binary_valid_header(const char *path)
{
    unsigned char buf[32 + 256];
    for (size_t i = 32; i < sizeof buf; i++)
        buf[i] = (unsigned char)(i * 37u + 11u);
    memcpy(buf, "CLIPCLPB", 8);
    uint64_t plen = 256, sum = XXH64(buf + 32, 256, 0);
    uint32_t ver = 1, hsz = 32;
    for (int i = 0; i < 4; i++) {
        buf[8 + i] = (unsigned char)(ver >> (8 * i));
        buf[12 + i] = (unsigned char)(hsz >> (8 * i));
    }
    for (int i = 0; i < 8; i++) {
        buf[16 + i] = (unsigned char)(plen >> (8 * i));
        buf[24 + i] = (unsigned char)(sum >> (8 * i));
    }
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, sizeof buf, f), sizeof buf);
    fclose(f);
}

static void test_corrupt_entries(void **state)
{
    (void)state;
    corrupt_fn how[] = {truncate_half, flip_payload_byte, bad_magic, empty_file,
                        garbage_binary_valid_header};
    char *cache = fresh_cache();
    rt_ctx *ctx = NULL;
    assert_int_equal(rt_ctx_create(NULL, 0, &ctx), CC_OK);
    check_probe(ctx, "", 1.0f);
    rt_ctx_free(ctx);
    char entry[1200];
    only_entry(cache, entry, sizeof entry);
    long good_size = file_size(entry);

    for (size_t k = 0; k < sizeof how / sizeof how[0]; k++) {
        how[k](entry);
        assert_int_equal(rt_ctx_create(NULL, 0, &ctx), CC_OK);
        check_probe(ctx, "", 1.0f);
        assert_int_equal(ctx->disk_cache_rejected, 1);
        assert_int_equal(ctx->disk_cache_hits, 0);
        rt_ctx_free(ctx);
        /* Rewritten whole and valid: the next context hits it. */
        only_entry(cache, entry, sizeof entry);
        assert_int_equal(file_size(entry), good_size);
        assert_entry_valid(entry);
        assert_int_equal(rt_ctx_create(NULL, 0, &ctx), CC_OK);
        check_probe(ctx, "", 1.0f);
        assert_int_equal(ctx->disk_cache_hits, 1);
        assert_int_equal(ctx->disk_cache_rejected, 0);
        rt_ctx_free(ctx);
    }
    rtt_rmtree(cache);
    free(cache);
}

static void test_build_error(void **state)
{
    (void)state;
    char *cache = fresh_cache();
    assert_int_equal(rtt_write_file(kdir, "rtt_broken.cl",
                                    "__kernel void broken(__global float *y) {\n"
                                    "    y[0] = undefined_thing_xyz;\n}\n"), 0);
    rt_ctx *ctx = NULL;
    cl_program p = NULL;
    assert_int_equal(rt_ctx_create(NULL, 0, &ctx), CC_OK);
    assert_int_equal(rt_program(ctx, "rtt_broken.cl", "-DFOO=1", &p), CC_ERR_BUILD);
    const char *msg = cc_last_error();
    assert_non_null(strstr(msg, "kernel rtt_broken.cl failed to build"));
    assert_non_null(strstr(msg, "-DFOO=1"));
    assert_non_null(strstr(msg, "undefined_thing_xyz")); /* from the compiler's log */
    assert_non_null(strstr(msg, "error"));
    cl_kernel k = NULL;
    assert_int_equal(rt_kernel(ctx, "rtt_broken.cl", "", "broken", &k), CC_ERR_BUILD);

    assert_int_equal(rt_program(ctx, "rtt_no_such_file.cl", "", &p), CC_ERR_IO);
    assert_non_null(strstr(cc_last_error(), "rtt_no_such_file.cl"));
    assert_int_equal(rt_kernel(ctx, PROBE_FILE, "", "no_such_kernel", &k), CC_ERR_INVALID);
    assert_non_null(strstr(cc_last_error(), "no_such_kernel"));
    rt_ctx_free(ctx);

    char programs[1100];
    snprintf(programs, sizeof programs, "%s/programs", cache);
    DIR *d = opendir(programs); /* only the probe may have been stored */
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    assert_int_equal(n, 1);
    rtt_rmtree(cache);
    free(cache);
}

static void test_unusable_cache_dir(void **state)
{
    (void)state;
    /* A regular file where the cache dir should be: mkdir fails even for root. */
    char *dir = rtt_mkdtemp("nocache");
    char path[1024];
    snprintf(path, sizeof path, "%s/not-a-dir", dir);
    assert_int_equal(rtt_write_file(dir, "not-a-dir", "x"), 0);
    setenv("CLIPCL_CACHE_DIR", path, 1);
    for (int round = 0; round < 2; round++) {
        rt_ctx *ctx = NULL;
        assert_int_equal(rt_ctx_create(NULL, 0, &ctx), CC_OK);
        check_probe(ctx, "", 1.0f);
        assert_int_equal(ctx->disk_cache_hits, 0);
        rt_ctx_free(ctx);
    }
    rtt_rmtree(dir);
    free(dir);
}

static void test_cache_dir_and_key(void **state)
{
    (void)state;
    char buf[1024];
    setenv("CLIPCL_CACHE_DIR", "/some/where", 1);
    assert_string_equal(rt_cache_dir(buf, sizeof buf), "/some/where");
    unsetenv("CLIPCL_CACHE_DIR");
    setenv("XDG_CACHE_HOME", "/xdg", 1);
    assert_string_equal(rt_cache_dir(buf, sizeof buf), "/xdg/clipcl");
    unsetenv("XDG_CACHE_HOME");
    setenv("HOME", "/home/someone", 1);
    assert_string_equal(rt_cache_dir(buf, sizeof buf), "/home/someone/.cache/clipcl");

    /* Every ingredient of the key changes it. */
    rt_device_info d;
    memset(&d, 0, sizeof d);
    strcpy(d.device_name, "dev");
    strcpy(d.driver_version, "1.0");
    strcpy(d.platform_version, "OpenCL 3.0 X");
    strcpy(d.device_version, "OpenCL 3.0");
    char base[33], other[33];
    rt_pcache_key(&d, "-DA", "src", 3, base);
    assert_int_equal(strlen(base), 32);
    rt_pcache_key(&d, "-DA", "src", 3, other);
    assert_string_equal(base, other);
    rt_pcache_key(&d, "-DB", "src", 3, other);
    assert_string_not_equal(base, other);
    rt_pcache_key(&d, "-DA", "srd", 3, other);
    assert_string_not_equal(base, other);
    rt_device_info e = d;
    strcpy(e.driver_version, "1.1");
    rt_pcache_key(&e, "-DA", "src", 3, other);
    assert_string_not_equal(base, other);
    e = d;
    strcpy(e.device_name, "dev2");
    rt_pcache_key(&e, "-DA", "src", 3, other);
    assert_string_not_equal(base, other);
    e = d;
    strcpy(e.platform_version, "OpenCL 3.0 Y");
    rt_pcache_key(&e, "-DA", "src", 3, other);
    assert_string_not_equal(base, other);
    e = d;
    strcpy(e.device_version, "OpenCL 2.0");
    rt_pcache_key(&e, "-DA", "src", 3, other);
    assert_string_not_equal(base, other);
    /* Field boundaries matter: options "-DAs" + source "rc" is another key. */
    rt_pcache_key(&d, "-DAs", "rc", 2, other);
    assert_string_not_equal(base, other);
}

int main(void)
{
    kdir = rtt_mkdtemp("kernels");
    if (!kdir || rtt_write_file(kdir, PROBE_FILE, probe_src) != 0)
        return 1;
    setenv("CLIPCL_KERNEL_DIR", kdir, 1);
    unsetenv("CLIPCL_DEVICE");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_miss_then_hit),
        cmocka_unit_test(test_corrupt_entries),
        cmocka_unit_test(test_build_error),
        cmocka_unit_test(test_unusable_cache_dir),
        cmocka_unit_test(test_cache_dir_and_key),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    rtt_rmtree(kdir);
    free(kdir);
    return rc;
}
