/* Embedding folder as a search opens it (io/emb_index.h): the shards found
 * by name, the manifest, each .npy and metadata file read through the one
 * reader of io/emb_shards.h. */
#include "io/emb_index.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "runtime/grow.h"
#include "runtime/status.h"

/* A shard number beyond this is a typo'd or hostile name, not a real index:
 * 100,000 shards of 10,000 rows are a billion rows. More digits than
 * MAX_DIGITS (zeros in front) would not fit an es_shard's names. */
#define MAX_SHARD_NUMBER 99999999L
#define MAX_DIGITS 32

/* "PREFIX_<digits>.npy" -> the number, else -1. */
static long shard_number(const char *name, const char *prefix)
{
    size_t pl = strlen(prefix);
    if (strncmp(name, prefix, pl) != 0 || name[pl] != '_')
        return -1;
    const char *d = name + pl + 1;
    long v = 0;
    int digits = 0;
    while (*d >= '0' && *d <= '9') {
        if (v > MAX_SHARD_NUMBER || ++digits > MAX_DIGITS)
            return -1;
        v = v * 10 + (*d++ - '0');
    }
    return digits && strcmp(d, ".npy") == 0 ? v : -1;
}

typedef struct found {
    long number;
    char name[64];
} found;

static int by_number(const void *a, const void *b)
{
    long x = ((const found *)a)->number, y = ((const found *)b)->number;
    return (x > y) - (x < y);
}

/* The shard file names of one kind in dir, sorted by number. */
static int list_shards(const char *dir, int kind, found **out, int *n_out)
{
    *out = NULL;
    *n_out = 0;
    DIR *d = opendir(dir);
    if (!d)
        return cc_fail(CC_ERR_IO, "index %s: %s", dir, strerror(errno));
    found *f = NULL;
    int n = 0, cap = 0, rc = CC_OK;
    for (struct dirent *e; rc == CC_OK && (e = readdir(d)) != NULL;) {
        long num = shard_number(e->d_name, es_npy_prefix(kind));
        size_t len = strlen(e->d_name);
        if (num < 0 || len >= sizeof f->name)
            continue;
        rc = cc_grow((void **)&f, &cap, n + 1, sizeof *f, "shard list");
        if (rc == CC_OK) {
            f[n].number = num;
            memcpy(f[n++].name, e->d_name, len + 1);
        }
    }
    closedir(d);
    if (rc != CC_OK) {
        free(f);
        return rc;
    }
    if (n > 1)
        qsort(f, (size_t)n, sizeof *f, by_number);
    *out = f;
    *n_out = n;
    return CC_OK;
}

/* Shard i: its metadata name (the same digits), its rows from the .npy
 * header, its width checked; the metadata must exist (it is read when a
 * hit needs it). */
static int add_shard(embidx *ix, const found *f, int i)
{
    es_shard *s = &ix->shards[i];
    const char *digits = f->name + strlen(es_npy_prefix(ix->kind)) + 1;
    snprintf(s->file, sizeof s->file, "%s", f->name);
    snprintf(s->metadata, sizeof s->metadata, "%s_%.*s.csv", es_meta_prefix(ix->kind),
             (int)(strlen(digits) - strlen(".npy")), digits);
    s->rows = -1;
    es_mapped v;
    int rc = es_npy_map(ix->dir, s, ix->dim,
                        i == 0 ? "the manifest's embed_dim" : "the width of the first shard", &v);
    if (rc != CC_OK)
        return rc;
    s->rows = v.n_rows;
    s->first_row = ix->rows;
    ix->rows += v.n_rows;
    ix->dim = v.dim;
    es_shard_unmap(&v);
    char meta[4096];
    struct stat st;
    rc = es_join(meta, sizeof meta, ix->dir, s->metadata);
    if (rc == CC_OK && (stat(meta, &st) != 0 || !S_ISREG(st.st_mode)))
        rc = cc_fail(CC_ERR_IO, "%s: missing (the metadata of %s)", meta, s->file);
    return rc;
}

