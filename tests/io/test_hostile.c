/* Regression tests for inputs crafted against io/'s parsers: each case is a
 * file a fuzzer (or a hand) built to break one check, with the bytes written
 * here. A zero-height BMP refused at decode and by the augmentation crop; a
 * JPEG whose DHT declares more than 256 codes; a pax record whose length is
 * near LONG_MAX; an empty first CSV field. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/dataset.h"
#include "io/image.h"
#include "io/synth.h"
#include "runtime/settings.h"
#include "runtime/status.h"
#include "tests/io/io_test_util.h"

static int setup(void **state)
{
    (void)state;
    return iot_setup("G_hostile");
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* A 24-bit BMP of w x h pixels with no pixel data: stb decodes h == 0. */
static size_t bmp(uint8_t *b, int w, int h)
{
    memset(b, 0, 64);
    b[0] = 'B';
    b[1] = 'M';
    put32(b + 2, 64);
    put32(b + 10, 54);       /* pixel data offset */
    put32(b + 14, 40);       /* BITMAPINFOHEADER */
    put32(b + 18, (uint32_t)w);
    put32(b + 22, (uint32_t)h);
    b[26] = 1;               /* planes */
    b[28] = 24;              /* bits per pixel */
    return 64;
}

static void expect_error(int rc, const char *what)
{
    assert_int_not_equal(rc, CC_OK);
    if (!strstr(cc_last_error(), what))
        fail_msg("error \"%s\" does not mention \"%s\"", cc_last_error(), what);
    assert_null(strchr(cc_last_error(), '\n'));
}

static void test_zero_dimension_image(void **state)
{
    (void)state;
    uint8_t b[64];
    img_u8 im;
    size_t n = bmp(b, 5, 0);
    expect_error(img_decode(b, n, "zero.bmp", &im), "5x0 pixels");
    assert_null(im.px);
    n = bmp(b, 0, 4);
    expect_error(img_decode(b, n, "zero.bmp", &im), "zero.bmp");
    /* through the file reader too */
    n = bmp(b, 5, 0);
    iot_write(iot_path("zero.bmp"), b, n);
    expect_error(img_load(iot_path("zero.bmp"), &im), "expected at least 1x1");
}

/* Random-resized crop of an image that somehow has a zero side: an error,
 * never a read of a row that does not exist. */
static void test_crop_refuses_empty_image(void **state)
{
    (void)state;
    uint8_t px[3] = {1, 2, 3};
    float out[3 * 8 * 8];
    ds_rrc r = {1, 0.9, 1.0, 3.0 / 4.0, 4.0 / 3.0};
    uint64_t s = 1;
    img_u8 wide = {7, 0, 3, IMG_RGB, px}, tall = {0, 7, 3, IMG_RGB, px};
    expect_error(ds_preprocess(&wide, 8, &r, &s, out), "7x0");
    expect_error(ds_preprocess(&tall, 8, &r, &s, out), "0x7");
    expect_error(ds_preprocess(&tall, 8, NULL, &s, out), "0x7");
    img_u8 ok = {1, 1, 3, IMG_RGB, px};
    assert_int_equal(ds_preprocess(&ok, 8, &r, &s, out), CC_OK);
}

static uint8_t *test_jpeg(size_t *n)
{
    char p[1100];
    const char *d = rt_setting_value(RT_SET_TEST_DATA);
    snprintf(p, sizeof p, "%s/preprocess_jpeg_96x80_in.jpg", d ? d : "tests/data");
    return iot_slurp(p, n);
}

/* The JPEG of the preprocessing tests with one more DHT segment after SOI,
 * declaring `codes` codes (lengths 15 and 16) with `have` symbol bytes. */
static uint8_t *jpeg_with_dht(size_t codes, size_t have, size_t *out_n)
{
    size_t n;
    uint8_t *src = test_jpeg(&n);
    size_t seg = 2 + 17 + have;
    uint8_t *b = calloc(n + 2 + seg, 1);
    assert_non_null(b);
    b[0] = 0xff;
    b[1] = 0xd8;
    b[2] = 0xff;
    b[3] = 0xc4;
    b[4] = (uint8_t)(seg >> 8);
    b[5] = (uint8_t)seg;
    b[6] = 0x00;                                          /* DC table 0 */
    b[6 + 15] = (uint8_t)(codes > 255 ? codes - 255 : 0); /* 15-bit codes */
    b[6 + 16] = (uint8_t)(codes > 255 ? 255 : codes);     /* 16-bit codes */
    /* symbols are zeros; then the original file after its SOI */
    memcpy(b + 4 + seg, src + 2, n - 2);
    free(src);
    *out_n = n + 2 + seg;
    return b;
}

