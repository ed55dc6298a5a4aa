/* The size limits on untrusted files (docs/io.md lists them): each is hit
 * by a crafted file and refused with one line naming the limit, before the
 * memory it asks for is allocated. Files past a byte limit are sparse, so
 * the test writes a few KB whatever the limit. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "io/dataset.h"
#include "io/image.h"
#include "io/npy.h"
#include "io/safetensors.h"
#include "io/synth.h"
#include "io/tokenizer.h"
#include "runtime/status.h"
#include "tests/io/io_test_util.h"

static int setup(void **state)
{
    (void)state;
    return iot_setup("G_limits");
}

static void expect_error(int rc, const char *what)
{
    assert_int_not_equal(rc, CC_OK);
    if (!strstr(cc_last_error(), what))
        fail_msg("error \"%s\" does not mention \"%s\"", cc_last_error(), what);
    assert_null(strchr(cc_last_error(), '\n'));
}

/* A file of `size` bytes starting with `head`, the rest a hole. */
static void sparse(const char *path, const void *head, size_t n, long long size)
{
    iot_write(path, head, n);
    assert_int_equal(truncate(path, (off_t)size), 0);
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void test_safetensors_limits(void **state)
{
    (void)state;
    const char *p = iot_path("big.safetensors");
    /* a header length above the limit: refused from the 8-byte field alone */
    uint8_t b[16] = {0};
    uint64_t hlen = 100ull * 1024 * 1024 + 1;
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(hlen >> (8 * i));
    memcpy(b + 8, "{}      ", 8);
    iot_write(p, b, 16);
    st_file *f;
    expect_error(st_open(p, &f), "header length 104857601 exceeds the limit, at most 104857600");

    /* 65,537 empty tensors */
    size_t cap = 65537 * 64 + 64, n = 0;
    char *json = malloc(cap);
    assert_non_null(json);
    json[n++] = '{';
    for (int i = 0; i < 65537; i++)
        n += (size_t)snprintf(json + n, cap - n, "%s\"t%d\":{\"dtype\":\"F32\",\"shape\":[0],"
                              "\"data_offsets\":[0,0]}", i ? "," : "", i);
    json[n++] = '}';
    FILE *fp = fopen(p, "wb");
    assert_non_null(fp);
    for (int i = 0; i < 8; i++)
        fputc((int)((uint64_t)n >> (8 * i)) & 0xff, fp);
    fwrite(json, 1, n, fp);
    fclose(fp);
    expect_error(st_open(p, &f), "65537 tensors, at most 65536 allowed");
    free(json);
    unlink(p);
}

/* A BMP header of w x h with no pixels: stb reports its size without decoding. */
static void test_image_limits(void **state)
{
    (void)state;
    uint8_t b[64] = {'B', 'M'};
    put32(b + 2, 64);
    put32(b + 10, 54);
    put32(b + 14, 40);
    put32(b + 18, 13380);
    put32(b + 22, 13380); /* 179,024,400 pixels */
    b[26] = 1;
    b[28] = 24;
    img_u8 im;
    expect_error(img_decode(b, sizeof b, "bomb.bmp", &im),
                 "13380x13380 pixels, at most 178956970 allowed");
    assert_null(im.px);
    /* a file above IMG_MAX_FILE_BYTES is refused before it is read */
    const char *p = iot_path("huge.bmp");
    sparse(p, b, sizeof b, IMG_MAX_FILE_BYTES + 1);
    expect_error(img_load(p, &im), "image file of 1073741825 bytes, at most 1073741824");
    unlink(p);
}

/* ---- tar ---- */

static void tar_header(FILE *f, const char *name, long long size)
{
    unsigned char h[512];
    memset(h, 0, sizeof h);
    snprintf((char *)h, 100, "%s", name);
    memcpy(h + 100, "0000644", 8);
    snprintf((char *)h + 124, 12, "%011llo", size);
    h[156] = '0';
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < 512; i++)
        sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum);
    fwrite(h, 1, 512, f);
}

static void tar_add(FILE *f, const char *name, const void *data, size_t n)
{
    tar_header(f, name, (long long)n);
    fwrite(data, 1, n, f);
    static const char zeros[512];
    if (n % 512)
        fwrite(zeros, 1, 512 - n % 512, f);
}

typedef struct warnings {
    int n;
    char all[4096];
} warnings;

static void collect(void *user, const char *msg)
{
    warnings *w = user;
    w->n++;
    size_t l = strlen(w->all);
    snprintf(w->all + l, sizeof w->all - l, "%s\n", msg);
}