static int open_shards(embidx *ix, int auto_kind)
{
    found *f = NULL;
    int n = 0;
    int rc = list_shards(ix->dir, ix->kind, &f, &n);
    if (rc != CC_OK)
        return rc;
    if (n == 0 && auto_kind)
        rc = cc_fail(CC_ERR_IO, "index %s: no img_emb_NNNN.npy or text_emb_NNNN.npy shards "
                                "(expected the output folder of `clipcl embed-image --data`)",
                     ix->dir);
    else if (n == 0)
        rc = cc_fail(CC_ERR_IO, "index %s: no %s_NNNN.npy shards (expected the output folder of "
                                "`clipcl embed-%s --data`)", ix->dir, es_npy_prefix(ix->kind),
                     es_kind_name(ix->kind));
    /* Shards are numbered from 0 without gaps; a gap means a shard was lost
     * and every later row's metadata would belong to the wrong image. */
    for (int i = 0; i < n && rc == CC_OK; i++)
        if (f[i].number != i)
            rc = cc_fail(CC_ERR_IO, "index %s: %s_%04d.npy is missing (found %s)", ix->dir,
                         es_npy_prefix(ix->kind), i, f[i].name);
    if (rc == CC_OK && n > 0 && !(ix->shards = calloc((size_t)n, sizeof *ix->shards)))
        rc = cc_fail(CC_ERR_NOMEM, "index %s: out of memory", ix->dir);
    for (int i = 0; i < n && rc == CC_OK; i++) {
        rc = add_shard(ix, &f[i], i);
        ix->n_shards = i + 1;
    }
    free(f);
    return rc;
}

int embidx_open(embidx *ix, const char *dir, int kind)
{
    memset(ix, 0, sizeof *ix);
    ix->normalized = -1;
    struct stat st;
    if (stat(dir, &st) != 0)
        return cc_fail(CC_ERR_IO, "index %s: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return cc_fail(CC_ERR_IO, "index %s: not a folder (expected the folder of shards)", dir);
    if (!(ix->dir = strdup(dir)))
        return cc_fail(CC_ERR_NOMEM, "index %s: out of memory", dir);
    es_manifest m;
    int rc = es_manifest_read_optional(dir, &m);
    int auto_kind = kind == EMBIDX_AUTO && m.kind == EMBIDX_AUTO;
    if (rc == CC_OK && auto_kind) {
        found *f = NULL;
        int n = 0;
        rc = list_shards(dir, EMBIDX_IMAGE, &f, &n);
        free(f);
        kind = n > 0 ? EMBIDX_IMAGE : EMBIDX_TEXT;
    } else if (kind == EMBIDX_AUTO) {
        kind = m.kind;
    }
    ix->kind = kind;
    /* embed_dim describes the manifest's own kind only. */
    ix->dim = m.kind == kind ? m.embed_dim : 0;
    ix->normalized = m.normalized;
    ix->model = m.model;
    ix->data = m.data;
    m.model = m.data = NULL;
    es_manifest_free(&m);
    if (rc == CC_OK)
        rc = open_shards(ix, auto_kind);
    if (rc != CC_OK)
        embidx_close(ix);
    return rc;
}

void embidx_close(embidx *ix)
{
    if (!ix)
        return;
    free(ix->shards);
    free(ix->dir);
    free(ix->model);
    free(ix->data);
    memset(ix, 0, sizeof *ix);
}

int embidx_map(const embidx *ix, int s, es_mapped *v)
{
    int rc = es_npy_map(ix->dir, &ix->shards[s], ix->dim, "as when the index was opened", v);
    if (rc == CC_OK) {
        /* Read once, front to back. */
        madvise(v->map_, v->map_len_, MADV_SEQUENTIAL);
        madvise(v->map_, v->map_len_, MADV_WILLNEED);
    }
    return rc;
}

int embidx_metadata(const embidx *ix, const int64_t *rows, int n, embidx_meta *out)
{
    memset(out, 0, (size_t)n * sizeof *out);
    int rc = CC_OK;
    for (int i = 0; i < n && rc == CC_OK; i++)
        if (rows[i] < 0 || rows[i] >= ix->rows)
            rc = cc_fail(CC_ERR_INVALID, "index %s: row %lld out of range (%lld rows)", ix->dir,
                         (long long)rows[i], (long long)ix->rows);
    /* Shard by shard, each read once if it holds any of the rows. */
    for (int s = 0; s < ix->n_shards && rc == CC_OK; s++) {
        const es_shard *sh = &ix->shards[s];
        es_table t = {0};
        for (int i = 0; i < n && rc == CC_OK; i++) {
            int64_t r = rows[i] - sh->first_row;
            if (r < 0 || r >= sh->rows || (!t.rows && (rc = es_shard_metadata(ix->dir, sh, &t))))
                continue;
            const es_row *m = &t.rows[r];
            out[i] = (embidx_meta){strdup(m->key), strdup(m->path), strdup(m->member),
                                   strdup(m->caption)};
            if (!out[i].key || !out[i].path || !out[i].member || !out[i].caption)
                rc = cc_fail(CC_ERR_NOMEM, "index %s: out of memory", ix->dir);
        }
        es_table_free(&t);
    }
    if (rc != CC_OK)
        embidx_meta_free(out, n);
    return rc;
}

void embidx_meta_free(embidx_meta *m, int n)
{
    for (int i = 0; i < n; i++) {
        free(m[i].key);
        free(m[i].path);
        free(m[i].member);
        free(m[i].caption);
        memset(&m[i], 0, sizeof m[i]);
    }
}
