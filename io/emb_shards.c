/* Embedding folders, the writing side (io/emb_shards.h): shards, metadata,
 * failed.csv and the manifest, each file atomically; the reader is
 * io/emb_shards_read.c. */
#include "io/emb_shards.h"

#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/atomic_file.h"
#include "io/npy.h"
#include "runtime/grow.h"
#include "runtime/status.h"

const char *es_kind_name(int kind) { return kind == ES_TEXT ? "text" : "image"; }
const char *es_npy_prefix(int kind) { return kind == ES_TEXT ? "text_emb" : "img_emb"; }
const char *es_meta_prefix(int kind) { return kind == ES_TEXT ? "text_metadata" : "metadata"; }

int es_join(char *buf, size_t cap, const char *dir, const char *name)
{
    int n = snprintf(buf, cap, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= cap)
        return cc_fail(CC_ERR_INVALID, "path too long: %s/%s", dir, name);
    return CC_OK;
}

void es_shard_names(int kind, int k, es_shard *s)
{
    snprintf(s->file, sizeof s->file, "%s_%04d.npy", es_npy_prefix(kind), k);
    snprintf(s->metadata, sizeof s->metadata, "%s_%04d.csv", es_meta_prefix(kind), k);
}

/* ---- CSV text ---- */

typedef struct buf {
    char *p;
    size_t n, cap;
    int failed;
} buf;

static void put(buf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->cap ? b->cap * 2 : 4096) + n;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

/* RFC 4180: a field with a comma, quote or line break is quoted, quotes doubled. */
static void put_field(buf *b, const char *s, int last)
{
    s = s ? s : "";
    if (strpbrk(s, ",\"\r\n")) {
        put(b, "\"", 1);
        for (const char *q; (q = strchr(s, '"')) != NULL; s = q + 1) {
            put(b, s, (size_t)(q - s));
            put(b, "\"\"", 2);
        }
        put(b, s, strlen(s));
        put(b, "\"", 1);
    } else {
        put(b, s, strlen(s));
    }
    put(b, last ? "\n" : ",", 1);
}

static int commit_text(const char *path, buf *b)
{
    if (b->failed)
        return cc_fail(CC_ERR_NOMEM, "%s: out of memory", path);
    io_atomic a;
    int rc = io_atomic_open(&a, path);
    if (rc == CC_OK)
        rc = io_atomic_write(&a, b->p ? b->p : "", b->n);
    if (rc == CC_OK)
        return io_atomic_commit(&a);
    io_atomic_abort(&a);
    return rc;
}

/* Writes path atomically: the header, then per row the fields named by
 * `columns` (of key, path, member, caption, error; -1 ends the list). */
static int write_table(const char *path, const char *header, const int *columns,
                       const es_row *rows, int64_t n)
{
    buf b = {0};
    put(&b, header, strlen(header));
    put(&b, "\n", 1);
    for (int64_t i = 0; i < n; i++) {
        const char *fields[5] = {rows[i].key, rows[i].path, rows[i].member, rows[i].caption,
                                 rows[i].error};
        for (int c = 0; columns[c] >= 0; c++)
            put_field(&b, fields[columns[c]], columns[c + 1] < 0);
    }
    int rc = commit_text(path, &b);
    free(b.p);
    return rc;
}

int es_failed_write(const char *dir, const es_row *rows, int64_t n)
{
    char path[4096];
    static const int columns[] = {1, 2, 4, -1};
    int rc = es_join(path, sizeof path, dir, "failed.csv");
    return rc ? rc : write_table(path, "path,member,error", columns, rows, n);
}

int es_shard_write(const char *dir, es_manifest *m, const float *x, int64_t rows,
                   const es_row *meta, int64_t input_begin, int64_t input_end)
{
    if (cc_grow((void **)&m->shards, &m->cap_shards, m->n_shards + 1, sizeof *m->shards,
                "manifest shards"))
        return CC_ERR_NOMEM;
    es_shard *s = &m->shards[m->n_shards];
    memset(s, 0, sizeof *s);
    es_shard_names(m->kind, m->n_shards, s);
    s->rows = rows;
    s->first_row = m->rows;
    s->input_begin = input_begin;
    s->input_end = input_end;
    char path[4096];
    int rc = es_join(path, sizeof path, dir, s->file);
    int64_t shape[2] = {rows, m->embed_dim};
    if (!rc)
        rc = npy_write_f32(path, x, shape, 2);
    if (!rc)
        rc = es_join(path, sizeof path, dir, s->metadata);
    static const int columns[] = {0, 1, 2, 3, -1};
    if (!rc)
        rc = write_table(path, "key,path,member,caption", columns, meta, rows);
    if (!rc) {
        m->n_shards++;
        m->rows += rows;
    }
    return rc;
}

/* ---- manifest ---- */

static void add_str(json_object *o, const char *k, const char *v)
{
    json_object_object_add(o, k, json_object_new_string(v ? v : ""));
}
static void add_int(json_object *o, const char *k, int64_t v)
{
    json_object_object_add(o, k, json_object_new_int64(v));
}

int es_manifest_write(const char *dir, const es_manifest *m)
{
    char path[4096];
    int rc = es_join(path, sizeof path, dir, "manifest.json");
    if (rc)
        return rc;
    json_object *o = json_object_new_object();
    add_str(o, "kind", es_kind_name(m->kind));
    add_str(o, "model", m->model);
    add_int(o, "embed_dim", m->embed_dim);
    json_object_object_add(o, "normalized", json_object_new_boolean(m->normalized));
    add_int(o, "shard_size", m->shard_size);
    add_int(o, "rows", m->rows);
    json_object *arr = json_object_new_array();
    for (int i = 0; i < m->n_shards; i++) {
        json_object *s = json_object_new_object();
        add_str(s, "file", m->shards[i].file);
        add_str(s, "metadata", m->shards[i].metadata);
        add_int(s, "rows", m->shards[i].rows);
        json_object *in = json_object_new_array();
        json_object_array_add(in, json_object_new_int64(m->shards[i].input_begin));
        json_object_array_add(in, json_object_new_int64(m->shards[i].input_end));
        json_object_object_add(s, "inputs", in);
        json_object_array_add(arr, s);
    }
    json_object_object_add(o, "shards", arr);
    add_int(o, "failed", m->failed);
    add_str(o, "data", m->data);
    add_int(o, "inputs", m->inputs);
    add_int(o, "batch", m->batch);
    json_object_object_add(o, "complete", json_object_new_boolean(m->complete));
    int flags = JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE;
    const char *text = json_object_to_json_string_ext(o, flags);
    buf b = {0};
    put(&b, text, strlen(text));
    put(&b, "\n", 1);
    rc = commit_text(path, &b);
    free(b.p);
    json_object_put(o);
    return rc;
}

void es_manifest_free(es_manifest *m)
{
    free(m->model);
    free(m->data);
    free(m->shards);
    memset(m, 0, sizeof *m);
}
