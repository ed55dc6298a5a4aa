/* CLIP preprocessing against Pillow/torchvision goldens
 * (tests/reference/make_preprocess_goldens.py), plus decoder error cases. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/image.h"
#include "io/npy.h"
#include "runtime/status.h"
#include "runtime/settings.h"

static const char *data_dir(void)
{
    const char *d = rt_setting_value(RT_SET_TEST_DATA);
    return d ? d : "tests/data";
}

typedef struct cmp_stats {
    int max_diff;
    double frac_within1;
    size_t n;
} cmp_stats;

static cmp_stats compare_u8(const img_u8 *got, const npy_array *want)
{
    cmp_stats s = {0, 0.0, (size_t)want->numel};
    const uint8_t *w = want->data;
    size_t ok = 0;
    for (size_t i = 0; i < s.n; i++) {
        int d = abs((int)got->px[i] - (int)w[i]);
        if (d > s.max_diff)
            s.max_diff = d;
        ok += d <= 1;
    }
    s.frac_within1 = s.n ? (double)ok / (double)s.n : 1.0;
    return s;
}

/* Preprocesses image `in` to size S and compares with golden `golden`.
 * exact: require bit equality (lossless input, Pillow-exact resampler);
 * otherwise the task's bar: >= 99% of values within 1/255. */
static void check_case(const char *in, const char *golden, int size, int exact)
{
    char ip[1024], gp[1024];
    snprintf(ip, sizeof ip, "%s", in);
    snprintf(gp, sizeof gp, "%s", golden);
    img_u8 im, rgb;
    npy_array g;
    int rc = img_load(ip, &im);
    if (rc != CC_OK)
        fail_msg("%s", cc_last_error());
    rc = img_clip_resize_crop(&im, size, &rgb);
    if (rc != CC_OK)
        fail_msg("%s", cc_last_error());
    rc = npy_read(gp, NPY_U8, &g);
    if (rc != CC_OK)
        fail_msg("%s", cc_last_error());
    assert_int_equal(g.ndim, 3);
    assert_int_equal(g.shape[0], size);
    assert_int_equal(g.shape[1], size);
    assert_int_equal(g.shape[2], 3);
    assert_int_equal(rgb.w, size);
    assert_int_equal(rgb.h, size);
    cmp_stats s = compare_u8(&rgb, &g);
    const char *base = strrchr(in, '/');
    printf("  %-40s %dx%d mode %d -> S=%d: max |diff| %d/255, within 1/255: %.4f%% of %zu\n",
           base ? base + 1 : in, im.w, im.h, (int)im.mode, size, s.max_diff,
           100.0 * s.frac_within1, s.n);
    if (exact)
        assert_int_equal(s.max_diff, 0);
    assert_true(s.frac_within1 >= 0.99);
    npy_free(&g);
    img_free(&rgb);
    img_free(&im);
}

static void synth(const char *name, const char *ext, int size, int exact)
{
    char in[1024], golden[1024];
    snprintf(in, sizeof in, "%s/preprocess_%s_in.%s", data_dir(), name, ext);
    snprintf(golden, sizeof golden, "%s/preprocess_%s_S%d.npy", data_dir(), name, size);
    check_case(in, golden, size, exact);
}

