/* Embedding folders, the reading side (io/emb_shards.h): the one reader of
 * the manifest, a shard's rows by memory map, and the metadata / failed.csv
 * tables, for `clipcl embed-* --resume` and `clipcl search` alike
 * (io/emb_index.h finds shards by name and reads them through here). Files
 * may come from anywhere, so every size and name is checked. */
#include "io/emb_shards.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/npy.h"
#include "runtime/grow.h"
#include "runtime/status.h"

#define MAX_TEXT_FILE (1LL << 31) /* a metadata or failed.csv larger than this is not ours */

int es_read_text(const char *path, long long max_bytes, char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return cc_fail(CC_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > max_bytes) {
        fclose(f);
        return cc_fail(CC_ERR_IO, "%s: not a regular file of at most %lld bytes", path,
                       max_bytes);
    }
    char *p = malloc((size_t)st.st_size + 1);
    if (!p) {
        fclose(f);
        return cc_fail(CC_ERR_NOMEM, "%s: out of memory", path);
    }
    size_t n = fread(p, 1, (size_t)st.st_size, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || n != (size_t)st.st_size) {
        free(p);
        return cc_fail(CC_ERR_IO, "cannot read %s", path);
    }
    p[n] = '\0';
    *out = p;
    *len = n;
    return CC_OK;
}

/* ---- manifest.json ---- */

/* Field k of o with the type wanted: NULL when absent (or null) and not
 * required; an error naming the file (`where`) and the field when required
 * and absent, or of another type. */
static json_object *field(const char *where, json_object *o, const char *k, json_type t,
                          int required, int *rc)
{
    json_object *v = NULL;
    if (*rc)
        return NULL;
    if (!json_object_object_get_ex(o, k, &v) || json_object_is_type(v, json_type_null)) {
        if (required)
            *rc = cc_fail(CC_ERR_INVALID, "%s: field \"%s\" missing (expected a %s)", where, k,
                          json_type_to_name(t));
        return NULL;
    }
    if (!json_object_is_type(v, t)) {
        *rc = cc_fail(CC_ERR_INVALID, "%s: field \"%s\" is not a %s", where, k,
                      json_type_to_name(t));
        return NULL;
    }
    return v;
}

/* An integer field from lo to hi, or `unset` when absent and not required. */
static int64_t int_field(const char *where, json_object *o, const char *k, int64_t lo, int64_t hi,
                         int required, int64_t unset, int *rc)
{
    json_object *v = field(where, o, k, json_type_int, required, rc);
    int64_t x = v ? json_object_get_int64(v) : unset;
    if (v && (x < lo || x > hi))
        *rc = cc_fail(CC_ERR_INVALID, "%s: field \"%s\" is %" PRId64 ", expected %" PRId64
                      " to %" PRId64, where, k, x, lo, hi);
    return *rc ? unset : x;
}

/* A string field as an owned copy; NULL when absent and not required. */
static char *str_field(const char *where, json_object *o, const char *k, int required, int *rc)
{
    json_object *v = field(where, o, k, json_type_string, required, rc);
    char *s = v ? strdup(json_object_get_string(v)) : NULL;
    if (v && !s)
        *rc = cc_fail(CC_ERR_NOMEM, "%s: out of memory", where);
    return s;
}

static int read_shard_entry(const char *path, json_object *s, int k, es_manifest *m)
{
    char where[4200];
    snprintf(where, sizeof where, "%s: shard %d", path, k);
    if (!json_object_is_type(s, json_type_object))
        return cc_fail(CC_ERR_INVALID, "%s is not an object", where);
    int rc = CC_OK;
    es_shard *e = &m->shards[k];
    memset(e, 0, sizeof *e);
    json_object *f = field(where, s, "file", json_type_string, 1, &rc);
    json_object *md = field(where, s, "metadata", json_type_string, 1, &rc);
    e->rows = int_field(where, s, "rows", 1, INT64_MAX, 1, 0, &rc);
    if (rc)
        return rc;
    const char *fs = json_object_get_string(f), *ms = json_object_get_string(md);
    /* Names stay inside DIR: a manifest cannot point a reader elsewhere. */
    if (strlen(fs) >= sizeof e->file || strlen(ms) >= sizeof e->metadata || strchr(fs, '/') ||
        strchr(ms, '/') || fs[0] == '.' || ms[0] == '.')
        return cc_fail(CC_ERR_INVALID, "%s: file names must be plain names in the folder", where);
    strcpy(e->file, fs);
    strcpy(e->metadata, ms);
    e->first_row = m->rows;
    json_object *in = NULL;
    if (json_object_object_get_ex(s, "inputs", &in) && json_object_is_type(in, json_type_array) &&
        json_object_array_length(in) == 2) {
        e->input_begin = json_object_get_int64(json_object_array_get_idx(in, 0));
        e->input_end = json_object_get_int64(json_object_array_get_idx(in, 1));
    }
    return CC_OK;
}

