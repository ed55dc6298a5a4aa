/* webdataset shards: brace patterns, and tar members grouped into samples
 * by key the way webdataset's tar_file_expander/group_by_keys does it. */
#include "io/dataset.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/grow.h"
#include "runtime/status.h"

#define MAX_EXPANSION 1000000

/* ---- brace expansion ---- */

typedef struct strv {
    char **v;
    int n, cap;
} strv;

static int strv_push(strv *s, char *str)
{
    if (!str)
        return cc_fail(CC_ERR_NOMEM, "shard pattern: out of memory");
    if (s->n >= MAX_EXPANSION) {
        free(str);
        return cc_fail(CC_ERR_INVALID, "shard pattern expands to more than %d names", MAX_EXPANSION);
    }
    if (cc_grow((void **)&s->v, &s->cap, s->n + 1, sizeof *s->v, "shard names")) {
        free(str);
        return cc_fail(CC_ERR_NOMEM, "shard pattern: out of memory");
    }
    s->v[s->n++] = str;
    return CC_OK;
}

static char *concat3(const char *a, size_t na, const char *b, size_t nb, const char *c)
{
    size_t nc = strlen(c);
    char *r = malloc(na + nb + nc + 1);
    if (!r)
        return NULL;
    memcpy(r, a, na);
    memcpy(r + na, b, nb);
    memcpy(r + na + nb, c, nc + 1);
    return r;
}

static int expand(const char *s, strv *out);

/* {A..B} with integers: zero-padded to the longer bound when either bound
 * has a leading zero (as Python's braceexpand does). */
static int numeric_range(const char *in, size_t n, long *a, long *b, int *width)
{
    char buf[64];
    if (n >= sizeof buf)
        return 0;
    memcpy(buf, in, n);
    buf[n] = '\0';
    char *dots = strstr(buf, "..");
    if (!dots)
        return 0;
    *dots = '\0';
    const char *l = buf, *r = dots + 2;
    for (const char *p = l; *p; p++)
        if (!isdigit((unsigned char)*p) && !(p == l && *p == '-' && p[1]))
            return 0;
    for (const char *p = r; *p; p++)
        if (!isdigit((unsigned char)*p) && !(p == r && *p == '-' && p[1]))
            return 0;
    if (!*l || !*r)
        return 0;
    *a = strtol(l, NULL, 10);
    *b = strtol(r, NULL, 10);
    int padded = (l[0] == '0' && l[1]) || (r[0] == '0' && r[1]);
    size_t w = strlen(l) > strlen(r) ? strlen(l) : strlen(r);
    *width = padded ? (int)w : 0;
    return 1;
}

static int expand_group(const char *s, size_t open, size_t close, strv *out)
{
    const char *body = s + open + 1, *rest = s + close + 1;
    size_t blen = close - open - 1;
    long a, b;
    int width, rc = CC_OK;
    if (numeric_range(body, blen, &a, &b, &width)) {
        if (labs(b - a) >= MAX_EXPANSION)
            return cc_fail(CC_ERR_INVALID, "shard pattern %s: range too large", s);
        long step = a <= b ? 1 : -1;
        for (long v = a; rc == CC_OK; v += step) {
            char num[32];
            int nn = snprintf(num, sizeof num, "%0*ld", width, v);
            char *t = concat3(s, open, num, (size_t)nn, rest);
            rc = t ? expand(t, out) : cc_fail(CC_ERR_NOMEM, "shard pattern: out of memory");
            free(t);
            if (v == b)
                break;
        }
        return rc;
    }
    /* Comma alternatives at this nesting level. */
    size_t start = 0;
    int depth = 0, any_comma = 0;
    for (size_t i = 0; i <= blen && rc == CC_OK; i++) {
        char c = i < blen ? body[i] : ',';
        if (c == '{')
            depth++;
        else if (c == '}')
            depth--;
        if (c != ',' || depth != 0)
            continue;
        if (i < blen)
            any_comma = 1;
        if (!any_comma)
            break;
        char *t = concat3(s, open, body + start, i - start, rest);
        rc = t ? expand(t, out) : cc_fail(CC_ERR_NOMEM, "shard pattern: out of memory");
        free(t);
        start = i + 1;
    }
    if (rc == CC_OK && !any_comma) {
        /* "{x}" is literal text; expand what follows it. */
        strv tail = {0};
        rc = expand(rest, &tail);
        for (int i = 0; i < tail.n; i++) {
            if (rc == CC_OK)
                rc = strv_push(out, concat3(s, close + 1, "", 0, tail.v[i]));
        }
        ds_strings_free(tail.v, tail.n);
    }
    return rc;
}