static void test_rgb_downscale(void **s) { (void)s; synth("rgb_200x150", "png", 64, 1); }
static void test_rgb_downscale_224(void **s) { (void)s; synth("rgb_200x150", "png", 224, 1); }
static void test_rgb_upscale(void **s) { (void)s; synth("rgb_17x23", "png", 64, 1); }
static void test_rgb_thin_tall(void **s) { (void)s; synth("rgb_3x500", "png", 64, 1); }
static void test_rgb_thin_wide(void **s) { (void)s; synth("rgb_500x3", "png", 64, 1); }
static void test_rgb_1x1(void **s) { (void)s; synth("rgb_1x1", "png", 64, 1); }
/* short side already 64: only the vertical crop, no resampling at all */
static void test_rgb_no_resize(void **s) { (void)s; synth("rgb_64x97", "png", 64, 1); }
static void test_grey(void **s) { (void)s; synth("grey_37x53", "png", 64, 1); }
static void test_grey_alpha(void **s) { (void)s; synth("la_50x40", "png", 64, 1); }
static void test_rgba(void **s) { (void)s; synth("rgba_90x70", "png", 64, 1); }
static void test_palette(void **s) { (void)s; synth("palette_80x120", "png", 64, 1); }
static void test_bilevel(void **s) { (void)s; synth("bw_41x30", "png", 64, 1); }
/* stb's JPEG decoder is not libjpeg-turbo: the bar is the 1/255 rule */
static void test_jpeg(void **s) { (void)s; synth("jpeg_96x80", "jpg", 64, 0); }

static void test_normalize(void **state)
{
    (void)state;
    char in[1024], golden[1024];
    snprintf(in, sizeof in, "%s/preprocess_rgb_200x150_in.png", data_dir());
    snprintf(golden, sizeof golden, "%s/preprocess_rgb_200x150_S64_norm.npy", data_dir());
    float *out = malloc(3 * 64 * 64 * sizeof(float));
    assert_non_null(out);
    if (img_clip_preprocess_file(in, 64, out) != CC_OK)
        fail_msg("%s", cc_last_error());
    npy_array g;
    if (npy_read_f32(golden, &g) != CC_OK)
        fail_msg("%s", cc_last_error());
    assert_int_equal(g.numel, 3 * 64 * 64);
    assert_int_equal(g.shape[0], 3);
    const float *w = g.data;
    double md = 0;
    for (int i = 0; i < 3 * 64 * 64; i++)
        md = fmax(md, fabs((double)out[i] - (double)w[i]));
    printf("  normalised CHW vs torchvision: max |diff| %.3g\n", md);
    assert_true(md <= 1e-6);
    /* hand check of one value: pixel value v in channel 0 maps to (v/255-m)/s */
    img_u8 im, rgb;
    assert_int_equal(img_load(in, &im), CC_OK);
    assert_int_equal(img_clip_resize_crop(&im, 64, &rgb), CC_OK);
    double v = rgb.px[0] / 255.0;
    assert_true(fabs(out[0] - (v - 0.48145466) / 0.26862954) < 1e-5);
    img_free(&im);
    img_free(&rgb);
    npy_free(&g);
    free(out);
}

static void test_photos(void **state)
{
    (void)state;
    /* photos live in the optional data directory, not in the repository */
    const char *shared = rt_setting_value(RT_SET_SHARED_DIR);
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/data/images", shared ? shared : "");
    DIR *d = shared && *shared ? opendir(dir) : NULL;
    if (!d) {
        printf("  photos: %s absent, skipping the photo goldens\n", dir);
        skip();
    }
    int checked = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char stem[256], in[2048], golden[2048];
        snprintf(stem, sizeof stem, "%s", e->d_name);
        char *dot = strrchr(stem, '.');
        if (dot)
            *dot = '\0';
        int is_jpeg = dot && (strcmp(dot + 1, "jpg") == 0 || strcmp(dot + 1, "jpeg") == 0);
        snprintf(in, sizeof in, "%s/%s", dir, e->d_name);
        for (int size = 64; size <= 224; size += 160) {
            snprintf(golden, sizeof golden, "%s/preprocess_photo_%s_S%d.npy", data_dir(), stem,
                     size);
            if (access(golden, R_OK) != 0)
                continue;
            check_case(in, golden, size, !is_jpeg);
            checked++;
        }
    }
    closedir(d);
    if (checked == 0) {
        printf("  photos: no goldens match the files in %s\n", dir);
        skip();
    }
}

