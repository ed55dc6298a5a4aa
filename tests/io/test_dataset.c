/* Dataset sources: a TSV/CSV with quotes, tabs, CRLF, a malformed row and a
 * missing image; webdataset tar shards written here byte by byte (ustar
 * headers, a pax long name, one undecodable image, one corrupt header, a
 * caption without image) opened through a brace pattern; brace expansion;
 * RandomResizedCrop parameters against hand-derived values. */
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

#include "io/dataset.h"
#include "io/synth.h"
#include "runtime/status.h"
#include "tests/io/io_test_util.h"

static int setup(void **state)
{
    (void)state;
    return iot_setup("G_dataset") ? -1 : mkdir(iot_path("sub dir"), 0755);
}

/* A small PNG (a procedural sample) at path. */
static void make_png(const char *path, int64_t which)
{
    synth_attrs a;
    synth_sample(99, SYNTH_TRAIN, which, &a);
    img_u8 im;
    assert_int_equal(synth_render(&a, 24, &im), CC_OK);
    assert_int_equal(synth_write_png(path, &im), CC_OK);
    img_free(&im);
}

typedef struct warnings {
    int n;
    char last[1024];
    char all[8192];
} warnings;

static void collect(void *user, const char *msg)
{
    warnings *w = user;
    w->n++;
    snprintf(w->last, sizeof w->last, "%s", msg);
    size_t l = strlen(w->all);
    snprintf(w->all + l, sizeof w->all - l, "%s\n", msg);
}

static void test_tsv_quotes_tabs_missing(void **state)
{
    (void)state;
    make_png(iot_path("a.png"), 0);
    make_png(iot_path("sub dir/c.png"), 1);
    make_png(iot_path("abs.png"), 2);
    char csv[8192];
    snprintf(csv, sizeof csv,
             "\xef\xbb\xbf" "id\tfilepath\ttitle\r\n"
             "1\ta.png\t\"a caption, with \"\"quotes\"\" and\ta tab\"\r\n"
             "2\t\"sub dir/c.png\"\t\"two\nlines\"\r\n"
             "\r\n"
             "3\tmissing.png\tnothing here\r\n"
             "4\tonly two fields\r\n"
             "5\t%s\tabsolute path\r\n",
             iot_path("abs.png"));
    iot_write_text(iot_path("list.tsv"), csv);

    warnings w = {0};
    ds_open_opts o = {.warn = collect, .warn_user = &w};
    ds_dataset *ds;
    if (ds_open_csv(&ds, iot_path("list.tsv"), &o) != CC_OK)
        fail_msg("%s", cc_last_error());
    assert_int_equal(ds_count(ds), 4);
    assert_int_equal(ds_open_skipped(ds), 1);
    assert_int_equal(w.n, 1);
    assert_non_null(strstr(w.last, "list.tsv:7")); /* line 7: the quoted newline counts */
    assert_string_equal(ds_caption(ds, 0), "a caption, with \"quotes\" and\ta tab");
    assert_string_equal(ds_caption(ds, 1), "two\nlines");
    assert_string_equal(ds_caption(ds, 2), "nothing here");
    assert_string_equal(ds_caption(ds, 3), "absolute path");
    assert_string_equal(ds_name(ds, 0), iot_path("a.png"));
    assert_string_equal(ds_name(ds, 1), iot_path("sub dir/c.png"));
    assert_string_equal(ds_name(ds, 3), iot_path("abs.png"));

    img_u8 im;
    assert_int_equal(ds_load_image(ds, 1, &im), CC_OK);
    assert_int_equal(im.w, 24);
    img_free(&im);
    assert_int_not_equal(ds_load_image(ds, 2, &im), CC_OK);
    assert_non_null(strstr(cc_last_error(), "missing.png"));

    /* The loader skips the missing image with one warning and still returns
     * the three others, preprocessed as img_clip_preprocess_file does. */
    warnings lw = {0};
    ds_loader_opts lo = {.batch = 8, .size = 16, .seed = 1, .warn = collect, .warn_user = &lw};
    ds_loader *l;
    assert_int_equal(ds_loader_open(&l, ds, &lo), CC_OK);
    ds_batch b;
    assert_int_equal(ds_batch_init(&b, 8, 16), CC_OK);
    int got;
    assert_int_equal(ds_loader_next(l, &b, &got), CC_OK);
    assert_int_equal(got, 1);
    assert_int_equal(b.n, 3);
    assert_int_equal(ds_loader_skipped(l), 1);
    assert_int_equal(lw.n, 1);
    assert_non_null(strstr(lw.last, "missing.png"));
    float *want = malloc(3 * 16 * 16 * sizeof(float));
    for (int i = 0; i < b.n; i++) {
        assert_int_equal(img_clip_preprocess_file(ds_name(ds, b.index[i]), 16, want), CC_OK);
        assert_memory_equal(b.pixels + (size_t)i * 3 * 16 * 16, want, 3 * 16 * 16 * sizeof(float));
        assert_string_equal(b.captions[i], ds_caption(ds, b.index[i]));
    }
    free(want);
    assert_int_equal(ds_loader_next(l, &b, &got), CC_OK);
    assert_int_equal(got, 0); /* end of epoch */
    ds_batch_free(&b);
    ds_loader_close(l);
    ds_close(ds);
}

