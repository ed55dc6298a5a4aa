/* The metadata CSV of an embedding shard (io/emb_index.h): key, path, member
 * and caption of each row. RFC 4180 as Python's csv module writes it
 * ("" inside quotes is a quote, separators and newlines inside quotes are
 * data; CRLF and a UTF-8 BOM accepted). io/dataset_csv.c's reader keeps two
 * columns of a training list and skips rows it cannot use; here every record
 * must be there, in order, since record i belongs to row i of the .npy. */
#include "io/emb_index.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runtime/status.h"

/* A metadata file of 10,000 rows with long LAION captions is a few MB;
 * 1 GiB is corrupt. */
#define MAX_META_BYTES (1LL << 30)

enum { COL_KEY, COL_PATH, COL_MEMBER, COL_CAPTION, N_COLS };
static const char *const col_names[N_COLS] = {"key", "path", "member", "caption"};

typedef struct csv {
    const char *s, *path;
    size_t len, pos;
    int line;
} csv;

static int read_file(const char *path, char **buf, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return cc_fail(CC_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > MAX_META_BYTES) {
        fclose(f);
        return cc_fail(CC_ERR_IO, "%s: not a regular file of at most 1 GiB", path);
    }
    size_t n = (size_t)st.st_size;
    char *b = malloc(n + 1);
    if (!b || fread(b, 1, n, f) != n) {
        free(b);
        fclose(f);
        return cc_fail(CC_ERR_IO, "%s: read failed", path);
    }
    fclose(f);
    b[n] = '\0';
    *buf = b;
    *len = n;
    return CC_OK;
}

/* One field into out (malloc'd) when out is non-NULL. *end: 1 at the end of
 * the record, 2 at the end of the input. */
static int next_field(csv *c, char **out, int *end)
{
    size_t p = c->pos, cap = 0, n = 0;
    char *d = NULL;
    int quoted = p < c->len && c->s[p] == '"';
    if (quoted)
        p++;
    int line0 = c->line;
    for (;;) {
        if (p >= c->len) {
            if (quoted) {
                free(d);
                return cc_fail(CC_ERR_INVALID, "%s:%d: a quoted field is not closed", c->path,
                               line0);
            }
            *end = 2;
            break;
        }
        char ch = c->s[p];
        if (quoted && ch == '"') {
            if (p + 1 < c->len && c->s[p + 1] == '"') {
                p++; /* "" -> " */
            } else {
                quoted = 0;
                p++;
                continue;
            }
        } else if (!quoted && (ch == ',' || ch == '\n' || ch == '\r')) {
            if (ch == ',') {
                *end = 0;
                p++;
            } else {
                *end = 1;
                p += ch == '\r' && p + 1 < c->len && c->s[p + 1] == '\n' ? 2 : 1;
                c->line++;
            }
            break;
        } else if (ch == '\n') {
            c->line++;
        }
        if (out) {
            if (n + 2 > cap) {
                cap = cap ? 2 * cap : 64;
                char *t = realloc(d, cap);
                if (!t) {
                    free(d);
                    return cc_fail(CC_ERR_NOMEM, "%s: out of memory", c->path);
                }
                d = t;
            }
            d[n++] = ch;
        }
        p++;
    }
    c->pos = p;
    if (out) {
        if (!d && !(d = malloc(1)))
            return cc_fail(CC_ERR_NOMEM, "%s: out of memory", c->path);
        d[n] = '\0';
        *out = d;
    }
    return CC_OK;
}

/* The header: the column index of each of the four names. */
static int read_header(csv *c, int *col, int *n_fields)
{
    for (int i = 0; i < N_COLS; i++)
        col[i] = -1;
    int end = 0, rc = CC_OK, f = 0;
    while (rc == CC_OK && !end) {
        char *name = NULL;
        rc = next_field(c, &name, &end);
        for (int i = 0; rc == CC_OK && i < N_COLS; i++)
            if (strcmp(name, col_names[i]) == 0 && col[i] < 0)
                col[i] = f;
        free(name);
        f++;
    }
    for (int i = 0; rc == CC_OK && i < N_COLS; i++)
        if (col[i] < 0)
            rc = cc_fail(CC_ERR_INVALID, "%s: no \"%s\" column (expected the header "
                         "key,path,member,caption)", c->path, col_names[i]);
    *n_fields = f;
    return rc;
}

