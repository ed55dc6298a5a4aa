/* Exact search over embedding folders (io/emb_index.h, io/emb_search.h):
 * the top K equal a brute-force ranking computed here, across shard
 * boundaries, thread counts and ties; metadata rows match their .npy rows;
 * every malformed folder is refused with a message naming the file.
 *
 * Vectors hold multiples of 1/16 in [-1, 1], so every dot product of up to
 * 64 terms is a multiple of 1/256 below 2^6 in magnitude: exact in float
 * whatever the summation order. The reference sums in double, in order, and
 * sorts by (score descending, row ascending); the search must give the same
 * rows and the same scores, bit for bit. The coarse values make many equal
 * scores, which is what checks the tie order. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/emb_index.h"
#include "io/emb_search.h"
#include "io/npy.h"
#include "runtime/rng.h"
#include "runtime/settings.h"
#include "runtime/status.h"
#include "tests/io/io_test_util.h"

static int setup(void **state)
{
    (void)state;
    return iot_setup("G_emb_search");
}

static void fill(float *x, int64_t n, uint64_t *s)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)((int)cc_rng_below(s, 33) - 16) / 16.0f;
}

typedef struct ref_hit {
    double score;
    int64_t row;
} ref_hit;

static int ref_order(const void *a, const void *b)
{
    const ref_hit *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return (x->row > y->row) - (x->row < y->row);
}

/* The k best rows of x (rows x dim) for q, by the rule above. */
static ref_hit *brute_force(const float *x, int64_t rows, int dim, const float *q)
{
    ref_hit *r = malloc((size_t)rows * sizeof *r);
    assert_non_null(r);
    for (int64_t i = 0; i < rows; i++) {
        double s = 0;
        for (int j = 0; j < dim; j++)
            s += (double)x[(size_t)i * (size_t)dim + (size_t)j] * q[j];
        r[i] = (ref_hit){s, i};
    }
    qsort(r, (size_t)rows, sizeof *r, ref_order);
    return r;
}

static void assert_same(const embidx_hit *got, int n, const ref_hit *want, int k)
{
    assert_int_equal(n, k);
    for (int i = 0; i < k; i++) {
        if (got[i].row != want[i].row || (double)got[i].score != want[i].score)
            fail_msg("rank %d: row %lld score %.9g, expected row %lld score %.9g", i + 1,
                     (long long)got[i].row, got[i].score, (long long)want[i].row, want[i].score);
    }
}

/* In memory: the rows added in uneven blocks (shards), 1 to 7 threads. */
static void test_topk_equals_brute_force(void **state)
{
    (void)state;
    /* 45 columns: five more than the eight-wide blocks; 24,000 rows are
     * enough floats for four threads (MIN_FLOATS_PER_THREAD). */
    const int dim = 45;
    const int64_t rows = 24000;
    uint64_t s = 7;
    float *x = malloc((size_t)rows * dim * sizeof *x), q[45];
    assert_non_null(x);
    fill(x, rows * dim, &s);
    fill(q, dim, &s);
    /* exact duplicates of row 5 further on: ties that only the row breaks */
    for (int64_t r = 1000; r < rows; r += 4999)
        memcpy(x + (size_t)r * dim, x + 5 * dim, dim * sizeof *x);
    ref_hit *want = brute_force(x, rows, dim, q);
    const int64_t cuts[] = {0, 3, 4001, 4002, 9999, 17001, 24000};
    int ks[] = {1, 5, 64, 1000, 24000};
    int threads[] = {1, 2, 3, 7};
    for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++) {
        for (size_t ti = 0; ti < sizeof threads / sizeof *threads; ti++) {
            embidx_topk *t = NULL;
            assert_int_equal(embidx_topk_create(&t, ks[ki], threads[ti], dim), CC_OK);
            for (size_t c = 0; c + 1 < sizeof cuts / sizeof *cuts; c++)
                assert_int_equal(embidx_topk_add(t, x + (size_t)cuts[c] * dim,
                                                 cuts[c + 1] - cuts[c], cuts[c], q),
                                 CC_OK);
            embidx_hit *got = malloc((size_t)ks[ki] * sizeof *got);
            int n = 0;
            assert_int_equal(embidx_topk_result(t, got, &n), CC_OK);
            assert_same(got, n, want, ks[ki]);
            free(got);
            embidx_topk_free(t);
        }
    }
    /* the comparisons above met ties (518 among the first 1000 with this
     * seed), and K = 1000 cuts through one: rows past the cut tie with rows
     * kept, so only the row order decided which */
    int ties = 0;
    for (int i = 0; i + 1 < 1000; i++)
        ties += want[i].score == want[i + 1].score;
    assert_true(ties >= 100);
    assert_true(want[999].score == want[1000].score);
    free(want);
    free(x);
}

