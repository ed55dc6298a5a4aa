/* The decoders Pillow uses, against open_clip's own transform
 * (tests/reference/make_decoder_goldens.py): every file in
 * tests/data/decode is decoded, resized and centre-cropped to 64 px and
 * converted to RGB, and compared with open_clip's image_transform output
 * (mean 0, std 1, times 255). JPEGs must be within 1/255 everywhere (the
 * target: stb_image's IDCT missed it by up to 3/255); WebP, TIFF and
 * 16-bit PNG decode exactly as Pillow does, so they must match bit for
 * bit. Also: formats clipcl does not read are named as unsupported. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/image.h"
#include "io/npy.h"
#include "runtime/settings.h"
#include "runtime/status.h"

#define S 64

static const char *data_dir(void)
{
    const char *d = rt_setting_value(RT_SET_TEST_DATA);
    return d ? d : "tests/data";
}

/* Decodes data/decode/<file>, compares with <stem>_S64.npy; returns the
 * largest difference in 1/255 steps and the share within 1/255. */
static int check_file(const char *file, img_mode want_mode, double *within1)
{
    char in[1024], golden[1024];
    snprintf(in, sizeof in, "%s/decode/%s", data_dir(), file);
    snprintf(golden, sizeof golden, "%s/decode/%.*s_S%d.npy", data_dir(),
             (int)(strrchr(file, '.') - file), file, S);
    img_u8 im, rgb;
    npy_array g;
    if (img_load(in, &im) != CC_OK)
        fail_msg("%s", cc_last_error());
    assert_int_equal(im.mode, want_mode);
    if (img_clip_resize_crop(&im, S, &rgb) != CC_OK)
        fail_msg("%s", cc_last_error());
    if (npy_read(golden, NPY_U8, &g) != CC_OK)
        fail_msg("%s", cc_last_error());
    assert_int_equal(g.numel, S * S * 3);
    const uint8_t *w = g.data;
    int maxd = 0;
    size_t ok = 0;
    for (size_t i = 0; i < (size_t)g.numel; i++) {
        int d = abs((int)rgb.px[i] - (int)w[i]);
        maxd = d > maxd ? d : maxd;
        ok += d <= 1;
    }
    *within1 = (double)ok / (double)g.numel;
    printf("  %-28s %4dx%-4d mode %d: max |diff| %d/255, within 1/255 %.3f%%\n", file, im.w, im.h,
           (int)im.mode, maxd, 100.0 * *within1);
    npy_free(&g);
    img_free(&rgb);
    img_free(&im);
    return maxd;
}

static void jpeg(const char *file, img_mode mode)
{
    double within1;
    int maxd = check_file(file, mode, &within1);
    assert_true(maxd <= 1);
    assert_true(within1 == 1.0);
}

static void exact(const char *file, img_mode mode)
{
    double within1;
    assert_int_equal(check_file(file, mode, &within1), 0);
}

static void test_jpeg_baseline_420(void **s) { (void)s; jpeg("jpeg_baseline_420.jpg", IMG_RGB); }
static void test_jpeg_baseline_444(void **s) { (void)s; jpeg("jpeg_baseline_444.jpg", IMG_RGB); }
static void test_jpeg_baseline_422(void **s) { (void)s; jpeg("jpeg_baseline_422.jpg", IMG_RGB); }
static void test_jpeg_progressive_420(void **s) { (void)s; jpeg("jpeg_progressive_420.jpg", IMG_RGB); }
static void test_jpeg_progressive_444(void **s) { (void)s; jpeg("jpeg_progressive_444.jpg", IMG_RGB); }
static void test_jpeg_odd_size(void **s) { (void)s; jpeg("jpeg_odd_420_q40.jpg", IMG_RGB); }
static void test_jpeg_optimized(void **s) { (void)s; jpeg("jpeg_optimized_q60.jpg", IMG_RGB); }
static void test_jpeg_grey(void **s) { (void)s; jpeg("jpeg_grey.jpg", IMG_L); }
static void test_jpeg_grey_progressive(void **s) { (void)s; jpeg("jpeg_grey_progressive.jpg", IMG_L); }
static void test_jpeg_cmyk(void **s) { (void)s; jpeg("jpeg_cmyk.jpg", IMG_CMYK); }
static void test_jpeg_cmyk_progressive(void **s) { (void)s; jpeg("jpeg_cmyk_progressive.jpg", IMG_CMYK); }
static void test_webp_animated(void **s) { (void)s; exact("webp_animated.webp", IMG_RGB); }
static void test_tiff_palette(void **s) { (void)s; exact("tiff_palette_lzw.tif", IMG_P); }
static void test_tiff_bilevel(void **s) { (void)s; exact("tiff_bilevel_g4.tif", IMG_P); }
static void test_tiff_jpeg(void **s) { (void)s; exact("tiff_jpeg.tif", IMG_RGB); }
static void test_tiff_cmyk(void **s) { (void)s; exact("tiff_cmyk_lzw.tif", IMG_CMYK); }
static void test_tiff_grey_alpha(void **s) { (void)s; exact("tiff_grey_alpha.tif", IMG_LA); }
static void test_webp_lossy(void **s) { (void)s; exact("webp_lossy.webp", IMG_RGB); }
static void test_webp_lossless(void **s) { (void)s; exact("webp_lossless.webp", IMG_RGB); }
static void test_webp_alpha(void **s) { (void)s; exact("webp_alpha.webp", IMG_RGBA); }
static void test_tiff_raw(void **s) { (void)s; exact("tiff_rgb_raw.tif", IMG_RGB); }
static void test_tiff_lzw(void **s) { (void)s; exact("tiff_rgb_lzw.tif", IMG_RGB); }
static void test_tiff_grey(void **s) { (void)s; exact("tiff_grey_deflate.tif", IMG_L); }
static void test_tiff_rgba(void **s) { (void)s; exact("tiff_rgba_lzw.tif", IMG_RGBA); }
static void test_tiff_first_page(void **s) { (void)s; exact("tiff_two_pages.tif", IMG_RGB); }
static void test_png16_rgb(void **s) { (void)s; exact("png16_rgb.png", IMG_RGB); }
static void test_png16_rgba(void **s) { (void)s; exact("png16_rgba.png", IMG_RGBA); }
static void test_png16_grey(void **s) { (void)s; exact("png16_grey.png", IMG_I32); }