/* required: every agreed field must be there (a resume); else a field left
 * out stays unset and a missing file is an empty manifest. */
static int manifest_read(const char *dir, int required, es_manifest *m)
{
    memset(m, 0, sizeof *m);
    m->kind = m->normalized = -1;
    m->inputs = -1;
    char path[4096];
    int rc = es_join(path, sizeof path, dir, "manifest.json");
    if (!rc && !required && access(path, F_OK) != 0)
        return CC_OK; /* shards and metadata suffice */
    char *text = NULL;
    size_t len = 0;
    if (!rc)
        rc = es_read_text(path, MAX_TEXT_FILE, &text, &len);
    if (rc)
        return rc;
    json_object *o = json_tokener_parse(text);
    free(text);
    if (!o || !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return cc_fail(CC_ERR_INVALID, "%s: not a JSON object", path);
    }
    json_object *kind = field(path, o, "kind", json_type_string, required, &rc);
    if (kind) {
        const char *k = json_object_get_string(kind);
        if (strcmp(k, "image") != 0 && strcmp(k, "text") != 0)
            rc = cc_fail(CC_ERR_INVALID, "%s: \"kind\" is \"%s\", expected \"image\" or \"text\"",
                         path, k);
        m->kind = strcmp(k, "text") == 0 ? ES_TEXT : ES_IMAGE;
    }
    m->model = str_field(path, o, "model", required, &rc);
    m->data = str_field(path, o, "data", 0, &rc);
    if (!rc && required && !m->data && !(m->data = strdup("")))
        rc = cc_fail(CC_ERR_NOMEM, "%s: out of memory", path);
    m->embed_dim = (int)int_field(path, o, "embed_dim", 1, ES_MAX_DIM, required, 0, &rc);
    json_object *norm = field(path, o, "normalized", json_type_boolean, required, &rc);
    m->normalized = norm ? json_object_get_boolean(norm) : -1;
    m->shard_size = int_field(path, o, "shard_size", 1, INT64_MAX, required, 0, &rc);
    m->failed = int_field(path, o, "failed", 0, INT64_MAX, required, 0, &rc);
    m->inputs = int_field(path, o, "inputs", 0, INT64_MAX, 0, -1, &rc);
    m->batch = (int)int_field(path, o, "batch", 0, INT32_MAX, 0, 0, &rc);
    json_object *complete = field(path, o, "complete", json_type_boolean, 0, &rc);
    m->complete = complete && json_object_get_boolean(complete);
    json_object *shards = field(path, o, "shards", json_type_array, required, &rc);
    int n = rc || !shards ? 0 : (int)json_object_array_length(shards);
    if (n > 0 && cc_grow((void **)&m->shards, &m->cap_shards, n, sizeof *m->shards,
                         "manifest shards"))
        rc = CC_ERR_NOMEM;
    for (int k = 0; k < n && !rc; k++) {
        rc = read_shard_entry(path, json_object_array_get_idx(shards, (size_t)k), k, m);
        if (!rc) {
            m->n_shards = k + 1;
            m->rows += m->shards[k].rows;
        }
    }
    json_object_put(o);
    if (rc)
        es_manifest_free(m);
    return rc;
}

int es_manifest_read(const char *dir, es_manifest *m) { return manifest_read(dir, 1, m); }

int es_manifest_read_optional(const char *dir, es_manifest *m) { return manifest_read(dir, 0, m); }

/* ---- mapping a shard ---- */

int es_npy_map(const char *dir, const es_shard *s, int dim, const char *expected, es_mapped *out)
{
    memset(out, 0, sizeof *out);
    char path[4096];
    int64_t shape[NPY_MAX_DIMS], off = 0;
    int ndim = 0;
    int rc = es_join(path, sizeof path, dir, s->file);
    if (!rc)
        rc = npy_read_header(path, NPY_F32, shape, &ndim, &off);
    if (rc)
        return rc;
    if (ndim != 2 || shape[1] < 1 || shape[1] > ES_MAX_DIM)
        return cc_fail(CC_ERR_SHAPE, "%s: %d-D array, expected rows x embed_dim (2-D, width 1 "
                       "to %d)", path, ndim, ES_MAX_DIM);
    if (dim > 0 && shape[1] != dim)
        return cc_fail(CC_ERR_SHAPE, "%s: %" PRId64 " columns, expected %d (%s)", path, shape[1],
                       dim, expected);
    if (s->rows >= 0 && shape[0] != s->rows)
        return cc_fail(CC_ERR_SHAPE, "%s: %" PRId64 " rows, expected %" PRId64 " (%s)", path,
                       shape[0], s->rows, expected);
    if (off % (int64_t)sizeof(float) != 0)
        return cc_fail(CC_ERR_UNSUPPORTED, "%s: data at byte %" PRId64 ", expected a multiple "
                       "of 4 (as numpy and clipcl align it)", path, off);
    size_t len = (size_t)off + (size_t)shape[0] * (size_t)shape[1] * sizeof(float);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return cc_fail(CC_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    /* The size again, of the file mapped: one replaced since its header was
     * read may end before the mapping does, and reading past the end of a
     * mapping is a SIGBUS, not an error. */
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size != len) {
        close(fd);
        return cc_fail(CC_ERR_IO, "%s: changed while being read (expected %zu bytes)", path, len);
    }
    void *p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED)
        return cc_fail(CC_ERR_IO, "cannot map %s: %s", path, strerror(e));
    out->rows = (const float *)((const char *)p + off);
    out->n_rows = shape[0];
    out->dim = (int)shape[1];
    out->map_ = p;
    out->map_len_ = len;
    return CC_OK;
}