static void test_csv_options_and_errors(void **state)
{
    (void)state;
    make_png(iot_path("x.png"), 3);
    /* Comma by extension, other column names, LF only, no final newline. */
    iot_write_text(iot_path("pairs.csv"), "caption,image\n\"x, quoted\",x.png\nplain,x.png");
    ds_open_opts o = {.img_key = "image", .caption_key = "caption"};
    ds_dataset *ds;
    if (ds_open_csv(&ds, iot_path("pairs.csv"), &o) != CC_OK)
        fail_msg("%s", cc_last_error());
    assert_int_equal(ds_count(ds), 2);
    assert_string_equal(ds_caption(ds, 0), "x, quoted");
    assert_string_equal(ds_caption(ds, 1), "plain");
    ds_close(ds);

    /* Default keys are open_clip's (filepath, title): absent here. */
    assert_int_equal(ds_open_csv(&ds, iot_path("pairs.csv"), NULL), CC_ERR_INVALID);
    assert_null(ds);
    assert_non_null(strstr(cc_last_error(), "\"filepath\""));
    assert_non_null(strstr(cc_last_error(), "\"caption\", \"image\""));
    /* A forced separator overrides the extension. */
    iot_write_text(iot_path("semi.csv"), "filepath;title\nx.png;semi;colon\n");
    o = (ds_open_opts){.separator = ';'};
    assert_int_equal(ds_open_csv(&ds, iot_path("semi.csv"), &o), CC_OK);
    assert_int_equal(ds_count(ds), 1);
    assert_string_equal(ds_caption(ds, 0), "semi");
    ds_close(ds);
    /* Unterminated quote: the row is skipped; nothing left is an error. */
    iot_write_text(iot_path("bad.csv"), "filepath,title\nx.png,\"never closed\n");
    assert_int_equal(ds_open_csv(&ds, iot_path("bad.csv"), NULL), CC_ERR_INVALID);
    assert_non_null(strstr(cc_last_error(), "no usable rows (1 skipped)"));
    assert_int_equal(ds_open_csv(&ds, iot_path("nope.csv"), NULL), CC_ERR_IO);
    assert_non_null(strstr(cc_last_error(), "nope.csv"));
}

/* ---- a tar writer, independent of io/tar.c ---- */

static void tar_header(FILE *f, const char *name, size_t size, char type, int corrupt)
{
    unsigned char h[512];
    memset(h, 0, sizeof h);
    snprintf((char *)h, 100, "%s", name);
    memcpy(h + 100, "0000644", 8);
    memcpy(h + 108, "0001750", 8);
    memcpy(h + 116, "0001750", 8);
    snprintf((char *)h + 124, 12, "%011o", (unsigned)size);
    memcpy(h + 136, "14712345670", 12);
    h[156] = (unsigned char)type;
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < 512; i++)
        sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum);
    h[155] = ' ';
    if (corrupt)
        h[5] ^= 0x20; /* after the checksum: it no longer matches */
    fwrite(h, 1, 512, f);
}