static void expect_decode_error(const void *bytes, size_t n, const char *want)
{
    img_u8 im;
    int rc = img_decode(bytes, n, "probe", &im);
    assert_int_not_equal(rc, CC_OK);
    const char *msg = cc_last_error();
    if (!strstr(msg, want))
        fail_msg("expected \"%s\" in: %s", want, msg);
    assert_null(strstr(msg, "corrupt"));
}

/* Each named format is an unsupported one, never "corrupt". */
static void test_unsupported_formats(void **state)
{
    (void)state;
    static const uint8_t jp2[] = "\0\0\0\x0cjP  \r\n\x87\n\0\0\0\x14" "ftypjp2 ";
    static const uint8_t heic[] = "\0\0\0\x18" "ftypheic\0\0\0\0mif1heic";
    static const uint8_t avif[] = "\0\0\0\x1c" "ftypavif\0\0\0\0avifmif1miaf";
    static const uint8_t jxl[] = "\xff\x0a\xfa\x7f\x01\x90\x08";
    static const uint8_t ico[] = "\0\0\1\0\1\0\x10\x10\0\0\1\0\x20\0";
    static const uint8_t text[] = "just some words, no image at all";
    expect_decode_error(jp2, sizeof jp2 - 1, "unsupported image format (JPEG 2000)");
    expect_decode_error(heic, sizeof heic - 1, "unsupported image format (HEIF/HEIC)");
    expect_decode_error(avif, sizeof avif - 1, "unsupported image format (AVIF)");
    expect_decode_error(jxl, sizeof jxl - 1, "unsupported image format (JPEG XL)");
    expect_decode_error(ico, sizeof ico - 1, "unsupported image format (ICO/CUR)");
    expect_decode_error(text, sizeof text - 1, "unsupported image format");
}

/* A damaged WebP or TIFF is corrupt (not unsupported), and says so. */
static void test_broken_webp_tiff(void **state)
{
    (void)state;
    static const char *const files[] = {"webp_lossy.webp", "tiff_rgb_lzw.tif"};
    for (int f = 0; f < 2; f++) {
        char in[1024];
        snprintf(in, sizeof in, "%s/decode/%s", data_dir(), files[f]);
        FILE *fp = fopen(in, "rb");
        assert_non_null(fp);
        uint8_t buf[1 << 16];
        size_t n = fread(buf, 1, sizeof buf, fp);
        fclose(fp);
        img_u8 im;
        /* the first 40 bytes: headers start, everything else is missing */
        assert_int_not_equal(img_decode(buf, 40, files[f], &im), CC_OK);
        const char *msg = cc_last_error();
        if (!strstr(msg, files[f]) || (!strstr(msg, "corrupt") && !strstr(msg, "truncated") &&
                                       !strstr(msg, "cannot decode")))
            fail_msg("unexpected message: %s", msg);
        assert_true(n > 40);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jpeg_baseline_420),
        cmocka_unit_test(test_jpeg_baseline_444),
        cmocka_unit_test(test_jpeg_baseline_422),
        cmocka_unit_test(test_jpeg_progressive_420),
        cmocka_unit_test(test_jpeg_progressive_444),
        cmocka_unit_test(test_jpeg_odd_size),
        cmocka_unit_test(test_jpeg_optimized),
        cmocka_unit_test(test_jpeg_grey),
        cmocka_unit_test(test_jpeg_grey_progressive),
        cmocka_unit_test(test_jpeg_cmyk),
        cmocka_unit_test(test_jpeg_cmyk_progressive),
        cmocka_unit_test(test_webp_lossy),
        cmocka_unit_test(test_webp_animated),
        cmocka_unit_test(test_tiff_palette),
        cmocka_unit_test(test_tiff_bilevel),
        cmocka_unit_test(test_tiff_jpeg),
        cmocka_unit_test(test_tiff_cmyk),
        cmocka_unit_test(test_tiff_grey_alpha),
        cmocka_unit_test(test_webp_lossless),
        cmocka_unit_test(test_webp_alpha),
        cmocka_unit_test(test_tiff_raw),
        cmocka_unit_test(test_tiff_lzw),
        cmocka_unit_test(test_tiff_grey),
        cmocka_unit_test(test_tiff_rgba),
        cmocka_unit_test(test_tiff_first_page),
        cmocka_unit_test(test_png16_rgb),
        cmocka_unit_test(test_png16_rgba),
        cmocka_unit_test(test_png16_grey),
        cmocka_unit_test(test_unsupported_formats),
        cmocka_unit_test(test_broken_webp_tiff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