static void test_topk_fewer_rows_and_nan(void **state)
{
    (void)state;
    float x[] = {1, 0, NAN, 0, 0, 1, 1, 0};
    float q[] = {1, 0};
    embidx_topk *t = NULL;
    assert_int_equal(embidx_topk_create(&t, 10, 2, 2), CC_OK);
    assert_int_equal(embidx_topk_add(t, x, 4, 0, q), CC_OK);
    embidx_hit h[10];
    int n = 0;
    assert_int_equal(embidx_topk_result(t, h, &n), CC_OK);
    /* four rows seen, K = 10: four hits; the NaN row last, as -infinity */
    assert_int_equal(n, 4);
    assert_int_equal(h[0].row, 0);
    assert_int_equal(h[1].row, 3);
    assert_int_equal(h[2].row, 2);
    assert_true(h[3].row == 1 && isinf(h[3].score) && h[3].score < 0);
    embidx_topk_free(t);
    assert_int_not_equal(embidx_topk_create(&t, 0, 1, 2), CC_OK);
    assert_int_not_equal(embidx_topk_create(&t, EMBIDX_MAX_K + 1, 1, 2), CC_OK);
    assert_int_not_equal(embidx_topk_create(&t, 1, 0, 2), CC_OK);
}

/* ---- folders on disk ------------------------------------------------------ */

static void write_shard(const char *dir, const char *prefix, int s, const float *x, int64_t rows,
                        int dim)
{
    char p[2100];
    snprintf(p, sizeof p, "%s/%s_%04d.npy", dir, prefix, s);
    int64_t shape[2] = {rows, dim};
    assert_int_equal(npy_write_f32(p, x, shape, 2), CC_OK);
}

/* Row r's metadata: key r<r>, a caption with a comma, quotes and a newline. */
static void write_meta(const char *dir, const char *prefix, int s, int64_t first, int64_t rows)
{
    char p[2100];
    snprintf(p, sizeof p, "%s/%s_%04d.csv", dir, prefix, s);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fprintf(f, "key,path,member,caption\r\n");
    for (int64_t i = first; i < first + rows; i++)
        fprintf(f, "r%lld,shard-%d.tar,r%lld.png,\"row %lld, \"\"quoted\"\"\nline 2\"\r\n",
                (long long)i, s, (long long)i, (long long)i);
    fclose(f);
}

static const char *mkdir_fresh(const char *name)
{
    const char *d = iot_path(name);
    iot_rm_rf(d);
    assert_int_equal(mkdir(d, 0755), 0);
    return d;
}

