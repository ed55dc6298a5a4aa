/* The procedural dataset: determinism (same seed -> same bytes), the
 * held-out split (pairs never in training captions), captions that name what
 * is drawn, pictures that show it (colour and position checked on the pixels
 * with a hand-written palette), and every written image decodable through
 * the CSV dataset. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
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
    return iot_setup("G_synth");
}

static int same_file(const char *a, const char *b)
{
    size_t na, nb;
    uint8_t *x = iot_slurp(a, &na), *y = iot_slurp(b, &nb);
    int same = na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

static void write_set(const char *dir, uint64_t seed)
{
    synth_write_opts o = {dir, 24, 6, 32, seed, 1, NULL, NULL};
    if (synth_write_dataset(&o) != CC_OK)
        fail_msg("%s", cc_last_error());
}

static void test_same_seed_same_bytes(void **state)
{
    (void)state;
    char a[1024], b[1024], c[1024];
    snprintf(a, sizeof a, "%s", iot_path("a"));
    snprintf(b, sizeof b, "%s", iot_path("b"));
    snprintf(c, sizeof c, "%s", iot_path("c"));
    write_set(a, 7);
    write_set(b, 7);
    write_set(c, 8);
    static const char *const files[] = {
        "train.csv", "heldout_seen.csv", "heldout_unseen.csv", "classes_shape.txt",
        "classes_pair.txt", "heldout_pairs.txt", "train/0000000.png", "train/0000023.png",
        "heldout_seen/0000005.png", "heldout_unseen/0000000.png",
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char pa[2048], pb[2048];
        snprintf(pa, sizeof pa, "%s/%s", a, files[i]);
        snprintf(pb, sizeof pb, "%s/%s", b, files[i]);
        if (!same_file(pa, pb))
            fail_msg("%s differs between two runs with seed 7", files[i]);
    }
    /* Another seed: other captions and other pictures. */
    char pa[2048], pc[2048];
    snprintf(pa, sizeof pa, "%s/train.csv", a);
    snprintf(pc, sizeof pc, "%s/train.csv", c);
    assert_false(same_file(pa, pc));
    int differing = 0;
    for (int i = 0; i < 24; i++) {
        snprintf(pa, sizeof pa, "%s/train/%07d.png", a, i);
        snprintf(pc, sizeof pc, "%s/train/%07d.png", c, i);
        differing += !same_file(pa, pc);
    }
    assert_int_equal(differing, 24);
    /* No temporary left behind. */
    char sub[2048];
    snprintf(sub, sizeof sub, "%s/train", a);
    DIR *d = opendir(sub);
    assert_non_null(d);
    int pngs = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        assert_null(strstr(e->d_name, ".tmp"));
        pngs += strstr(e->d_name, ".png") != NULL;
    }
    closedir(d);
    assert_int_equal(pngs, 24);
    assert_int_equal(iot_rm_rf(a), 0);
    assert_int_equal(iot_rm_rf(b), 0);
    assert_int_equal(iot_rm_rf(c), 0);
}

/* Which shape and colour words a caption contains (-1: none, -2: several). */
static void words_in(const char *cap, int *shape, int *colour)
{
    *shape = *colour = -1;
    char buf[300];
    snprintf(buf, sizeof buf, " %.250s ", cap);
    for (int s = 0; s < SYNTH_N_SHAPES; s++) {
        char w[64];
        snprintf(w, sizeof w, " %s ", synth_shape_names[s]);
        if (strstr(buf, w))
            *shape = *shape == -1 ? s : -2;
    }
    for (int c = 0; c < SYNTH_N_COLOURS; c++) {
        char w[64];
        snprintf(w, sizeof w, " %s ", synth_colour_names[c]);
        if (strstr(buf, w))
            *colour = *colour == -1 ? c : -2;
    }
}

