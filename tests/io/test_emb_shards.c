/* Embedding folders (io/emb_shards.h) written and read back: rows through
 * the memory map equal what was written, metadata fields with commas,
 * quotes and newlines survive the CSV round trip, failed.csv likewise, the
 * manifest keeps every field, and damaged folders (a manifest naming a file
 * outside the folder, a shard whose shape disagrees, a truncated .npy) are
 * errors naming the file. Also synth_write_dataset_wds: its shards read back
 * through the training reader (ds_open_tar) with the captions and pixels of
 * the in-memory generator. */
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
#include "io/emb_shards.h"
#include "io/synth.h"
#include "runtime/status.h"
#include "tests/io/io_test_util.h"

static int setup(void **state)
{
    (void)state;
    return iot_setup("G_emb_shards");
}

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if ((x) != CC_OK)                                                                          \
            fail_msg("%s: %s", #x, cc_last_error());                                               \
    } while (0)

static const es_row meta[5] = {
    {"a", "dir/a.png", "", "a plain caption", NULL},
    {"b,c", "with, comma.png", "", "say \"hi\"", NULL},
    {"d", "shard.tar", "d.jpg", "two\nlines\r\nhere", NULL},
    {"", "", "", "", NULL},
    {"e", "e.png", "", "\"quoted\",\"twice\"", NULL},
};

/* Two shards of 3 + 2 rows, dim 4. */
static void write_folder(const char *dir, es_manifest *m, float *x)
{
    memset(m, 0, sizeof *m);
    m->kind = ES_IMAGE;
    m->model = strdup("models/ViT-B-32");
    m->data = strdup("set/{0..9}.tar");
    m->embed_dim = 4;
    m->normalized = 1;
    m->shard_size = 3;
    m->inputs = 6;
    m->batch = 2;
    for (int i = 0; i < 20; i++)
        x[i] = (float)i * 0.25f - 1.0f;
    mkdir(dir, 0755);
    CHECK(es_shard_write(dir, m, x, 3, meta, 0, 4));
    CHECK(es_shard_write(dir, m, x + 12, 2, meta + 3, 4, 6));
    m->failed = 1;
    m->complete = 1;
    es_row failed[1] = {{NULL, "bad, file.png", "", NULL, "bad: \"not\" an image"}};
    CHECK(es_failed_write(dir, failed, 1));
    CHECK(es_manifest_write(dir, m));
}

static void test_round_trip(void **state)
{
    (void)state;
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", iot_path("rt"));
    es_manifest w;
    float x[20];
    write_folder(dir, &w, x);
    es_manifest m;
    CHECK(es_manifest_read(dir, &m));
    assert_int_equal(m.kind, ES_IMAGE);
    assert_string_equal(m.model, "models/ViT-B-32");
    assert_string_equal(m.data, "set/{0..9}.tar");
    assert_int_equal(m.embed_dim, 4);
    assert_int_equal(m.normalized, 1);
    assert_int_equal(m.shard_size, 3);
    assert_int_equal(m.rows, 5);
    assert_int_equal(m.failed, 1);
    assert_int_equal(m.inputs, 6);
    assert_int_equal(m.batch, 2);
    assert_int_equal(m.complete, 1);
    assert_int_equal(m.n_shards, 2);
    assert_string_equal(m.shards[0].file, "img_emb_0000.npy");
    assert_string_equal(m.shards[1].metadata, "metadata_0001.csv");
    assert_int_equal(m.shards[1].input_begin, 4);
    assert_int_equal(m.shards[1].input_end, 6);
    int row = 0;
    for (int k = 0; k < m.n_shards; k++) {
        es_mapped s;
        CHECK(es_shard_map(dir, &m, k, &s));
        assert_int_equal(s.dim, 4);
        assert_int_equal(s.n_rows, m.shards[k].rows);
        assert_memory_equal(s.rows, x + row * 4, (size_t)s.n_rows * 4 * sizeof(float));
        es_shard_unmap(&s);
        es_table t;
        CHECK(es_metadata_read(dir, &m, k, &t));
        assert_int_equal(t.n, m.shards[k].rows);
        for (int i = 0; i < t.n; i++) {
            assert_string_equal(t.rows[i].key, meta[row + i].key);
            assert_string_equal(t.rows[i].path, meta[row + i].path);
            assert_string_equal(t.rows[i].member, meta[row + i].member);
            assert_string_equal(t.rows[i].caption, meta[row + i].caption);
        }
        row += (int)t.n;
        es_table_free(&t);
    }
    es_table f;
    CHECK(es_failed_read(dir, &f));
    assert_int_equal(f.n, 1);
    assert_string_equal(f.rows[0].path, "bad, file.png");
    assert_string_equal(f.rows[0].error, "bad: \"not\" an image");
    es_table_free(&f);
    /* the exact CSV text of a quoted line (what any CSV reader parses) */
    size_t n;
    char *csv = (char *)iot_slurp(iot_path("rt/metadata_0000.csv"), &n);
    assert_non_null(strstr(csv, "\"b,c\",\"with, comma.png\",,\"say \"\"hi\"\"\"\n"));
    free(csv);
    es_manifest_free(&m);
    es_manifest_free(&w);
}