/* Shards of 7, 7 and 5 rows: the top K across their boundaries. */
static void test_index_across_shards(void **state)
{
    (void)state;
    const char *dir = mkdir_fresh("idx");
    const int dim = 16;
    const int64_t sizes[] = {7, 7, 5}, rows = 19;
    float x[19 * 16], q[16];
    uint64_t s = 3;
    fill(x, rows * dim, &s);
    fill(q, dim, &s);
    memcpy(x + 13 * dim, x + 2 * dim, dim * sizeof *x); /* a tie across shards */
    int64_t first = 0;
    for (int i = 0; i < 3; i++) {
        write_shard(dir, "img_emb", i, x + first * dim, sizes[i], dim);
        write_meta(dir, "metadata", i, first, sizes[i]);
        first += sizes[i];
    }
    iot_write_text(iot_path("idx/manifest.json"),
                   "{\"kind\": \"image\", \"model\": \"m/x\", \"embed_dim\": 16, \"normalized\": "
                   "false, \"data\": \"set.csv\", \"shard_size\": 7, \"rows\": 19, \"shards\": []}");
    embidx ix;
    if (embidx_open(&ix, dir, EMBIDX_AUTO) != CC_OK)
        fail_msg("%s", cc_last_error());
    assert_int_equal(ix.kind, EMBIDX_IMAGE);
    assert_int_equal(ix.dim, 16);
    assert_int_equal(ix.rows, 19);
    assert_int_equal(ix.n_shards, 3);
    assert_int_equal(ix.shards[2].first_row, 14);
    assert_string_equal(ix.model, "m/x");
    assert_string_equal(ix.data, "set.csv");
    assert_int_equal(ix.normalized, 0);
    ref_hit *want = brute_force(x, rows, dim, q);
    for (int k = 1; k <= 19; k++) {
        embidx_hit h[19];
        int n = 0;
        if (embidx_search(&ix, q, k, 2, h, &n) != CC_OK)
            fail_msg("%s", cc_last_error());
        assert_same(h, n, want, k);
    }
    /* metadata of rows in every shard, out of order and repeated */
    int64_t want_rows[] = {18, 0, 7, 6, 13, 7};
    embidx_meta m[6];
    if (embidx_metadata(&ix, want_rows, 6, m) != CC_OK)
        fail_msg("%s", cc_last_error());
    for (int i = 0; i < 6; i++) {
        char key[32], cap[96], member[32], path[32];
        long long r = want_rows[i];
        snprintf(key, sizeof key, "r%lld", r);
        snprintf(member, sizeof member, "r%lld.png", r);
        snprintf(path, sizeof path, "shard-%d.tar", r < 7 ? 0 : r < 14 ? 1 : 2);
        snprintf(cap, sizeof cap, "row %lld, \"quoted\"\nline 2", r);
        assert_string_equal(m[i].key, key);
        assert_string_equal(m[i].path, path);
        assert_string_equal(m[i].member, member);
        assert_string_equal(m[i].caption, cap);
    }
    embidx_meta_free(m, 6);
    /* K beyond the rows */
    embidx_hit h[20];
    int n = 0;
    assert_int_not_equal(embidx_search(&ix, q, 20, 1, h, &n), CC_OK);
    assert_non_null(strstr(cc_last_error(), "K = 20"));
    assert_int_not_equal(embidx_search(&ix, q, 0, 1, h, &n), CC_OK);
    free(want);
    embidx_close(&ix);
}

/* A folder with both kinds: the manifest's kind, or the one asked for. */
static void test_text_shards(void **state)
{
    (void)state;
    const char *dir = mkdir_fresh("both");
    float a[2 * 4] = {1, 0, 0, 0, 0, 1, 0, 0}, t[3 * 8] = {0};
    t[8 + 3] = 1;
    write_shard(dir, "img_emb", 0, a, 2, 4);
    write_meta(dir, "metadata", 0, 0, 2);
    write_shard(dir, "text_emb", 0, t, 3, 8);
    write_meta(dir, "text_metadata", 0, 0, 3);
    embidx ix;
    assert_int_equal(embidx_open(&ix, dir, EMBIDX_AUTO), CC_OK);
    assert_int_equal(ix.kind, EMBIDX_IMAGE); /* no manifest: images first */
    assert_int_equal(ix.dim, 4);
    assert_null(ix.model);
    embidx_close(&ix);
    assert_int_equal(embidx_open(&ix, dir, EMBIDX_TEXT), CC_OK);
    assert_int_equal(ix.kind, EMBIDX_TEXT);
    assert_int_equal(ix.dim, 8);
    assert_int_equal(ix.rows, 3);
    float q[8] = {0, 0, 0, 1, 0, 0, 0, 0};
    embidx_hit h[1];
    int n = 0;
    assert_int_equal(embidx_search(&ix, q, 1, 1, h, &n), CC_OK);
    assert_int_equal(h[0].row, 1);
    embidx_close(&ix);
    iot_write_text(iot_path("both/manifest.json"), "{\"kind\": \"text\", \"embed_dim\": 8}");
    assert_int_equal(embidx_open(&ix, dir, EMBIDX_AUTO), CC_OK);
    assert_int_equal(ix.kind, EMBIDX_TEXT);
    embidx_close(&ix);
    /* the manifest's embed_dim is the text width: not held against images */
    assert_int_equal(embidx_open(&ix, dir, EMBIDX_IMAGE), CC_OK);
    assert_int_equal(ix.dim, 4);
    embidx_close(&ix);
}

