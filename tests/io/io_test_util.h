/* Scratch files for the io and eval tests: one fresh folder per test program
 * (under $CLIPCL_CACHE_DIR, else /tmp), paths inside it, and whole-file
 * writes and reads that fail the test instead of returning errors.
 * Include after <cmocka.h>. */
#ifndef CLIPCL_TESTS_IO_TEST_UTIL_H
#define CLIPCL_TESTS_IO_TEST_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "runtime/settings.h"

static inline char *iot_root(void)
{
    static char root[1024];
    return root;
}

/* Makes the folder ("<tag>-XXXXXX"); a cmocka group setup. */
static inline int iot_setup(const char *tag)
{
    const char *c = rt_setting_value(RT_SET_CACHE_DIR);
    if (c)
        mkdir(c, 0755);
    snprintf(iot_root(), 1024, "%s/%s-XXXXXX", c ? c : "/tmp", tag);
    return mkdtemp(iot_root()) ? 0 : -1;
}

static inline int iot_rm_rf(const char *path)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    return system(cmd) == 0 ? 0 : -1;
}

/* Removes the folder; a cmocka group teardown. */
static inline int iot_teardown(void **state)
{
    (void)state;
    return iot_rm_rf(iot_root());
}

/* root/name; the last four results stay valid. */
static inline const char *iot_path(const char *name)
{
    static char buf[4][2048];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", iot_root(), name);
    return buf[k];
}

static inline void iot_write(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        fail_msg("cannot create %s", path);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static inline void iot_write_text(const char *path, const char *text)
{
    iot_write(path, text, strlen(text));
}

/* The whole file, NUL-terminated (malloc'd); *n its size. */
static inline uint8_t *iot_slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)len + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    b[len] = 0;
    *n = (size_t)len;
    return b;
}

#endif