static void test_tar_limits(void **state)
{
    (void)state;
    synth_attrs a;
    synth_sample(5, SYNTH_TRAIN, 0, &a);
    img_u8 im;
    assert_int_equal(synth_render(&a, 16, &im), CC_OK);
    const char *png = iot_path("s.png");
    assert_int_equal(synth_write_png(png, &im), CC_OK);
    img_free(&im);
    size_t pn;
    uint8_t *pb = iot_slurp(png, &pn);

    const char *p = iot_path("limits.tar");
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    tar_add(f, "ok.png", pb, pn);
    tar_add(f, "ok.txt", "a caption", 9);
    /* a caption one byte over the limit */
    char *cap = malloc(DS_MAX_CAPTION_BYTES + 1);
    memset(cap, 'x', DS_MAX_CAPTION_BYTES + 1);
    tar_add(f, "long.png", pb, pn);
    tar_add(f, "long.txt", cap, DS_MAX_CAPTION_BYTES + 1);
    free(cap);
    tar_add(f, "huge.txt", "caption of a huge image", 23);
    /* an image member one byte over the limit, its data a hole at the end */
    tar_header(f, "huge.png", IMG_MAX_FILE_BYTES + 1);
    long pos = ftell(f);
    fclose(f);
    long long end = pos + IMG_MAX_FILE_BYTES + 1;
    end = (end + 511) / 512 * 512 + 1024;
    assert_int_equal(truncate(p, (off_t)end), 0);
    free(pb);

    warnings w = {0};
    ds_open_opts o = {.warn = collect, .warn_user = &w};
    ds_dataset *ds;
    const char *shards[] = {p};
    if (ds_open_tar(&ds, shards, 1, &o) != CC_OK)
        fail_msg("%s", cc_last_error());
    assert_int_equal(ds_count(ds), 1);
    assert_string_equal(ds_caption(ds, 0), "a caption");
    if (!strstr(w.all, "long.txt of 1048577 bytes, at most 1048576 allowed") ||
        !strstr(w.all, "huge.png of 1073741825 bytes, at most 1073741824 allowed"))
        fail_msg("warnings:\n%s", w.all);
    ds_close(ds);
    unlink(p);
}

static void test_csv_caption_limit(void **state)
{
    (void)state;
    size_t n = DS_MAX_CAPTION_BYTES + 64;
    char *csv = malloc(n + 64);
    int k = snprintf(csv, n + 64, "filepath,title\na.png,short\nb.png,");
    memset(csv + k, 'y', DS_MAX_CAPTION_BYTES + 1);
    strcpy(csv + k + DS_MAX_CAPTION_BYTES + 1, "\n");
    iot_write_text(iot_path("long.csv"), csv);
    free(csv);
    warnings w = {0};
    ds_open_opts o = {.warn = collect, .warn_user = &w};
    ds_dataset *ds;
    if (ds_open_csv(&ds, iot_path("long.csv"), &o) != CC_OK)
        fail_msg("%s", cc_last_error());
    assert_int_equal(ds_count(ds), 1);
    assert_int_equal(w.n, 1);
    if (!strstr(w.all, "long.csv:3: caption of 1048577 bytes, at most 1048576 allowed"))
        fail_msg("warnings:\n%s", w.all);
    ds_close(ds);
}

static void test_npy_limits(void **state)
{
    (void)state;
    const char *p = iot_path("big.npy");
    /* a version-2 header length of 10,001 bytes */
    uint8_t b[12] = {0x93, 'N', 'U', 'M', 'P', 'Y', 2, 0, 0x11, 0x27, 0, 0};
    sparse(p, b, sizeof b, 12 + 10001);
    npy_array a;
    expect_error(npy_read(p, NPY_F32, &a), ".npy header of 10001 bytes, at most 10000 allowed");
    /* within the limit, a header of NUL bytes: the byte is named, the line not cut */
    b[8] = 0x10;
    b[9] = 0x27;
    sparse(p, b, sizeof b, 12 + 10000);
    expect_error(npy_read(p, NPY_F32, &a), "expected '{', found byte 0x00");
    /* a file above NPY_MAX_BYTES is refused before it is read */
    sparse(p, b, sizeof b, NPY_MAX_BYTES + 1);
    expect_error(npy_read(p, NPY_F32, &a), "at most 8589934592 allowed");
    unlink(p);
}

static void test_tokenizer_limits(void **state)
{
    (void)state;
    /* a gzip bomb: 64 KB that unpacks past TOK_MAX_FILE_BYTES */
    const char *p = iot_path("bomb.txt.gz");
    gzFile g = gzopen(p, "wb9");
    assert_non_null(g);
    static char zeros[1 << 16];
    memset(zeros, 'a', sizeof zeros);
    for (int i = 0; i <= TOK_MAX_FILE_BYTES / (int)sizeof zeros; i++)
        assert_int_equal(gzwrite(g, zeros, sizeof zeros), (int)sizeof zeros);
    gzclose(g);
    tok_tokenizer *t;
    expect_error(tok_load_openai(p, &t), "at most 67108864 allowed");
    /* a vocab.json past the limit is not parsed */
    const char *v = iot_path("vocab.json");
    sparse(v, "{", 1, (long long)TOK_MAX_FILE_BYTES + 1);
    iot_write_text(iot_path("merges.txt"), "#version: 0.2\n");
    expect_error(tok_load_hf(v, iot_path("merges.txt"), &t), "is 67108865 bytes, at most 67108864");
    unlink(p);
    unlink(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_safetensors_limits),
        cmocka_unit_test(test_image_limits),
        cmocka_unit_test(test_tar_limits),
        cmocka_unit_test(test_csv_caption_limit),
        cmocka_unit_test(test_npy_limits),
        cmocka_unit_test(test_tokenizer_limits),
    };
    return cmocka_run_group_tests(tests, setup, iot_teardown);
}
