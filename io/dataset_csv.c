/* CSV/TSV image-caption lists (RFC 4180 quoting, as pandas reads them for
 * open_clip's CsvDataset), with image paths resolved against the CSV's
 * folder. */
#include "io/dataset.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/atomic_file.h"
#include "runtime/grow.h"
#include "runtime/status.h"

typedef struct record {
    char **f;
    int n, cap;
    int line;       /* line where the record starts */
    int bad_quote;  /* ended inside a quoted field */
} record;

static void record_clear(record *r)
{
    for (int i = 0; i < r->n; i++)
        free(r->f[i]);
    r->n = 0;
    r->bad_quote = 0;
}

static int record_add(record *r, const char *s, size_t len)
{
    if (cc_grow((void **)&r->f, &r->cap, r->n + 1, sizeof *r->f, "CSV fields"))
        return CC_ERR_NOMEM;
    char *d = malloc(len + 1);
    if (!d)
        return CC_ERR_NOMEM;
    if (len) /* an empty field before any non-empty one has no scratch buffer yet: s is NULL */
        memcpy(d, s, len);
    d[len] = '\0';
    r->f[r->n++] = d;
    return CC_OK;
}

/* Reads one record starting at *pos; *line counts newlines consumed (quoted
 * ones included). Returns 0 at the end of the input, 1 with a record, or a
 * negative value when out of memory. */
static int next_record(const char *s, size_t len, size_t *pos, char sep, int *line, record *r,
                       char **scratch, size_t *scap)
{
    record_clear(r);
    size_t p = *pos;
    if (p >= len)
        return 0;
    r->line = *line;
    size_t fl = 0;
    int quoted = 0, done = 0;
    while (!done) {
        if (p >= len) {
            r->bad_quote = quoted;
            done = 1;
            break;
        }
        char c = s[p++];
        if (quoted) {
            if (c == '"' && p < len && s[p] == '"') {
                p++;
            } else if (c == '"') {
                quoted = 0;
                continue;
            } else if (c == '\n') {
                ++*line;
            }
        } else if (c == '"') {
            quoted = 1;
            continue;
        } else if (c == sep || c == '\n' || c == '\r') {
            if (c == '\r' && p < len && s[p] == '\n')
                p++;
            if (c != sep) {
                ++*line;
                done = 1;
            }
            if (record_add(r, *scratch, fl) != CC_OK)
                return -1;
            fl = 0;
            continue;
        }
        if (fl + 1 >= *scap) {
            size_t cap = *scap * 2 + 64;
            char *t = realloc(*scratch, cap);
            if (!t)
                return -1;
            *scratch = t;
            *scap = cap;
        }
        (*scratch)[fl++] = c;
    }
    if (p >= len && !(r->n > 0 && fl == 0 && *pos < p && (s[p - 1] == '\n' || s[p - 1] == '\r')))
        if (record_add(r, *scratch, fl) != CC_OK)
            return -1;
    *pos = p;
    return 1;
}

static int read_file(const char *path, char **buf, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return cc_fail(CC_ERR_IO, "cannot open dataset CSV %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        const char *why = io_not_regular(fileno(f));
        fclose(f);
        return cc_fail(CC_ERR_IO, "dataset CSV %s: %s (expected a CSV/TSV file)", path, why);
    }
    size_t n = (size_t)st.st_size;
    *buf = malloc(n + 1);
    if (!*buf) {
        fclose(f);
        return cc_fail(CC_ERR_NOMEM, "dataset CSV %s: cannot allocate %zu bytes", path, n);
    }
    size_t got = fread(*buf, 1, n, f);
    fclose(f);
    if (got != n) {
        free(*buf);
        return cc_fail(CC_ERR_IO, "dataset CSV %s: read %zu of %zu bytes", path, got, n);
    }
    (*buf)[n] = '\0';
    *len = n;
    return CC_OK;
}

static char pick_separator(const char *path, char opt)
{
    if (opt)
        return opt;
    const char *dot = strrchr(path, '.');
    if (dot && (strcmp(dot, ".tsv") == 0 || strcmp(dot, ".tab") == 0 || strcmp(dot, ".TSV") == 0))
        return '\t';
    return ',';
}

static char *resolve(const char *dir, size_t dirlen, const char *p)
{
    if (p[0] == '/' || dirlen == 0)
        return ds_strdup(p);
    size_t n = strlen(p);
    char *r = malloc(dirlen + 1 + n + 1);
    if (!r)
        return NULL;
    memcpy(r, dir, dirlen);
    r[dirlen] = '/';
    memcpy(r + dirlen + 1, p, n + 1);
    return r;
}