static void tar_add(FILE *f, const char *name, const void *data, size_t n, char type, int corrupt)
{
    tar_header(f, name, n, type, corrupt);
    fwrite(data, 1, n, f);
    static const char zeros[512];
    if (n % 512)
        fwrite(zeros, 1, 512 - n % 512, f);
}

static void tar_add_long(FILE *f, const char *longname, const void *data, size_t n)
{
    char rec[600];
    int body = (int)strlen(" path=\n") + (int)strlen(longname);
    int len = body + 3; /* three digits of length */
    snprintf(rec, sizeof rec, "%d path=%s\n", len, longname);
    assert_int_equal((int)strlen(rec), len);
    tar_add(f, "PaxHeaders.0/long", rec, strlen(rec), 'x', 0);
    tar_add(f, "truncated-name-ignored.png", data, n, '0', 0);
}

static void tar_end(FILE *f)
{
    static const char zeros[1024];
    fwrite(zeros, 1, sizeof zeros, f);
    fclose(f);
}

static void test_tar_shards(void **state)
{
    (void)state;
    size_t n0, n1, n2;
    make_png(iot_path("t0.png"), 10);
    make_png(iot_path("t1.png"), 11);
    make_png(iot_path("t2.png"), 12);
    uint8_t *p0 = iot_slurp(iot_path("t0.png"), &n0), *p1 = iot_slurp(iot_path("t1.png"), &n1),
            *p2 = iot_slurp(iot_path("t2.png"), &n2);
    char longdir[300];
    memset(longdir, 'd', 150);
    snprintf(longdir + 150, sizeof longdir - 150, "/sample.png");

    FILE *f = fopen(iot_path("shard-0.tar"), "wb");
    assert_non_null(f);
    tar_add(f, "000.png", p0, n0, '0', 0);
    tar_add(f, "000.txt", "first caption\n", 14, '0', 0);
    tar_add(f, "000.json", "{}", 2, '0', 0); /* other extensions are ignored */
    tar_add(f, "dir/001.PNG", p1, n1, '0', 0);
    tar_add(f, "dir/001.txt", "second", 6, '0', 0);
    tar_add_long(f, longdir, p2, n2);
    char longtxt[300];
    snprintf(longtxt, sizeof longtxt, "%.150s/sample.txt", longdir);
    tar_add_long(f, longtxt, "third", 5);
    static const char fake_jpeg[] = "\xff\xd8\xff\xe0 not really a jpeg";
    tar_add(f, "003.jpg", fake_jpeg, sizeof fake_jpeg - 1, '0', 0);
    tar_add(f, "003.txt", "broken image", 12, '0', 0);
    tar_add(f, "004.txt", "caption without image", 21, '0', 0);
    tar_end(f);

    f = fopen(iot_path("shard-1.tar"), "wb");
    assert_non_null(f);
    tar_add(f, "100.png", p0, n0, '0', 0);
    tar_add(f, "100.txt", "fourth", 6, '0', 0);
    tar_add(f, "101.png", p1, n1, '0', 1); /* corrupt header */
    tar_add(f, "101.txt", "lost image", 10, '0', 0);
    tar_add(f, "102.png", p2, n2, '0', 0);
    tar_add(f, "102.txt", "fifth", 5, '0', 0);
    tar_end(f);

    warnings w = {0};
    ds_open_opts o = {.warn = collect, .warn_user = &w};
    ds_dataset *ds;
    char pattern[2048];
    snprintf(pattern, sizeof pattern, "%s", iot_path("shard-{0..1}.tar"));
    const char *shards[] = {pattern};
    if (ds_open_tar(&ds, shards, 1, &o) != CC_OK)
        fail_msg("%s", cc_last_error());
    /* 000, 001, 002 (pax name), 003 (bad bytes, found at load), 100, 102. */
    assert_int_equal(ds_count(ds), 6);
    static const char *const caps[] = {"first caption", "second", "third", "broken image",
                                       "fourth", "fifth"};
    for (int i = 0; i < 6; i++)
        assert_string_equal(ds_caption(ds, i), caps[i]);
    /* 004 without image; 101's header; 101 left with a caption only. */
    if (ds_open_skipped(ds) != 3 || w.n != 3)
        fail_msg("skipped %lld, warnings:\n%s", (long long)ds_open_skipped(ds), w.all);
    assert_non_null(strstr(w.all, "004 has no image"));
    assert_non_null(strstr(w.all, "corrupt tar header at offset"));
    assert_non_null(strstr(w.all, "101 has no image"));
    char want_name[2048];
    snprintf(want_name, sizeof want_name, "%s:dir/001", iot_path("shard-0.tar"));
    assert_string_equal(ds_name(ds, 1), want_name);
    snprintf(want_name, sizeof want_name, "%s:%.150s/sample", iot_path("shard-0.tar"), longdir);
    assert_string_equal(ds_name(ds, 2), want_name);

    const uint8_t *src[] = {p0, p1, p2, NULL, p0, p2};
    const size_t len[] = {n0, n1, n2, 0, n0, n2};
    for (int i = 0; i < 6; i++) {
        img_u8 got, want;
        int rc = ds_load_image(ds, i, &got);
        if (i == 3) {
            assert_int_not_equal(rc, CC_OK);
            assert_non_null(strstr(cc_last_error(), "shard-0.tar:003"));
            continue;
        }
        if (rc != CC_OK)
            fail_msg("sample %d: %s", i, cc_last_error());
        assert_int_equal(img_decode(src[i], len[i], "ref", &want), CC_OK);
        assert_int_equal(got.w * got.h * got.c, want.w * want.h * want.c);
        assert_memory_equal(got.px, want.px, (size_t)(want.w * want.h * want.c));
        img_free(&got);
        img_free(&want);
    }
    ds_close(ds);

    /* A missing shard is an error that names it. */
    snprintf(pattern, sizeof pattern, "%s", iot_path("shard-{0..2}.tar"));
    assert_int_equal(ds_open_tar(&ds, shards, 1, &o), CC_ERR_IO);
    assert_non_null(strstr(cc_last_error(), "shard-2.tar"));
    /* A shard cut inside 001.PNG's data keeps the complete sample 000 and
     * warns once: 000.png header + data, 000.txt and 000.json (one block of
     * data each), then 001.PNG's header and 10 bytes. */
    size_t n;
    uint8_t *whole = iot_slurp(iot_path("shard-0.tar"), &n);
    size_t cut_at = 512 + (n0 + 511) / 512 * 512 + 2 * 1024 + 512 + 10;
    f = fopen(iot_path("cut.tar"), "wb");
    assert_int_equal(fwrite(whole, 1, cut_at, f), cut_at);
    fclose(f);
    free(whole);
    memset(&w, 0, sizeof w);
    const char *cut[] = {iot_path("cut.tar")};
    if (ds_open_tar(&ds, cut, 1, &o) != CC_OK)
        fail_msg("%s", cc_last_error());
    assert_int_equal(ds_count(ds), 1);
    assert_string_equal(ds_caption(ds, 0), "first caption");
    assert_int_equal(w.n, 1);
    assert_non_null(strstr(w.last, "member dir/001.PNG truncated"));
    ds_close(ds);
    free(p0);
    free(p1);
    free(p2);
}