typedef struct want {
    int64_t local; /* row within the shard */
    int slot;      /* index into the caller's out[] */
} want;

static int by_local(const void *a, const void *b)
{
    int64_t x = ((const want *)a)->local, y = ((const want *)b)->local;
    return (x > y) - (x < y);
}

/* Reads every record of shard s (checking the count), keeping those wanted. */
static int parse_shard(const embidx *ix, int s, want *w, int nw, embidx_meta *out)
{
    const embidx_shard *sh = &ix->shards[s];
    char *buf = NULL;
    size_t len = 0;
    int rc = read_file(sh->meta_path, &buf, &len);
    if (rc != CC_OK)
        return rc;
    csv c = {buf, sh->meta_path, len, 0, 1};
    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
        c.pos = 3;
    int col[N_COLS], n_fields = 0;
    rc = read_header(&c, col, &n_fields);
    int64_t rec = 0;
    int wi = 0;
    while (rc == CC_OK && c.pos < c.len) {
        int keep = wi < nw && w[wi].local == rec;
        char *f[N_COLS] = {0};
        int end = 0, k = 0, line = c.line;
        while (rc == CC_OK && !end) {
            char *v = NULL;
            int which = -1;
            for (int i = 0; i < N_COLS; i++)
                if (col[i] == k)
                    which = i;
            rc = next_field(&c, keep && which >= 0 ? &v : NULL, &end);
            if (v)
                f[which] = v;
            k++;
        }
        if (rc == CC_OK && k != n_fields)
            rc = cc_fail(CC_ERR_INVALID, "%s:%d: %d fields, expected %d as in the header",
                         sh->meta_path, line, k, n_fields);
        if (rc == CC_OK && keep) {
            embidx_meta m = {f[COL_KEY], f[COL_PATH], f[COL_MEMBER], f[COL_CAPTION]};
            out[w[wi].slot] = m;
            /* Repeated rows: each slot gets its own copy. */
            for (wi++; rc == CC_OK && wi < nw && w[wi].local == rec; wi++) {
                embidx_meta *o = &out[w[wi].slot];
                o->key = strdup(m.key);
                o->path = strdup(m.path);
                o->member = strdup(m.member);
                o->caption = strdup(m.caption);
                if (!o->key || !o->path || !o->member || !o->caption)
                    rc = cc_fail(CC_ERR_NOMEM, "%s: out of memory", sh->meta_path);
            }
        } else {
            for (int i = 0; i < N_COLS; i++)
                free(f[i]);
        }
        rec++;
    }
    if (rc == CC_OK && rec != sh->rows)
        rc = cc_fail(CC_ERR_INVALID, "%s: %lld records, expected %lld (the rows of %s)",
                     sh->meta_path, (long long)rec, (long long)sh->rows, sh->npy_path);
    free(buf);
    return rc;
}

int embidx_metadata(const embidx *ix, const int64_t *rows, int n, embidx_meta *out)
{
    memset(out, 0, (size_t)n * sizeof *out);
    want *w = malloc((size_t)(n ? n : 1) * sizeof *w);
    if (!w)
        return cc_fail(CC_ERR_NOMEM, "index %s: out of memory", ix->dir);
    int rc = CC_OK;
    /* Shard by shard, the rows it holds, in file order. */
    for (int s = 0; s < ix->n_shards && rc == CC_OK; s++) {
        const embidx_shard *sh = &ix->shards[s];
        int nw = 0;
        for (int i = 0; i < n; i++)
            if (rows[i] >= sh->first_row && rows[i] < sh->first_row + sh->rows)
                w[nw++] = (want){rows[i] - sh->first_row, i};
        if (nw == 0)
            continue;
        qsort(w, (size_t)nw, sizeof *w, by_local);
        rc = parse_shard(ix, s, w, nw, out);
    }
    for (int i = 0; i < n && rc == CC_OK; i++)
        if (!out[i].key)
            rc = cc_fail(CC_ERR_INVALID, "index %s: row %lld out of range (%lld rows)", ix->dir,
                         (long long)rows[i], (long long)ix->rows);
    free(w);
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