static int find_column(const record *h, const char *key, const char *path, char sep)
{
    for (int i = 0; i < h->n; i++)
        if (strcmp(h->f[i], key) == 0)
            return i;
    char have[512] = "";
    size_t k = 0;
    for (int i = 0; i < h->n && k + 4 < sizeof have; i++)
        k += (size_t)snprintf(have + k, sizeof have - k, "%s\"%s\"", i ? ", " : "", h->f[i]);
    cc_fail(CC_ERR_INVALID, "dataset CSV %s: no column \"%s\" in the header (found %s; separator "
            "'%s')", path, key, have, sep == '\t' ? "\\t" : (char[2]){sep, 0});
    return -1;
}

static int parse(ds_dataset *ds, const char *path, const char *s, size_t len, const ds_open_opts *o)
{
    char sep = pick_separator(path, o ? o->separator : 0);
    const char *img_key = o && o->img_key ? o->img_key : "filepath";
    const char *cap_key = o && o->caption_key ? o->caption_key : "title";
    const char *slash = strrchr(path, '/');
    size_t dirlen = slash ? (size_t)(slash - path) : 0;
    if (slash == path)
        dirlen = 1; /* "/data.csv": the root itself */
    size_t pos = len >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
    int line = 1, rc = CC_OK;
    record r = {0};
    char *scratch = NULL;
    size_t scap = 0;
    int got = next_record(s, len, &pos, sep, &line, &r, &scratch, &scap);
    int ci = -1, ti = -1;
    if (got < 0)
        rc = cc_fail(CC_ERR_NOMEM, "dataset CSV %s: out of memory", path);
    else if (got == 0)
        rc = cc_fail(CC_ERR_INVALID, "dataset CSV %s: empty file (expected a header row)", path);
    else if ((ci = find_column(&r, img_key, path, sep)) < 0 ||
             (ti = find_column(&r, cap_key, path, sep)) < 0)
        rc = CC_ERR_INVALID;
    int need = ci > ti ? ci : ti;
    while (rc == CC_OK && (got = next_record(s, len, &pos, sep, &line, &r, &scratch, &scap)) > 0) {
        if (r.n == 1 && r.f[0][0] == '\0')
            continue; /* blank line */
        if (r.bad_quote) {
            ds_open_warn(ds, "%s:%d: unterminated quoted field, row skipped", path, r.line);
        } else if (r.n <= need) {
            ds_open_warn(ds, "%s:%d: %d field(s), expected at least %d, row skipped", path, r.line,
                         r.n, need + 1);
        } else if (r.f[ci][0] == '\0') {
            ds_open_warn(ds, "%s:%d: empty image path, row skipped", path, r.line);
        } else if (strlen(r.f[ti]) > DS_MAX_CAPTION_BYTES) {
            ds_open_warn(ds, "%s:%d: caption of %zu bytes, at most %d allowed, row skipped", path,
                         r.line, strlen(r.f[ti]), DS_MAX_CAPTION_BYTES);
        } else {
            rc = ds_push(ds, ds_strdup(r.f[ti]), resolve(path, dirlen, r.f[ci]), 0, 0, 0);
        }
    }
    if (got < 0)
        rc = cc_fail(CC_ERR_NOMEM, "dataset CSV %s: out of memory", path);
    record_clear(&r);
    free(r.f);
    free(scratch);
    return rc;
}

int ds_open_csv(ds_dataset **out, const char *path, const ds_open_opts *opts)
{
    *out = NULL;
    char *buf = NULL;
    size_t len = 0;
    int rc = read_file(path, &buf, &len);
    if (rc != CC_OK)
        return rc;
    ds_dataset *ds = ds_new(DS_KIND_CSV, opts);
    rc = ds ? parse(ds, path, buf, len, opts) : cc_fail(CC_ERR_NOMEM, "dataset: out of memory");
    free(buf);
    if (rc == CC_OK && ds->n == 0)
        rc = cc_fail(CC_ERR_INVALID, "dataset CSV %s: no usable rows (%lld skipped)", path,
                     (long long)ds->open_skipped);
    if (rc != CC_OK) {
        ds_close(ds);
        return rc;
    }
    *out = ds;
    return CC_OK;
}