static void test_jpeg_huffman_table_too_large(void **state)
{
    (void)state;
    img_u8 im;
    size_t n;
    uint8_t *b = test_jpeg(&n);
    assert_int_equal(img_decode(b, n, "ok.jpg", &im), CC_OK);
    assert_int_equal(im.w, 96);
    img_free(&im);
    free(b);

    /* 300 codes, and a segment that holds them all: stb would write 300
     * entries into its 257-entry size table */
    b = jpeg_with_dht(300, 300, &n);
    expect_error(img_decode(b, n, "dht.jpg", &im), "declares 300 codes, at most 256");
    free(b);
    /* 200 codes declared, 100 present */
    b = jpeg_with_dht(200, 100, &n);
    expect_error(img_decode(b, n, "dht.jpg", &im), "segment holds 100");
    free(b);
    /* exactly 256 is allowed by the check (the original tables follow) */
    b = jpeg_with_dht(256, 256, &n);
    assert_int_equal(img_decode(b, n, "dht.jpg", &im), CC_OK);
    img_free(&im);
    /* fill bytes before SOI do not route around the check */
    free(b);
    b = jpeg_with_dht(300, 300, &n);
    uint8_t *f = malloc(n + 3);
    f[0] = f[1] = f[2] = 0xff;
    memcpy(f + 3, b, n);
    expect_error(img_decode(f, n + 3, "fill.jpg", &im), "declares 300 codes");
    free(f);
    free(b);
}

/* ---- tar ---- */

static void tar_block(FILE *f, const char *name, const uint8_t size[12], char type)
{
    unsigned char h[512];
    memset(h, 0, sizeof h);
    snprintf((char *)h, 100, "%s", name);
    memcpy(h + 100, "0000644", 8);
    memcpy(h + 124, size, 12);
    h[156] = (unsigned char)type;
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < 512; i++)
        sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum);
    fwrite(h, 1, 512, f);
}

static void tar_member(FILE *f, const char *name, const char *data, char type)
{
    size_t n = strlen(data);
    char size[12];
    snprintf(size, sizeof size, "%011o", (unsigned)n);
    tar_block(f, name, (const uint8_t *)size, type);
    fwrite(data, 1, n, f);
    static const char zeros[512];
    if (n % 512)
        fwrite(zeros, 1, 512 - n % 512, f);
}

typedef struct seen {
    int n;
    char names[8][64];
    int64_t sizes[8];
} seen;

static int on_member(void *user, const ds_tar_member *m)
{
    seen *s = user;
    if (s->n < 8) {
        snprintf(s->names[s->n], sizeof s->names[0], "%s", m->path);
        s->sizes[s->n] = m->size;
    }
    s->n++;
    return 0;
}

static void test_tar_pax_length_overflow(void **state)
{
    (void)state;
    const char *p = iot_path("pax.tar");
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    /* a length near LONG_MAX after a first record: i + len overflowed the
     * record walk */
    tar_member(f, "PaxHeaders/a", "13 mtime=1.5\n9223372036854775807 path=evil.txt\n", 'x');
    tar_member(f, "a.txt", "first", '0');
    /* a length that ends inside its own digits: no key=value at all */
    tar_member(f, "PaxHeaders/b", "1 path=evil.txt\n", 'x');
    tar_member(f, "b.txt", "second", '0');
    /* a well-formed record still applies */
    tar_member(f, "PaxHeaders/c", "17 path=long.txt\n", 'x');
    tar_member(f, "c.txt", "third", '0');
    static const char zeros[1024];
    fwrite(zeros, 1, sizeof zeros, f);
    fclose(f);
    seen s = {0};
    int64_t bad = 0;
    assert_int_equal(ds_tar_scan(p, on_member, &s, NULL, NULL, &bad), CC_OK);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.names[0], "a.txt");
    assert_string_equal(s.names[1], "b.txt");
    assert_string_equal(s.names[2], "long.txt");
    assert_int_equal(s.sizes[2], 5);
    assert_int_equal(bad, 0);
}

/* A GNU base-256 size of 2^63 - 1: data + size overflowed int64. */
static void test_tar_member_size_overflow(void **state)
{
    (void)state;
    const char *p = iot_path("huge.tar");
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    uint8_t size[12] = {0x80, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    tar_block(f, "huge.jpg", size, '0');
    static const char zeros[1024];
    fwrite(zeros, 1, sizeof zeros, f);
    fclose(f);
    seen s = {0};
    int64_t bad = 0;
    assert_int_equal(ds_tar_scan(p, on_member, &s, NULL, NULL, &bad), CC_OK);
    assert_int_equal(s.n, 0);
    assert_int_equal(bad, 1);
}

/* ---- CSV ---- */

/* The header's first field is empty, before the scratch buffer exists:
 * memcpy(d, NULL, 0) (undefined behaviour; UBSan's nonnull check). */
static void test_csv_empty_first_field(void **state)
{
    (void)state;
    iot_write_text(iot_path("empty.csv"), ",filepath,title\n,a.png,\n,b.png,cap\n");
    ds_dataset *ds;
    if (ds_open_csv(&ds, iot_path("empty.csv"), NULL) != CC_OK)
        fail_msg("%s", cc_last_error());
    assert_int_equal(ds_count(ds), 2);
    assert_string_equal(ds_caption(ds, 0), "");
    assert_string_equal(ds_caption(ds, 1), "cap");
    assert_string_equal(ds_name(ds, 1), iot_path("b.png"));
    ds_close(ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zero_dimension_image),
        cmocka_unit_test(test_crop_refuses_empty_image),
        cmocka_unit_test(test_jpeg_huffman_table_too_large),
        cmocka_unit_test(test_tar_pax_length_overflow),
        cmocka_unit_test(test_tar_member_size_overflow),
        cmocka_unit_test(test_csv_empty_first_field),
    };
    return cmocka_run_group_tests(tests, setup, iot_teardown);
}
