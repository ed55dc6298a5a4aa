/* Embedding folders, the reading side (io/emb_shards.h): the manifest, a
 * shard's rows by memory map, and the metadata / failed.csv tables. Files
 * here may come from anywhere, so every size and name is checked. */
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

#include "runtime/grow.h"
#include "runtime/status.h"

#define MAX_TEXT_FILE (1LL << 31) /* a metadata or failed.csv larger than this is not ours */

static int join(char *buf, size_t cap, const char *dir, const char *name)
{
    int n = snprintf(buf, cap, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= cap)
        return cc_fail(CC_ERR_INVALID, "path too long: %s/%s", dir, name);
    return CC_OK;
}


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

static int read_all(const char *path, char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return cc_fail(CC_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > MAX_TEXT_FILE) {
        fclose(f);
        return cc_fail(CC_ERR_IO, "%s: not a regular file of at most %lld bytes", path,
                       MAX_TEXT_FILE);
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

/* Field k of o with the type wanted, or an error naming the file and field. */
static json_object *field(const char *path, json_object *o, const char *k, json_type t, int *rc)
{
    json_object *v = NULL;
    if (*rc)
        return NULL;
    if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, t)) {
        *rc = cc_fail(CC_ERR_INVALID, "%s: field \"%s\" missing or not a %s", path, k,
                      json_type_to_name(t));
        return NULL;
    }
    return v;
}

static char *dup_str(json_object *v)
{
    const char *s = v ? json_object_get_string(v) : "";
    char *d = malloc(strlen(s) + 1);
    if (d)
        strcpy(d, s);
    return d;
}

static int read_shard_entry(const char *path, json_object *s, int k, es_manifest *m)
{
    int rc = CC_OK;
    es_shard *e = &m->shards[k];
    memset(e, 0, sizeof *e);
    json_object *f = field(path, s, "file", json_type_string, &rc);
    json_object *md = field(path, s, "metadata", json_type_string, &rc);
    json_object *r = field(path, s, "rows", json_type_int, &rc);
    if (rc)
        return rc;
    const char *fs = json_object_get_string(f), *ms = json_object_get_string(md);
    /* Names stay inside DIR: a manifest cannot point a reader elsewhere. */
    if (strlen(fs) >= sizeof e->file || strlen(ms) >= sizeof e->metadata || strchr(fs, '/') ||
        strchr(ms, '/') || fs[0] == '.' || ms[0] == '.')
        return cc_fail(CC_ERR_INVALID, "%s: shard %d: file names must be plain names in the "
                       "folder", path, k);
    strcpy(e->file, fs);
    strcpy(e->metadata, ms);
    e->rows = json_object_get_int64(r);
    if (e->rows < 1)
        return cc_fail(CC_ERR_INVALID, "%s: shard %d has %" PRId64 " rows", path, k, e->rows);
    json_object *in = NULL;
    if (json_object_object_get_ex(s, "inputs", &in) && json_object_is_type(in, json_type_array) &&
        json_object_array_length(in) == 2) {
        e->input_begin = json_object_get_int64(json_object_array_get_idx(in, 0));
        e->input_end = json_object_get_int64(json_object_array_get_idx(in, 1));
    }
    return CC_OK;
}