static int expand(const char *s, strv *out)
{
    const char *o = strchr(s, '{');
    if (o) {
        int depth = 0;
        for (const char *p = o; *p; p++) {
            if (*p == '{')
                depth++;
            else if (*p == '}' && --depth == 0)
                return expand_group(s, (size_t)(o - s), (size_t)(p - s), out);
        }
    }
    return strv_push(out, ds_strdup(s)); /* no (balanced) brace: literal */
}

int ds_brace_expand(const char *pattern, char ***out, int *n)
{
    *out = NULL;
    *n = 0;
    strv v = {0};
    int rc = CC_OK;
    const char *p = pattern;
    while (rc == CC_OK) {
        const char *sep = strstr(p, "::");
        size_t len = sep ? (size_t)(sep - p) : strlen(p);
        char *part = malloc(len + 1);
        if (!part) {
            rc = cc_fail(CC_ERR_NOMEM, "shard pattern: out of memory");
            break;
        }
        memcpy(part, p, len);
        part[len] = '\0';
        if (len)
            rc = expand(part, &v);
        free(part);
        if (!sep)
            break;
        p = sep + 2;
    }
    if (rc != CC_OK) {
        ds_strings_free(v.v, v.n);
        return rc;
    }
    *out = v.v;
    *n = v.n;
    return CC_OK;
}

/* ---- grouping members into samples ---- */

typedef struct group {
    ds_dataset *ds;
    FILE *f;          /* the shard, for reading captions */
    int32_t shard;
    char key[4096];
    int active, has_image, has_text;
    int64_t img_off, img_size;
    char *caption;
} group;

static int is_image_ext(const char *e)
{
    static const char *const exts[] = {"jpg", "jpeg", "png", "bmp", "gif", "ppm", "pgm", "pnm", "tga",
                                       "webp", "tif", "tiff"};
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
        if (strcmp(e, exts[i]) == 0)
            return 1;
    return 0;
}

static int flush(group *g)
{
    int rc = CC_OK;
    const char *shard = g->ds->shards[g->shard];
    if (!g->active)
        return CC_OK;
    if (g->has_image && g->has_text) {
        size_t n = strlen(shard) + strlen(g->key) + 2;
        char *name = malloc(n);
        if (name)
            snprintf(name, n, "%s:%s", shard, g->key);
        rc = ds_push(g->ds, g->caption, name, g->shard, g->img_off, g->img_size);
        g->caption = NULL;
    } else {
        ds_open_warn(g->ds, "%s: sample %s has %s, skipped", shard, g->key,
                     g->has_image ? "no .txt caption" : "no image (jpg/png/...)");
    }
    free(g->caption);
    g->caption = NULL;
    g->active = g->has_image = g->has_text = 0;
    return rc;
}

static char *read_caption(group *g, const ds_tar_member *m)
{
    if (m->size > DS_MAX_CAPTION_BYTES)
        return NULL;
    char *c = malloc((size_t)m->size + 1);
    if (!c)
        return NULL;
    if (fseeko(g->f, (off_t)m->offset, SEEK_SET) != 0 ||
        fread(c, 1, (size_t)m->size, g->f) != (size_t)m->size) {
        free(c);
        return NULL;
    }
    size_t n = (size_t)m->size;
    c[n] = '\0';
    n = strlen(c);
    while (n && isspace((unsigned char)c[n - 1]))
        c[--n] = '\0';
    return c;
}