static const char *tmp_path(const char *name)
{
    static char buf[1024];
    const char *c = rt_setting_value(RT_SET_CACHE_DIR);
    snprintf(buf, sizeof buf, "%s/G_pre_%ld_%s", c ? c : "/tmp", (long)getpid(), name);
    return buf;
}

static void write_file(const char *path, const void *buf, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, n, f), n);
    fclose(f);
}

static void *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    void *b = malloc(*n);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, *n, f), *n);
    fclose(f);
    return b;
}

static void expect_load_error(const char *path, const char *must_contain)
{
    img_u8 im;
    cc_clear_error();
    int rc = img_load(path, &im);
    printf("  %s -> %s\n", must_contain, cc_last_error());
    assert_int_not_equal(rc, CC_OK);
    assert_null(im.px);
    assert_non_null(strstr(cc_last_error(), path));
    assert_non_null(strstr(cc_last_error(), must_contain));
}

/* A PNM header number past INT_MAX (found by fuzz_image: undefined behaviour
 * inside stb_image's header parser) is refused before stb reads it; one
 * that fits still decodes. */
static void test_pnm_header_overflow(void **state)
{
    (void)state;
    static const char *const bad[] = {"P6 99999999999 1 255\n", "P5\n1 2147483648\n255\n",
                                      "P6#c\n1 1 #c\n99999999999999999999\n"};
    for (int i = 0; i < 3; i++) {
        img_u8 im = {0};
        assert_int_equal(img_decode((const uint8_t *)bad[i], strlen(bad[i]), "h.ppm", &im),
                         CC_ERR_INVALID);
        assert_non_null(strstr(cc_last_error(), "corrupt PNM header"));
        assert_null(im.px);
    }
    /* a header with too few pixels after it (a 15-byte file once decoded
     * as 23652x5355) */
    static const char *const short_px[] = {"P6\n23652 5355 5", "P6\n2 2\n255\n123456789ab",
                                           "P5 1 1 65535 x"};
    for (int i = 0; i < 3; i++) {
        img_u8 im = {0};
        assert_int_equal(img_decode((const uint8_t *)short_px[i], strlen(short_px[i]), "t.ppm", &im),
                         CC_ERR_INVALID);
        assert_non_null(strstr(cc_last_error(), "truncated PNM"));
    }
    static const char ok[] = "P5 # grey\n2 1\n255\n\x10\xf0";
    img_u8 im = {0};
    assert_int_equal(img_decode((const uint8_t *)ok, sizeof ok - 1, "ok.pgm", &im), CC_OK);
    assert_int_equal(im.w, 2);
    assert_int_equal(im.h, 1);
    assert_int_equal(im.px[0], 0x10);
    assert_int_equal(im.px[1], 0xf0);
    img_free(&im);
}

static void test_bad_files(void **state)
{
    (void)state;
    const char *p = tmp_path("not_image.png");
    const char txt[] = "this is a text file, not an image\n";
    write_file(p, txt, sizeof txt - 1);
    expect_load_error(p, "not a decodable image");
    unlink(p);

    write_file(p, "", 0);
    expect_load_error(p, "empty");
    unlink(p);

    expect_load_error(tmp_path("does_not_exist.png"), "cannot open");

    char src[1024];
    size_t n;
    snprintf(src, sizeof src, "%s/preprocess_jpeg_96x80_in.jpg", data_dir());
    unsigned char *jpg = read_file(src, &n);
    /* the intact file decodes */
    img_u8 ok;
    assert_int_equal(img_load(src, &ok), CC_OK);
    img_free(&ok);
    p = tmp_path("trunc.jpg");
    write_file(p, jpg, n * 2 / 3);
    expect_load_error(p, "truncated JPEG");
    write_file(p, jpg, 300); /* inside the headers */
    expect_load_error(p, "truncated JPEG");
    /* every cut point fails cleanly (no crash, no garbage image) */
    for (size_t cut = 0; cut + 2 < n; cut += 37) {
        img_u8 im;
        write_file(p, jpg, cut);
        assert_int_not_equal(img_load(p, &im), CC_OK);
        assert_null(im.px);
    }
    unlink(p);
    free(jpg);

    snprintf(src, sizeof src, "%s/preprocess_rgb_200x150_in.png", data_dir());
    unsigned char *png = read_file(src, &n);
    p = tmp_path("trunc.png");
    write_file(p, png, n / 2);
    expect_load_error(p, "truncated PNG");
    for (size_t cut = 0; cut < n; cut += 997) {
        img_u8 im;
        write_file(p, png, cut);
        assert_int_not_equal(img_load(p, &im), CC_OK);
        assert_null(im.px);
    }
    png[n / 2] ^= 0x55; /* flip bits inside IDAT */
    write_file(p, png, n);
    expect_load_error(p, "CRC mismatch");
    unlink(p);
    free(png);
}