int es_manifest_read(const char *dir, es_manifest *m)
{
    memset(m, 0, sizeof *m);
    char path[4096];
    int rc = join(path, sizeof path, dir, "manifest.json");
    char *text = NULL;
    size_t len = 0;
    if (!rc)
        rc = read_all(path, &text, &len);
    if (rc)
        return rc;
    json_object *o = json_tokener_parse(text);
    free(text);
    if (!o || !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return cc_fail(CC_ERR_INVALID, "%s: not a JSON object", path);
    }
    json_object *kind = field(path, o, "kind", json_type_string, &rc);
    json_object *model = field(path, o, "model", json_type_string, &rc);
    json_object *dim = field(path, o, "embed_dim", json_type_int, &rc);
    json_object *norm = field(path, o, "normalized", json_type_boolean, &rc);
    json_object *ss = field(path, o, "shard_size", json_type_int, &rc);
    json_object *shards = field(path, o, "shards", json_type_array, &rc);
    json_object *failed = field(path, o, "failed", json_type_int, &rc);
    if (!rc) {
        const char *k = json_object_get_string(kind);
        if (strcmp(k, "image") != 0 && strcmp(k, "text") != 0)
            rc = cc_fail(CC_ERR_INVALID, "%s: kind \"%s\": expected image or text", path, k);
        m->kind = strcmp(k, "text") == 0 ? ES_TEXT : ES_IMAGE;
        m->model = dup_str(model);
        m->embed_dim = json_object_get_int(dim);
        m->normalized = json_object_get_boolean(norm);
        m->shard_size = json_object_get_int64(ss);
        m->failed = json_object_get_int64(failed);
        json_object *v = NULL;
        m->data = dup_str(json_object_object_get_ex(o, "data", &v) ? v : NULL);
        m->inputs = json_object_object_get_ex(o, "inputs", &v) ? json_object_get_int64(v) : -1;
        m->batch = json_object_object_get_ex(o, "batch", &v) ? json_object_get_int(v) : 0;
        m->complete = json_object_object_get_ex(o, "complete", &v) && json_object_get_boolean(v);
        if (!rc && (!m->model || !m->data))
            rc = cc_fail(CC_ERR_NOMEM, "%s: out of memory", path);
        if (!rc && (m->embed_dim < 1 || m->shard_size < 1 || m->failed < 0))
            rc = cc_fail(CC_ERR_INVALID, "%s: embed_dim, shard_size must be positive and failed "
                         "not negative", path);
    }
    int n = rc ? 0 : (int)json_object_array_length(shards);
    if (!rc && n > 0 && cc_grow((void **)&m->shards, &m->cap_shards, n, sizeof *m->shards,
                                "manifest shards"))
        rc = CC_ERR_NOMEM;
    for (int k = 0; k < n && !rc; k++) {
        json_object *s = json_object_array_get_idx(shards, (size_t)k);
        rc = json_object_is_type(s, json_type_object)
                 ? read_shard_entry(path, s, k, m)
                 : cc_fail(CC_ERR_INVALID, "%s: shard %d is not an object", path, k);
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

/* ---- mapping a shard ---- */

static int parse_npy_header(const char *path, const unsigned char *p, size_t len,
                            size_t *data_off, int64_t *rows, int64_t *cols)
{
    if (len < 10 || memcmp(p, "\x93NUMPY", 6) != 0)
        return cc_fail(CC_ERR_INVALID, "%s: not a .npy file", path);
    size_t hl, start;
    if (p[6] == 1) {
        hl = (size_t)p[8] | (size_t)p[9] << 8;
        start = 10;
    } else if (p[6] == 2 && len >= 12) {
        hl = (size_t)p[8] | (size_t)p[9] << 8 | (size_t)p[10] << 16 | (size_t)p[11] << 24;
        start = 12;
    } else {
        return cc_fail(CC_ERR_INVALID, "%s: .npy version %d not supported", path, p[6]);
    }
    if (hl > 65536 || start + hl > len)
        return cc_fail(CC_ERR_INVALID, "%s: truncated .npy header", path);
    char h[65537];
    memcpy(h, p + start, hl);
    h[hl] = '\0';
    long long r = -1, c = -1;
    const char *sh = strstr(h, "'shape': (");
    if (!strstr(h, "'descr': '<f4'") || !strstr(h, "'fortran_order': False") || !sh ||
        sscanf(sh + 10, "%lld, %lld)", &r, &c) != 2)
        return cc_fail(CC_ERR_INVALID, "%s: expected a float32 C-order 2-d array", path);
    *data_off = start + hl;
    *rows = r;
    *cols = c;
    return CC_OK;
}

int es_shard_map(const char *dir, const es_manifest *m, int k, es_mapped *out)
{
    memset(out, 0, sizeof *out);
    if (k < 0 || k >= m->n_shards)
        return cc_fail(CC_ERR_INVALID, "%s: shard %d of %d", dir, k, m->n_shards);
    char path[4096];
    int rc = join(path, sizeof path, dir, m->shards[k].file);
    if (rc)
        return rc;
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return cc_fail(CC_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 10) {
        close(fd);
        return cc_fail(CC_ERR_INVALID, "%s: not a .npy file", path);
    }
    size_t len = (size_t)st.st_size;
    void *p = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return cc_fail(CC_ERR_IO, "cannot map %s: %s", path, strerror(errno));
    size_t off = 0;
    int64_t rows = 0, cols = 0;
    rc = parse_npy_header(path, p, len, &off, &rows, &cols);
    if (!rc && (rows != m->shards[k].rows || cols != m->embed_dim))
        rc = cc_fail(CC_ERR_INVALID, "%s: shape (%" PRId64 ", %" PRId64 "), the manifest says (%"
                     PRId64 ", %d)", path, rows, cols, m->shards[k].rows, m->embed_dim);
    if (!rc && (off % 4 != 0 || (len - off) / 4 / (size_t)cols < (size_t)rows))
        rc = cc_fail(CC_ERR_INVALID, "%s: truncated (%zu bytes of data for %" PRId64 " rows)",
                     path, len - off, rows);
    if (rc) {
        munmap(p, len);
        return rc;
    }
    out->rows = (const float *)((const char *)p + off);
    out->n_rows = rows;
    out->dim = (int)cols;
    out->map_ = p;
    out->map_len_ = len;
    return CC_OK;
}

void es_shard_unmap(es_mapped *s)
{
    if (s->map_)
        munmap(s->map_, s->map_len_);
    memset(s, 0, sizeof *s);
}

/* ---- reading CSVs ---- */

/* Frees the fields a failed es_csv_record had appended, so the caller owns
 * none of them, and records the message. */
static int record_failed(char **cells, int *n_fields, buf *f, int code, const char *msg)
{
    for (int i = 0; i < *n_fields; i++)
        free(cells[i]);
    *n_fields = 0;
    free(f->p);
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
    buf f = {0};
    for (;;) {
        f.n = 0;
        if (i < len && t[i] == '"') {
            i++;
            for (;;) {
                if (i >= len)
                    return record_failed(*cells, n_fields, &f, CC_ERR_INVALID,
                                         "unterminated quoted field");
                if (t[i] == '"' && i + 1 < len && t[i + 1] == '"') {
                    put(&f, "\"", 1);
                    i += 2;
                } else if (t[i] == '"') {
                    i++;
                    break;
                } else {
                    put(&f, t + i, 1);
                    i++;
                }
            }
        }
        while (i < len && t[i] != sep && t[i] != '\n' && t[i] != '\r') {
            put(&f, t + i, 1); /* text after a closing quote is kept, as Python's csv does */
            i++;
        }
        put(&f, "", 0);
        if (f.failed || cc_grow((void **)cells, cap, *n_fields + 1, sizeof **cells, "CSV fields"))
            return record_failed(*cells, n_fields, &f, CC_ERR_NOMEM, "CSV: out of memory");
        char *cell = malloc(f.n + 1);
        if (!cell)
            return record_failed(*cells, n_fields, &f, CC_ERR_NOMEM, "CSV: out of memory");
        if (f.n)
            memcpy(cell, f.p, f.n);
        cell[f.n] = '\0';
        (*cells)[(*n_fields)++] = cell;
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
    free(f.p);
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

/* Reads a CSV whose header must be `header` (ncol columns) into rows, the
 * columns going to the es_row fields named by slots. */
static int read_table(const char *path, const char *header, int ncol, const int *slots,
                      es_table *t)
{
    memset(t, 0, sizeof *t);
    char *text = NULL;
    size_t len = 0, pos = 0;
    int rc = read_all(path, &text, &len);
    char **cells = NULL;
    int nf = 0, cap = 0, rows_cap = 0;
    int cells_cap = 0;
    int64_t line = 0;
    while (!rc) {
        rc = es_csv_record(text, len, &pos, ',', &cells, &nf, &cap);
        if (rc) {
            rc = cc_fail(CC_ERR_INVALID, "%s: record %" PRId64 ": %s", path, line + 1,
                         cc_last_error());
            break;
        }
        if (nf == 0)
            break;
        if (line == 0) {
            char got[512] = "";
            size_t u = 0;
            for (int i = 0; i < nf && u < sizeof got - 1; i++)
                u += (size_t)snprintf(got + u, sizeof got - u, "%s%s", i ? "," : "", cells[i]);
            if (strcmp(got, header) != 0)
                rc = cc_fail(CC_ERR_INVALID, "%s: header \"%s\", expected \"%s\"", path, got, header);
            for (int i = 0; i < nf; i++)
                free(cells[i]);
        } else if (nf != ncol) {
            rc = cc_fail(CC_ERR_INVALID, "%s: record %" PRId64 " has %d fields, expected %d", path,
                         line + 1, nf, ncol);
            for (int i = 0; i < nf; i++)
                free(cells[i]);
        } else {
            int64_t nc = t->n_cells_ + ncol;
            if (nc > INT32_MAX || t->n + 1 > INT32_MAX ||
                cc_grow((void **)&t->cells_, &cells_cap, (int)nc, sizeof *t->cells_, "CSV cells") ||
                cc_grow((void **)&t->rows, &rows_cap, (int)t->n + 1, sizeof *t->rows, "CSV rows")) {
                for (int i = 0; i < nf; i++)
                    free(cells[i]);
                rc = cc_fail(CC_ERR_NOMEM, "%s: out of memory", path);
                break;
            }
            es_row *r = &t->rows[t->n++];
            memset(r, 0, sizeof *r);
            const char **fields[5] = {&r->key, &r->path, &r->member, &r->caption, &r->error};
            for (int i = 0; i < ncol; i++) {
                t->cells_[t->n_cells_++] = cells[i];
                *fields[slots[i]] = cells[i];
            }
        }
        line++;
    }
    free(cells);
    free(text);
    if (rc)
        es_table_free(t);
    return rc;
}

int es_metadata_read(const char *dir, const es_manifest *m, int k, es_table *out)
{
    memset(out, 0, sizeof *out);
    if (k < 0 || k >= m->n_shards)
        return cc_fail(CC_ERR_INVALID, "%s: shard %d of %d", dir, k, m->n_shards);
    char path[4096];
    int rc = join(path, sizeof path, dir, m->shards[k].metadata);
    static const int slots[4] = {0, 1, 2, 3};
    if (!rc)
        rc = read_table(path, "key,path,member,caption", 4, slots, out);
    if (!rc && out->n != m->shards[k].rows) {
        rc = cc_fail(CC_ERR_INVALID, "%s: %" PRId64 " lines, the manifest says %" PRId64 " rows",
                     path, out->n, m->shards[k].rows);
        es_table_free(out);
    }
    return rc;
}

int es_failed_read(const char *dir, es_table *out)
{
    memset(out, 0, sizeof *out);
    char path[4096];
    int rc = join(path, sizeof path, dir, "failed.csv");
    if (rc)
        return rc;
    if (access(path, F_OK) != 0)
        return CC_OK;
    static const int slots[3] = {1, 2, 4};
    return read_table(path, "path,member,error", 3, slots, out);
}