static void expect(const char *pattern, int n, const char *const *want)
{
    char **got;
    int k;
    assert_int_equal(ds_brace_expand(pattern, &got, &k), CC_OK);
    if (k != n)
        fail_msg("%s: %d names, expected %d", pattern, k, n);
    for (int i = 0; i < n; i++)
        assert_string_equal(got[i], want[i]);
    ds_strings_free(got, k);
}

static void test_brace_expansion(void **state)
{
    (void)state;
    expect("s-{000..002}.tar", 3, (const char *const[]){"s-000.tar", "s-001.tar", "s-002.tar"});
    expect("s-{8..10}.tar", 3, (const char *const[]){"s-8.tar", "s-9.tar", "s-10.tar"});
    expect("{a,b}{0..1}", 4, (const char *const[]){"a0", "a1", "b0", "b1"});
    expect("x{3..1}", 3, (const char *const[]){"x3", "x2", "x1"});
    expect("one.tar::two-{1,2}.tar", 3, (const char *const[]){"one.tar", "two-1.tar", "two-2.tar"});
    expect("lit{x}-{1,2}", 2, (const char *const[]){"lit{x}-1", "lit{x}-2"});
    expect("{a,{b,c}}", 3, (const char *const[]){"a", "b", "c"});
    expect("plain.tar", 1, (const char *const[]){"plain.tar"});
}