/* Opening dir fails with a message that contains each of the words. */
static void refused(const char *dir, int kind, const char *w1, const char *w2)
{
    embidx ix;
    int rc = embidx_open(&ix, dir, kind);
    if (rc == CC_OK)
        fail_msg("%s: opened, expected an error about %s", dir, w1);
    const char *e = cc_last_error();
    if (!strstr(e, w1) || (w2 && !strstr(e, w2)))
        fail_msg("error \"%s\" should name \"%s\"%s%s", e, w1, w2 ? " and " : "", w2 ? w2 : "");
    assert_null(strchr(e, '\n'));
}

static void test_bad_folders(void **state)
{
    (void)state;
    float x[4 * 8] = {0};
    refused(iot_path("nowhere"), EMBIDX_AUTO, "nowhere", "No such file");
    iot_write_text(iot_path("plain"), "x");
    refused(iot_path("plain"), EMBIDX_AUTO, "plain", "not a folder");
    const char *d = mkdir_fresh("empty");
    refused(d, EMBIDX_AUTO, "no img_emb_NNNN.npy or text_emb_NNNN.npy", NULL);
    refused(d, EMBIDX_TEXT, "no text_emb_NNNN.npy", NULL);
    /* a gap: shard 1 missing */
    d = mkdir_fresh("gap");
    write_shard(d, "img_emb", 0, x, 4, 8);
    write_meta(d, "metadata", 0, 0, 4);
    write_shard(d, "img_emb", 2, x, 4, 8);
    write_meta(d, "metadata", 2, 4, 4);
    refused(d, EMBIDX_AUTO, "img_emb_0001.npy is missing", NULL);
    /* widths differ */
    d = mkdir_fresh("width");
    write_shard(d, "img_emb", 0, x, 4, 8);
    write_meta(d, "metadata", 0, 0, 4);
    write_shard(d, "img_emb", 1, x, 2, 16);
    write_meta(d, "metadata", 1, 4, 2);
    refused(d, EMBIDX_AUTO, "img_emb_0001.npy: 16 columns, expected 8", NULL);
    /* the manifest says another width */
    d = mkdir_fresh("mdim");
    write_shard(d, "img_emb", 0, x, 4, 8);
    write_meta(d, "metadata", 0, 0, 4);
    iot_write_text(iot_path("mdim/manifest.json"), "{\"kind\": \"image\", \"embed_dim\": 512}");
    refused(d, EMBIDX_AUTO, "8 columns, expected 512", "manifest");
    iot_write_text(iot_path("mdim/manifest.json"), "{\"kind\": \"audio\"}");
    refused(d, EMBIDX_AUTO, "manifest.json", "audio");
    iot_write_text(iot_path("mdim/manifest.json"), "{\"kind\": ");
    refused(d, EMBIDX_AUTO, "manifest.json", "not a JSON object");
    /* no metadata */
    d = mkdir_fresh("nometa");
    write_shard(d, "img_emb", 0, x, 4, 8);
    refused(d, EMBIDX_AUTO, "metadata_0000.csv: missing", NULL);
    /* not 2-D, not float32 */
    d = mkdir_fresh("shape");
    int64_t shape3[3] = {2, 2, 8};
    char p[2100];
    snprintf(p, sizeof p, "%s/img_emb_0000.npy", d);
    assert_int_equal(npy_write_f32(p, x, shape3, 3), CC_OK);
    write_meta(d, "metadata", 0, 0, 2);
    refused(d, EMBIDX_AUTO, "3-D array", "img_emb_0000.npy");
    int32_t ints[8] = {0};
    int64_t shape2[2] = {1, 8};
    assert_int_equal(npy_write_i32(p, ints, shape2, 2), CC_OK);
    refused(d, EMBIDX_AUTO, "dtype '<i4'", "img_emb_0000.npy");
    /* a truncated shard */
    write_shard(d, "img_emb", 0, x, 4, 8);
    assert_int_equal(truncate(p, 200), 0);
    refused(d, EMBIDX_AUTO, "truncated", "img_emb_0000.npy");
}