static void test_to_rgb_drops_alpha(void **state)
{
    (void)state;
    /* PIL convert("RGB"): LA -> (L, L, L); RGBA -> (R, G, B); alpha ignored */
    img_u8 la = {0}, rgba = {0}, out;
    assert_int_equal(img_alloc(&la, 2, 1, IMG_LA), CC_OK);
    const uint8_t lav[] = {10, 0, 200, 128};
    memcpy(la.px, lav, sizeof lav);
    assert_int_equal(img_to_rgb(&la, &out), CC_OK);
    const uint8_t la_want[] = {10, 10, 10, 200, 200, 200};
    assert_memory_equal(out.px, la_want, sizeof la_want);
    img_free(&out);
    assert_int_equal(img_alloc(&rgba, 1, 1, IMG_RGBA), CC_OK);
    const uint8_t rv[] = {1, 2, 3, 0};
    memcpy(rgba.px, rv, sizeof rv);
    assert_int_equal(img_to_rgb(&rgba, &out), CC_OK);
    assert_memory_equal(out.px, rv, 3);
    img_free(&out);
    img_free(&la);
    img_free(&rgba);
}

static void test_resize_dims_and_constant(void **state)
{
    (void)state;
    int ow, oh;
    img_resize_dims(640, 480, 224, &ow, &oh);
    assert_int_equal(ow, 298); /* int(224 * 640 / 480) = int(298.67) */
    assert_int_equal(oh, 224);
    img_resize_dims(3, 500, 64, &ow, &oh);
    assert_int_equal(ow, 64);
    assert_int_equal(oh, 10666);
    /* a constant image stays constant: weights sum to exactly 1 << 22 */
    img_u8 c = {0}, r;
    assert_int_equal(img_alloc(&c, 13, 7, IMG_RGB), CC_OK);
    memset(c.px, 173, 13 * 7 * 3);
    assert_int_equal(img_resize(&c, 5, 29, &r), CC_OK);
    for (int i = 0; i < 5 * 29 * 3; i++)
        assert_int_equal(r.px[i], 173);
    img_free(&r);
    img_free(&c);
}

int main(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(test_rgb_downscale),
        cmocka_unit_test(test_rgb_downscale_224),
        cmocka_unit_test(test_rgb_upscale),
        cmocka_unit_test(test_rgb_thin_tall),
        cmocka_unit_test(test_rgb_thin_wide),
        cmocka_unit_test(test_rgb_1x1),
        cmocka_unit_test(test_rgb_no_resize),
        cmocka_unit_test(test_grey),
        cmocka_unit_test(test_grey_alpha),
        cmocka_unit_test(test_rgba),
        cmocka_unit_test(test_palette),
        cmocka_unit_test(test_bilevel),
        cmocka_unit_test(test_jpeg),
        cmocka_unit_test(test_normalize),
        cmocka_unit_test(test_photos),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_pnm_header_overflow),
        cmocka_unit_test(test_to_rgb_drops_alpha),
        cmocka_unit_test(test_resize_dims_and_constant),
    };
    return cmocka_run_group_tests(t, NULL, NULL);
}