static int check_shard_index(const char *dir, const es_manifest *m, int k)
{
    if (k < 0 || k >= m->n_shards)
        return cc_fail(CC_ERR_INVALID, "%s: shard %d of %d", dir, k, m->n_shards);
    return CC_OK;
}

int es_shard_map(const char *dir, const es_manifest *m, int k, es_mapped *out)
{
    memset(out, 0, sizeof *out);
    int rc = check_shard_index(dir, m, k);
    return rc ? rc : es_npy_map(dir, &m->shards[k], m->embed_dim, "as manifest.json says", out);
}

void es_shard_unmap(es_mapped *s)
{
    if (s->map_)
        munmap(s->map_, s->map_len_);
    memset(s, 0, sizeof *s);
}

/* ---- reading CSVs ---- */

/* The end of the field at t[i] (a separator, a line end or the end of the
 * text), or SIZE_MAX when its quote is not closed. */
static size_t field_end(const char *t, size_t len, size_t i, char sep)
{
    if (i < len && t[i] == '"') {
        for (i++;; i++) {
            if (i >= len)
                return SIZE_MAX;
            if (t[i] == '"' && i + 1 < len && t[i + 1] == '"')
                i++;
            else if (t[i] == '"')
                break;
        }
        i++;
    }
    while (i < len && t[i] != sep && t[i] != '\n' && t[i] != '\r')
        i++;
    return i;
}

/* The field t[b, e) as a string: quotes removed, "" made ". */
static char *field_copy(const char *t, size_t b, size_t e)
{
    char *c = malloc(e - b + 1), *o = c;
    if (!c)
        return NULL;
    int quoted = b < e && t[b] == '"';
    for (size_t i = b + (size_t)quoted; i < e; i++) {
        if (quoted && t[i] == '"') {
            if (i + 1 < e && t[i + 1] == '"')
                i++;
            else {
                quoted = 0;
                continue;
            }
        }
        *o++ = t[i];
    }
    *o = '\0';
    return c;
}

/* Frees the fields a failed es_csv_record had appended, so the caller owns
 * none of them, and records the message. */
static int record_failed(char **cells, int *n_fields, int code, const char *msg)
{
    for (int i = 0; i < *n_fields; i++)
        free(cells[i]);
    *n_fields = 0;
    return cc_fail(code, "%s", msg);
}

int es_csv_record(const char *t, size_t len, size_t *pos, char sep, char ***cells, int *n_fields,
                  int *cap)
{
    size_t i = *pos;
    *n_fields = 0;
    if (i == 0 && len >= 3 && memcmp(t, "\xEF\xBB\xBF", 3) == 0)
        i = 3; /* UTF-8 BOM */
    if (i >= len) {
        *pos = i;
        return CC_OK;
    }
    for (;;) {
        size_t e = field_end(t, len, i, sep);
        if (e == SIZE_MAX)
            return record_failed(*cells, n_fields, CC_ERR_INVALID, "a quoted field is not closed");
        char *cell = NULL;
        if (cc_grow((void **)cells, cap, *n_fields + 1, sizeof **cells, "CSV fields") ||
            !(cell = field_copy(t, i, e)))
            return record_failed(*cells, n_fields, CC_ERR_NOMEM, "CSV: out of memory");
        (*cells)[(*n_fields)++] = cell;
        i = e;
        if (i < len && t[i] == sep) {
            i++;
            continue;
        }
        if (i < len && t[i] == '\r')
            i++;
        if (i < len && t[i] == '\n')
            i++;
        break;
    }
    *pos = i;
    return CC_OK;
}

void es_table_free(es_table *t)
{
    for (int64_t i = 0; i < t->n_cells_; i++)
        free(t->cells_[i]);
    free(t->cells_);
    free(t->rows);
    memset(t, 0, sizeof *t);
}