static void test_damaged(void **state)
{
    (void)state;
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", iot_path("dmg"));
    es_manifest w, m;
    float x[20];
    write_folder(dir, &w, x);
    /* a shard whose rows disagree with the manifest */
    w.shards[0].rows = 4;
    CHECK(es_manifest_write(dir, &w));
    CHECK(es_manifest_read(dir, &m));
    es_mapped s;
    assert_int_not_equal(es_shard_map(dir, &m, 0, &s), CC_OK);
    assert_non_null(strstr(cc_last_error(), "img_emb_0000.npy"));
    es_table t;
    assert_int_not_equal(es_metadata_read(dir, &m, 0, &t), CC_OK);
    assert_non_null(strstr(cc_last_error(), "metadata_0000.csv"));
    es_manifest_free(&m);
    /* a truncated .npy */
    w.shards[0].rows = 3;
    CHECK(es_manifest_write(dir, &w));
    CHECK(es_manifest_read(dir, &m));
    assert_int_equal(truncate(iot_path("dmg/img_emb_0001.npy"), 128 + 4), 0);
    assert_int_not_equal(es_shard_map(dir, &m, 1, &s), CC_OK);
    assert_non_null(strstr(cc_last_error(), "img_emb_0001.npy"));
    es_manifest_free(&m);
    /* a manifest pointing outside the folder, and one that is not JSON */
    strcpy(w.shards[1].file, "../x.npy");
    CHECK(es_manifest_write(dir, &w));
    assert_int_not_equal(es_manifest_read(dir, &m), CC_OK);
    assert_non_null(strstr(cc_last_error(), "manifest.json"));
    iot_write_text(iot_path("dmg/manifest.json"), "{\"kind\": \"image\", ");
    assert_int_not_equal(es_manifest_read(dir, &m), CC_OK);
    assert_non_null(strstr(cc_last_error(), "manifest.json"));
    es_manifest_free(&w);
}

static void test_synth_wds_reads_back(void **state)
{
    (void)state;
    char dir[1024], pat[1100];
    snprintf(dir, sizeof dir, "%s", iot_path("wds"));
    synth_write_opts o = {dir, 7, 0, 24, 5, 0, NULL, NULL};
    CHECK(synth_write_dataset_wds(&o, 3));
    struct stat st;
    assert_int_equal(stat(iot_path("wds/shards/shard-000002.tar"), &st), 0);
    assert_int_not_equal(stat(iot_path("wds/shards/shard-000003.tar"), &st), 0);
    assert_int_not_equal(stat(iot_path("wds/train.csv"), &st), 0);
    snprintf(pat, sizeof pat, "%s/shards/shard-{000000..000002}.tar", dir);
    const char *shards[1] = {pat};
    ds_dataset *ds = NULL;
    CHECK(ds_open_tar(&ds, shards, 1, NULL));
    assert_int_equal(ds_count(ds), 7);
    assert_int_equal(ds_open_skipped(ds), 0);
    for (int64_t i = 0; i < 7; i++) {
        synth_attrs a;
        char cap[256];
        synth_sample(5, SYNTH_TRAIN, i, &a);
        synth_caption(&a, cap, sizeof cap);
        assert_string_equal(ds_caption(ds, i), cap);
        img_u8 want, got;
        CHECK(synth_render(&a, 24, &want));
        CHECK(ds_load_image(ds, i, &got));
        assert_int_equal(got.w, 24);
        assert_int_equal(got.h, 24);
        assert_memory_equal(got.px, want.px, 24 * 24 * 3);
        img_free(&want);
        img_free(&got);
    }
    ds_close(ds);
    /* same seed, same bytes */
    char dir2[1024];
    snprintf(dir2, sizeof dir2, "%s", iot_path("wds2"));
    o.out_dir = dir2;
    CHECK(synth_write_dataset_wds(&o, 3));
    size_t na, nb;
    uint8_t *a = iot_slurp(iot_path("wds/shards/shard-000001.tar"), &na);
    uint8_t *b = iot_slurp(iot_path("wds2/shards/shard-000001.tar"), &nb);
    assert_int_equal(na, nb);
    assert_int_equal(na % 512, 0);
    assert_memory_equal(a, b, na);
    free(a);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_damaged),
        cmocka_unit_test(test_synth_wds_reads_back),
    };
    return cmocka_run_group_tests(tests, setup, iot_teardown);
}