static void test_random_resized_crop(void **state)
{
    (void)state;
    ds_rrc r = {1, 0.9, 1.0, 3.0 / 4.0, 4.0 / 3.0};
    for (uint64_t seed = 0; seed < 200; seed++) {
        uint64_t s = seed;
        int x, y, w, h;
        ds_rrc_params(&r, 100, 80, &s, &x, &y, &w, &h);
        /* Area in [0.9, 1] of 8000 up to the rounding of both sides. */
        assert_true(w >= 1 && h >= 1 && x >= 0 && y >= 0 && x + w <= 100 && y + h <= 80);
        double area = (double)w * h;
        assert_true(area >= 0.9 * 8000 - (w + h) && area <= 8000);
        double ratio = (double)w / h;
        assert_true(ratio >= 0.75 - 1.0 / h && ratio <= 4.0 / 3.0 + 1.0 / h);
    }
    /* 1000 x 10: no draw can fit, so torchvision's fallback: w = round(10 *
     * 4/3) = 13, h = 10, centred: x = (1000 - 13) // 2 = 493. */
    uint64_t s = 1;
    int x, y, w, h;
    ds_rrc_params(&r, 1000, 10, &s, &x, &y, &w, &h);
    assert_int_equal(w, 13);
    assert_int_equal(h, 10);
    assert_int_equal(x, 493);
    assert_int_equal(y, 0);
    /* 10 x 1000: h = round(10 / (3/4)) = 13, y = (1000 - 13) // 2 = 493. */
    ds_rrc_params(&r, 10, 1000, &s, &x, &y, &w, &h);
    assert_true(w == 10 && h == 13 && x == 0 && y == 493);

    /* scale 1 and ratio 1 on a square image: the crop is the whole image, so
     * the result equals CLIP's resize + centre crop of it. */
    synth_attrs a;
    synth_sample(4, SYNTH_TRAIN, 0, &a);
    img_u8 im, ref;
    assert_int_equal(synth_render(&a, 40, &im), CC_OK);
    ds_rrc whole = {1, 1.0, 1.0, 1.0, 1.0};
    float got[3 * 24 * 24], want[3 * 24 * 24];
    s = 9;
    assert_int_equal(ds_preprocess(&im, 24, &whole, &s, got), CC_OK);
    assert_int_equal(img_clip_resize_crop(&im, 24, &ref), CC_OK);
    img_clip_normalize(&ref, want);
    assert_memory_equal(got, want, sizeof got);
    /* A real crop differs from the centre crop. */
    s = 9;
    assert_int_equal(ds_preprocess(&im, 24, &(ds_rrc){1, 0.5, 0.6, 0.75, 4.0 / 3}, &s, got), CC_OK);
    assert_memory_not_equal(got, want, sizeof got);
    img_free(&im);
    img_free(&ref);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tsv_quotes_tabs_missing),
        cmocka_unit_test(test_csv_options_and_errors),
        cmocka_unit_test(test_tar_shards),
        cmocka_unit_test(test_brace_expansion),
        cmocka_unit_test(test_random_resized_crop),
    };
    return cmocka_run_group_tests(tests, setup, iot_teardown);
}