/* A table's columns: their names and the es_row field each goes to. */
typedef struct table_kind {
    const char *header;
    int n;
    const char *names[4];
    int slots[4]; /* 0 key, 1 path, 2 member, 3 caption, 4 error */
} table_kind;

static const table_kind metadata_table = {
    "key,path,member,caption", 4, {"key", "path", "member", "caption"}, {0, 1, 2, 3}};
static const table_kind failed_table = {
    "path,member,error", 3, {"path", "member", "error"}, {1, 2, 4}};

/* The header: the column of each name. */
static int read_header(const char *path, const table_kind *k, char **cells, int nf, int *col)
{
    for (int i = 0; i < k->n; i++) {
        col[i] = -1;
        for (int j = nf - 1; j >= 0; j--)
            if (strcmp(cells[j], k->names[i]) == 0)
                col[i] = j;
        if (col[i] < 0)
            return cc_fail(CC_ERR_INVALID, "%s: no \"%s\" column (expected the header %s)", path,
                           k->names[i], k->header);
    }
    return CC_OK;
}

/* Moves a record's columns into t (the other fields stay in cells). */
static int keep_row(const char *path, const table_kind *k, char **cells, const int *col,
                    es_table *t, int *rows_cap, int *cells_cap)
{
    int64_t nc = t->n_cells_ + k->n;
    if (nc > INT32_MAX || t->n + 1 > INT32_MAX ||
        cc_grow((void **)&t->cells_, cells_cap, (int)nc, sizeof *t->cells_, "CSV cells") ||
        cc_grow((void **)&t->rows, rows_cap, (int)t->n + 1, sizeof *t->rows, "CSV rows"))
        return cc_fail(CC_ERR_NOMEM, "%s: out of memory", path);
    es_row *r = &t->rows[t->n++];
    memset(r, 0, sizeof *r);
    const char **fields[5] = {&r->key, &r->path, &r->member, &r->caption, &r->error};
    for (int i = 0; i < k->n; i++) {
        *fields[k->slots[i]] = t->cells_[t->n_cells_++] = cells[col[i]];
        cells[col[i]] = NULL;
    }
    return CC_OK;
}

/* Reads the CSV at path into t; want_rows >= 0: exactly that many records
 * (the rows of rows_of). Errors name the file and the line a record starts
 * on. */
static int read_table(const char *path, const table_kind *k, int64_t want_rows,
                      const char *rows_of, es_table *t)
{
    memset(t, 0, sizeof *t);
    char *text = NULL, **cells = NULL;
    size_t len = 0, pos = 0;
    int rc = es_read_text(path, MAX_TEXT_FILE, &text, &len);
    int nf = 0, cap = 0, rows_cap = 0, cells_cap = 0, width = 0, col[4] = {0};
    for (int64_t line = 1; !rc;) {
        size_t start = pos;
        rc = es_csv_record(text, len, &pos, ',', &cells, &nf, &cap);
        if (rc) {
            rc = cc_wrap(CC_ERR_INVALID, "%s:%" PRId64, path, line);
            break;
        }
        if (nf == 0)
            break;
        if (!width)
            rc = read_header(path, k, cells, width = nf, col);
        else if (nf != width)
            rc = cc_fail(CC_ERR_INVALID, "%s:%" PRId64 ": %d fields, expected %d as in the header",
                         path, line, nf, width);
        else
            rc = keep_row(path, k, cells, col, t, &rows_cap, &cells_cap);
        for (int i = 0; i < nf; i++)
            free(cells[i]);
        for (size_t i = start; i < pos; i++)
            line += text[i] == '\n';
    }
    if (!rc && want_rows >= 0 && t->n != want_rows)
        rc = cc_fail(CC_ERR_INVALID, "%s: %" PRId64 " records, expected %" PRId64 " (the rows of "
                     "%s)", path, t->n, want_rows, rows_of);
    free(cells);
    free(text);
    if (rc)
        es_table_free(t);
    return rc;
}

int es_shard_metadata(const char *dir, const es_shard *s, es_table *out)
{
    memset(out, 0, sizeof *out);
    char path[4096];
    int rc = es_join(path, sizeof path, dir, s->metadata);
    return rc ? rc : read_table(path, &metadata_table, s->rows, s->file, out);
}

int es_metadata_read(const char *dir, const es_manifest *m, int k, es_table *out)
{
    memset(out, 0, sizeof *out);
    int rc = check_shard_index(dir, m, k);
    return rc ? rc : es_shard_metadata(dir, &m->shards[k], out);
}

int es_failed_read(const char *dir, es_table *out)
{
    memset(out, 0, sizeof *out);
    char path[4096];
    int rc = es_join(path, sizeof path, dir, "failed.csv");
    if (rc || access(path, F_OK) != 0)
        return rc;
    return read_table(path, &failed_table, -1, NULL, out);
}