static void test_heldout_pairs_never_in_train(void **state)
{
    (void)state;
    /* The documented list: green circle, purple square, pink triangle, blue
     * star, orange hexagon, red diamond, yellow cross, cyan heart. */
    static const char *const want[8][2] = {
        {"circle", "green"}, {"square", "purple"}, {"triangle", "pink"}, {"star", "blue"},
        {"hexagon", "orange"}, {"diamond", "red"}, {"cross", "yellow"}, {"heart", "cyan"},
    };
    int shape_seen[SYNTH_N_SHAPES] = {0}, colour_seen[SYNTH_N_COLOURS] = {0};
    for (int k = 0; k < SYNTH_N_HELDOUT_PAIRS; k++) {
        assert_string_equal(synth_shape_names[synth_heldout_pairs[k][0]], want[k][0]);
        assert_string_equal(synth_colour_names[synth_heldout_pairs[k][1]], want[k][1]);
        shape_seen[synth_heldout_pairs[k][0]]++;
        colour_seen[synth_heldout_pairs[k][1]]++;
    }
    for (int i = 0; i < 8; i++) /* one per shape and one per colour */
        assert_true(shape_seen[i] == 1 && colour_seen[i] == 1);

    int train_pairs[SYNTH_N_SHAPES * SYNTH_N_COLOURS] = {0};
    for (int split = 0; split < 3; split++) {
        for (int64_t i = 0; i < 4000; i++) {
            synth_attrs a;
            synth_sample(3, split, i, &a);
            char cap[256];
            synth_caption(&a, cap, sizeof cap);
            int s, c;
            words_in(cap, &s, &c);
            if (s != a.shape || c != a.colour)
                fail_msg("caption \"%s\" does not name exactly %s and %s", cap,
                         synth_shape_names[a.shape], synth_colour_names[a.colour]);
            int held = 0;
            for (int k = 0; k < 8; k++) {
                char p1[64], p2[64];
                snprintf(p1, sizeof p1, "%s %s", want[k][1], want[k][0]);
                snprintf(p2, sizeof p2, "%s in %s", want[k][0], want[k][1]);
                held |= strstr(cap, p1) != NULL || strstr(cap, p2) != NULL;
            }
            if (split == SYNTH_HELDOUT_UNSEEN) {
                if (!held)
                    fail_msg("held-out-unseen caption \"%s\" is a training pair", cap);
            } else if (held) {
                fail_msg("%s caption \"%s\" names a held-out pair", synth_split_names[split], cap);
            }
            if (split == SYNTH_TRAIN)
                train_pairs[a.shape * SYNTH_N_COLOURS + a.colour]++;
            /* Articles agree: never "a o..." nor "an r...". */
            assert_null(strstr(cap, "a orange"));
            assert_null(strstr(cap, "an red"));
        }
    }
    int used = 0;
    for (int p = 0; p < SYNTH_N_SHAPES * SYNTH_N_COLOURS; p++)
        used += train_pairs[p] > 0;
    assert_int_equal(used, 56); /* every allowed pair does occur */
}

/* Hand-picked nominal colours (what a person would call each name). */
static const int palette[8][3] = {
    {215, 35, 35}, {40, 175, 50}, {40, 70, 220}, {235, 215, 40},
    {140, 50, 190}, {245, 135, 25}, {40, 210, 220}, {245, 130, 190},
};

static void test_pictures_show_the_caption(void **state)
{
    (void)state;
    int checked = 0;
    for (int64_t i = 0; i < 120; i++) {
        synth_attrs a;
        synth_sample(11, SYNTH_TRAIN, i, &a);
        if (a.size == 0)
            continue; /* small shapes: too few pixels for a robust centroid */
        img_u8 im;
        assert_int_equal(synth_render(&a, 96, &im), CC_OK);
        assert_int_equal(im.c, 3);
        double sx = 0, sy = 0;
        int cnt = 0;
        for (int y = 0; y < 96; y++)
            for (int x = 0; x < 96; x++) {
                const uint8_t *p = im.px + (y * 96 + x) * 3;
                int d0 = p[0] - palette[a.colour][0], d1 = p[1] - palette[a.colour][1],
                    d2 = p[2] - palette[a.colour][2];
                if (d0 * d0 + d1 * d1 + d2 * d2 < 40 * 40) {
                    sx += x;
                    sy += y;
                    cnt++;
                }
            }
        img_free(&im);
        if (cnt < 60)
            fail_msg("sample %lld: only %d pixels of %s", (long long)i, cnt,
                     synth_colour_names[a.colour]);
        /* Left/centre/right: the centroid's side of the middle, by more than
         * the placement jitter; a large shape "on the left" still reaches
         * past the first third, so thirds would be the wrong test. */
        double mx = sx / cnt - 48, my = sy / cnt - 48;
        int col = mx < -6 ? 0 : mx > 6 ? 2 : 1, row = my < -6 ? 0 : my > 6 ? 2 : 1;
        if (col != a.position % 3 || row != a.position / 3)
            fail_msg("sample %lld: %s %s drawn in third (%d, %d), caption says %s", (long long)i,
                     synth_colour_names[a.colour], synth_shape_names[a.shape], col, row,
                     synth_position_names[a.position]);
        checked++;
    }
    assert_true(checked > 50);
}