/* npy_read_header on files numpy wrote (format 1.0 and 2.0): the shape,
 * and the offset at which npy_read's data sits in the file. */
static void test_npy_header_of_numpy_files(void **state)
{
    (void)state;
    const char *d = rt_setting_value(RT_SET_TEST_DATA);
    const char *names[] = {"npy_numpy_f32_2x3x4.npy", "npy_numpy_f32_v2.npy"};
    for (int i = 0; i < 2; i++) {
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", d ? d : "tests/data", names[i]);
        npy_array a;
        if (npy_read_f32(p, &a) != CC_OK)
            fail_msg("%s", cc_last_error());
        int64_t shape[NPY_MAX_DIMS], off = 0;
        int ndim = 0;
        if (npy_read_header(p, NPY_F32, shape, &ndim, &off) != CC_OK)
            fail_msg("%s", cc_last_error());
        assert_int_equal(ndim, a.ndim);
        for (int k = 0; k < ndim; k++)
            assert_int_equal(shape[k], a.shape[k]);
        size_t n = 0;
        uint8_t *raw = iot_slurp(p, &n);
        assert_int_equal((size_t)off + (size_t)a.numel * 4, n);
        assert_memory_equal(raw + off, a.data, (size_t)a.numel * 4);
        free(raw);
        npy_free(&a);
        assert_int_not_equal(npy_read_header(p, NPY_I32, shape, &ndim, &off), CC_OK);
    }
}

/* Metadata that does not match its shard: found when its rows are read. */
static void test_bad_metadata(void **state)
{
    (void)state;
    float x[4 * 8] = {0};
    const char *d = mkdir_fresh("meta");
    write_shard(d, "img_emb", 0, x, 4, 8);
    write_meta(d, "metadata", 0, 0, 3); /* one record short */
    embidx ix;
    assert_int_equal(embidx_open(&ix, d, EMBIDX_AUTO), CC_OK);
    int64_t row = 1;
    embidx_meta m;
    assert_int_not_equal(embidx_metadata(&ix, &row, 1, &m), CC_OK);
    assert_non_null(strstr(cc_last_error(), "3 records, expected 4"));
    assert_null(m.key);
    iot_write_text(iot_path("meta/metadata_0000.csv"), "key,path,caption\na,b,c\n");
    assert_int_not_equal(embidx_metadata(&ix, &row, 1, &m), CC_OK);
    assert_non_null(strstr(cc_last_error(), "no \"member\" column"));
    iot_write_text(iot_path("meta/metadata_0000.csv"),
                   "\xEF\xBB\xBFkey,path,member,caption\na,b,,c\na,\"b\n");
    assert_int_not_equal(embidx_metadata(&ix, &row, 1, &m), CC_OK);
    assert_non_null(strstr(cc_last_error(), "metadata_0000.csv:3: a quoted field is not closed"));
    iot_write_text(iot_path("meta/metadata_0000.csv"), "key,path,member,caption\na,b,c\n");
    assert_int_not_equal(embidx_metadata(&ix, &row, 1, &m), CC_OK);
    assert_non_null(strstr(cc_last_error(), "metadata_0000.csv:2: 3 fields, expected 4"));
    /* columns in another order, a BOM, no final newline */
    iot_write_text(iot_path("meta/metadata_0000.csv"),
                   "\xEF\xBB\xBF" "caption,member,path,key\nc0,,p0,k0\nc1,,p1,k1\nc2,,p2,k2\nc3,,p3,k3");
    row = 3;
    assert_int_equal(embidx_metadata(&ix, &row, 1, &m), CC_OK);
    assert_string_equal(m.key, "k3");
    assert_string_equal(m.path, "p3");
    assert_string_equal(m.member, "");
    assert_string_equal(m.caption, "c3");
    embidx_meta_free(&m, 1);
    embidx_close(&ix);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topk_equals_brute_force),
        cmocka_unit_test(test_topk_fewer_rows_and_nan),
        cmocka_unit_test(test_index_across_shards),
        cmocka_unit_test(test_text_shards),
        cmocka_unit_test(test_bad_folders),
        cmocka_unit_test(test_bad_metadata),
        cmocka_unit_test(test_npy_header_of_numpy_files),
    };
    return cmocka_run_group_tests(tests, setup, iot_teardown);
}
