/* Embedding folders (io/emb_shards_read.c): manifest.json, a shard's .npy
 * through the memory map, its metadata CSV and failed.csv, as a resume reads
 * them (es_*) and as a search opens the folder (embidx_*, shards found by
 * name) when someone else wrote it. The input is split on FZ_SEP into those
 * four files (manifest, img_emb_0000.npy, metadata_0000.csv, failed.csv). */
#include <stdlib.h>
#include <string.h>

#include "io/emb_index.h"
#include "io/emb_shards.h"
#include "tests/fuzz/fuzz_util.h"

static const char *const names[4] = {"manifest.json", "img_emb_0000.npy", "metadata_0000.csv",
                                      "failed.csv"};

/* Every promised float is readable. */
static void touch_rows(es_mapped *s)
{
    volatile float sum = 0;
    for (int64_t i = 0; i < s->n_rows * s->dim; i++)
        sum += s->rows[i];
    (void)sum;
    es_shard_unmap(s);
}

/* The folder as `clipcl search` reads it: every shard, the first and last
 * rows' metadata. */
static void open_as_index(const char *dir)
{
    embidx ix;
    int rc = embidx_open(&ix, dir, EMBIDX_AUTO);
    fz_check_error(rc, "embidx_open");
    for (int s = 0; !rc && s < ix.n_shards; s++) {
        es_mapped v;
        int r = embidx_map(&ix, s, &v);
        fz_check_error(r, "embidx_map");
        if (!r)
            touch_rows(&v);
    }
    if (rc || ix.rows == 0) {
        embidx_close(&ix);
        return;
    }
    int64_t rows[2] = {0, ix.rows - 1};
    embidx_meta m[2];
    rc = embidx_metadata(&ix, rows, 2, m);
    fz_check_error(rc, "embidx_metadata");
    for (int i = 0; !rc && i < 2; i++)
        if (!m[i].key || !m[i].path || !m[i].member || !m[i].caption)
            abort();
    embidx_meta_free(m, 2);
    embidx_close(&ix);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (1u << 20))
        return 0;
    const uint8_t *part[FZ_MAX_PARTS];
    size_t len[FZ_MAX_PARTS];
    int n = fz_split(data, size, part, len, 4);
    char path[512];
    for (int i = 0; i < 4; i++) {
        if (i < n)
            fz_write(path, sizeof path, names[i], part[i], len[i]);
        else
            fz_remove(names[i]);
    }
    const char *dir = fz_dir();
    es_manifest m;
    int rc = es_manifest_read(dir, &m);
    fz_check_error(rc, "es_manifest_read");
    for (int k = 0; !rc && k < m.n_shards && k < 4; k++) {
        es_mapped s;
        int r = es_shard_map(dir, &m, k, &s);
        fz_check_error(r, "es_shard_map");
        if (!r) {
            touch_rows(&s);
        }
        es_table t;
        r = es_metadata_read(dir, &m, k, &t);
        fz_check_error(r, "es_metadata_read");
        for (int64_t i = 0; !r && i < t.n; i++)
            if (!t.rows[i].key || !t.rows[i].path || !t.rows[i].member || !t.rows[i].caption)
                abort();
        if (!r)
            es_table_free(&t);
    }
    if (!rc)
        es_manifest_free(&m);
    es_table f;
    rc = es_failed_read(dir, &f);
    fz_check_error(rc, "es_failed_read");
    for (int64_t i = 0; !rc && i < f.n; i++)
        if (!f.rows[i].path || !f.rows[i].member || !f.rows[i].error)
            abort();
    if (!rc)
        es_table_free(&f);
    open_as_index(dir);
    return 0;
}