static void test_written_images_decode(void **state)
{
    (void)state;
    char dir[1024], csv[1100];
    snprintf(dir, sizeof dir, "%s", iot_path("dec"));
    write_set(dir, 5);
    for (int split = 0; split < 3; split++) {
        snprintf(csv, sizeof csv, "%s/%s.csv", dir, synth_split_names[split]);
        ds_dataset *ds;
        if (ds_open_csv(&ds, csv, NULL) != CC_OK)
            fail_msg("%s", cc_last_error());
        assert_int_equal(ds_count(ds), split == 0 ? 24 : 6);
        assert_int_equal(ds_open_skipped(ds), 0);
        for (int64_t i = 0; i < ds_count(ds); i++) {
            img_u8 got, want;
            if (ds_load_image(ds, i, &got) != CC_OK)
                fail_msg("%s", cc_last_error());
            synth_attrs a;
            synth_sample(5, split, i, &a);
            assert_int_equal(synth_render(&a, 32, &want), CC_OK);
            assert_int_equal(got.w, 32);
            assert_int_equal(got.h, 32);
            assert_int_equal(got.c, 3);
            assert_memory_equal(got.px, want.px, 32 * 32 * 3); /* PNG is lossless */
            char cap[256];
            synth_caption(&a, cap, sizeof cap);
            assert_string_equal(ds_caption(ds, i), cap);
            img_free(&got);
            img_free(&want);
        }
        ds_close(ds);
    }
    assert_int_equal(iot_rm_rf(dir), 0);
}

static void test_in_memory_matches_files(void **state)
{
    (void)state;
    ds_dataset *ds;
    assert_int_equal(ds_open_synth(&ds, SYNTH_HELDOUT_UNSEEN, 10, 32, 5), CC_OK);
    assert_int_equal(ds_count(ds), 10);
    for (int64_t i = 0; i < 10; i++) {
        synth_attrs a;
        synth_sample(5, SYNTH_HELDOUT_UNSEEN, i, &a);
        assert_true(synth_is_heldout(a.shape, a.colour));
        img_u8 x, y;
        assert_int_equal(ds_load_image(ds, i, &x), CC_OK);
        assert_int_equal(synth_render(&a, 32, &y), CC_OK);
        assert_memory_equal(x.px, y.px, 32 * 32 * 3);
        img_free(&x);
        img_free(&y);
    }
    ds_close(ds);
    assert_int_not_equal(ds_open_synth(&ds, 3, 10, 32, 5), CC_OK);
    assert_non_null(strstr(cc_last_error(), "split"));
}

/* The output folder is made with its parents; a file in the way is an
 * error naming it. */
static void test_out_dir_parents(void **state)
{
    (void)state;
    synth_write_opts o = {iot_path("p/q/r"), 2, 0, 16, 0, 0, NULL, NULL};
    if (synth_write_dataset(&o) != CC_OK)
        fail_msg("%s", cc_last_error());
    struct stat st;
    assert_int_equal(stat(iot_path("p/q/r/train.csv"), &st), 0);
    assert_int_equal(stat(iot_path("p/q/r/train/0000001.png"), &st), 0);
    iot_write_text(iot_path("plain"), "x");
    o.out_dir = iot_path("plain/sub");
    assert_int_equal(synth_write_dataset(&o), CC_ERR_IO);
    assert_non_null(strstr(cc_last_error(), "plain"));
    assert_non_null(strstr(cc_last_error(), "not a directory"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_seed_same_bytes),
        cmocka_unit_test(test_heldout_pairs_never_in_train),
        cmocka_unit_test(test_pictures_show_the_caption),
        cmocka_unit_test(test_written_images_decode),
        cmocka_unit_test(test_in_memory_matches_files),
        cmocka_unit_test(test_out_dir_parents),
    };
    return cmocka_run_group_tests(tests, setup, iot_teardown);
}