static int on_member(void *user, const ds_tar_member *m)
{
    group *g = user;
    /* webdataset's base_plus_ext: key up to the first dot of the file name. */
    const char *slash = strrchr(m->path, '/');
    const char *base = slash ? slash + 1 : m->path;
    const char *dot = strchr(base, '.');
    if (!dot || dot == base || strlen(m->path) >= sizeof g->key)
        return CC_OK;
    size_t klen = (size_t)(dot - m->path);
    char ext[64];
    size_t el = strlen(dot + 1);
    if (el == 0 || el >= sizeof ext)
        return CC_OK;
    for (size_t i = 0; i <= el; i++)
        ext[i] = (char)tolower((unsigned char)dot[1 + i]);
    if (g->active && (strlen(g->key) != klen || memcmp(g->key, m->path, klen) != 0)) {
        int rc = flush(g);
        if (rc != CC_OK)
            return rc;
    }
    if (!g->active) {
        memcpy(g->key, m->path, klen);
        g->key[klen] = '\0';
        g->active = 1;
    }
    if (is_image_ext(ext) && !g->has_image && m->size > IMG_MAX_FILE_BYTES) {
        ds_open_warn(g->ds, "%s: image %s of %" PRId64 " bytes, at most %lld allowed, skipped",
                     g->ds->shards[g->shard], m->path, m->size, IMG_MAX_FILE_BYTES);
    } else if (is_image_ext(ext) && !g->has_image) {
        g->has_image = 1;
        g->img_off = m->offset;
        g->img_size = m->size;
    } else if (strcmp(ext, "txt") == 0 && !g->has_text) {
        g->caption = read_caption(g, m);
        if (g->caption)
            g->has_text = 1;
        else if (m->size > DS_MAX_CAPTION_BYTES)
            ds_open_warn(g->ds, "%s: caption %s of %" PRId64 " bytes, at most %d allowed",
                         g->ds->shards[g->shard], m->path, m->size, DS_MAX_CAPTION_BYTES);
        else
            ds_open_warn(g->ds, "%s: caption %s unreadable (%" PRId64 " bytes)",
                         g->ds->shards[g->shard], m->path, m->size);
    }
    return CC_OK;
}

static void forward_warning(void *user, const char *msg) { ds_open_warn(user, "%s", msg); }

static int scan_shard(ds_dataset *ds, int32_t k)
{
    group *g = calloc(1, sizeof *g);
    if (!g)
        return cc_fail(CC_ERR_NOMEM, "dataset: out of memory");
    g->ds = ds;
    g->shard = k;
    g->f = fopen(ds->shards[k], "rb");
    if (!g->f) {
        free(g);
        return cc_fail(CC_ERR_IO, "cannot open tar shard %s: %s", ds->shards[k], strerror(errno));
    }
    /* The scan counts into a scratch counter: forward_warning already counts. */
    int64_t bad = 0;
    int rc = ds_tar_scan(ds->shards[k], on_member, g, forward_warning, ds, &bad);
    if (rc == CC_OK)
        rc = flush(g);
    free(g->caption);
    fclose(g->f);
    free(g);
    return rc;
}

int ds_open_tar(ds_dataset **out, const char *const *shards, int n_shards, const ds_open_opts *opts)
{
    *out = NULL;
    ds_dataset *ds = ds_new(DS_KIND_TAR, opts);
    if (!ds)
        return cc_fail(CC_ERR_NOMEM, "dataset: out of memory");
    int rc = CC_OK;
    for (int i = 0; i < n_shards && rc == CC_OK; i++) {
        char **names;
        int n;
        rc = ds_brace_expand(shards[i], &names, &n);
        for (int j = 0; j < n && rc == CC_OK; j++) {
            char **sv = realloc(ds->shards, (size_t)(ds->n_shards + 1) * sizeof *sv);
            if (!sv) {
                rc = cc_fail(CC_ERR_NOMEM, "dataset: out of memory");
                break;
            }
            ds->shards = sv;
            ds->shards[ds->n_shards++] = names[j];
            names[j] = NULL;
        }
        ds_strings_free(names, n); /* moved entries are NULL */
    }
    if (rc == CC_OK && ds->n_shards == 0)
        rc = cc_fail(CC_ERR_INVALID, "dataset: no tar shards given");
    for (int k = 0; k < ds->n_shards && rc == CC_OK; k++)
        rc = scan_shard(ds, k);
    if (rc == CC_OK && ds->n == 0)
        rc = cc_fail(CC_ERR_INVALID, "dataset: no image-caption pairs in %d shard(s) (%lld "
                     "skipped)", ds->n_shards, (long long)ds->open_skipped);
    if (rc != CC_OK) {
        ds_close(ds);
        return rc;
    }
    *out = ds;
    return CC_OK;
}
