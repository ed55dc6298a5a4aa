/* Embedding folder: shard discovery, manifest, mapping (io/emb_index.h). */
#include "io/emb_index.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

/* A shard number beyond this is a typo'd or hostile name, not a real index:
 * 100,000 shards of 10,000 rows are a billion rows. */
#define MAX_SHARD_NUMBER 99999999L

const char *embidx_kind_prefix(int kind) { return kind == EMBIDX_TEXT ? "text_emb" : "img_emb"; }

static const char *meta_prefix(int kind) { return kind == EMBIDX_TEXT ? "text_metadata" : "metadata"; }

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static char *join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p)
        return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

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
        if (v > MAX_SHARD_NUMBER)
            return -1;
        v = v * 10 + (*d++ - '0');
        digits++;
    }
    return digits && strcmp(d, ".npy") == 0 ? v : -1;
}

typedef struct found {
    long number;
    char *name;
} found;

static int by_number(const void *a, const void *b)
{
    long x = ((const found *)a)->number, y = ((const found *)b)->number;
    return (x > y) - (x < y);
}

static void free_found(found *f, int n)
{
    for (int i = 0; i < n; i++)
        free(f[i].name);
    free(f);
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
    struct dirent *e;
    while (rc == CC_OK && (e = readdir(d)) != NULL) {
        long num = shard_number(e->d_name, embidx_kind_prefix(kind));
        if (num < 0)
            continue;
        if (cc_grow((void **)&f, &cap, n + 1, sizeof *f, "shard list")) {
            rc = CC_ERR_NOMEM;
            break;
        }
        f[n].number = num;
        f[n].name = dup_str(e->d_name);
        if (!f[n++].name)
            rc = cc_fail(CC_ERR_NOMEM, "index %s: out of memory", dir);
    }
    closedir(d);
    if (rc != CC_OK) {
        free_found(f, n);
        return rc;
    }
    if (n > 1)
        qsort(f, (size_t)n, sizeof *f, by_number);
    *out = f;
    *n_out = n;
    return CC_OK;
}

/* ---- manifest.json ------------------------------------------------------ */

typedef struct manifest {
    int present;
    int kind;      /* EMBIDX_AUTO when absent */
    int dim;       /* 0 when absent */
    int normalized;
    char *model, *data;
} manifest;

static int manifest_string(struct json_object *root, const char *key, const char *path, char **out)
{
    struct json_object *v;
    if (!json_object_object_get_ex(root, key, &v) || json_object_is_type(v, json_type_null))
        return CC_OK;
    if (!json_object_is_type(v, json_type_string))
        return cc_fail(CC_ERR_INVALID, "%s: \"%s\" is not a string", path, key);
    *out = dup_str(json_object_get_string(v));
    return *out ? CC_OK : CC_ERR_NOMEM;
}

static int read_manifest(const char *dir, manifest *m)
{
    memset(m, 0, sizeof *m);
    m->kind = EMBIDX_AUTO;
    m->normalized = -1;
    char *path = join(dir, "manifest.json");
    if (!path)
        return CC_ERR_NOMEM;
    struct stat st;
    if (stat(path, &st) != 0) {
        free(path);
        return CC_OK; /* an index may be made by hand: shards and metadata suffice */
    }
    m->present = 1;
    struct json_object *root = json_object_from_file(path);
    int rc = CC_OK;
    if (!root || !json_object_is_type(root, json_type_object)) {
        rc = cc_fail(CC_ERR_INVALID, "%s: not a JSON object (%s)", path,
                     cc_line(json_util_get_last_err(), "wrong type"));
        goto done;
    }
    struct json_object *v;
    if (json_object_object_get_ex(root, "kind", &v)) {
        const char *k = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
        if (strcmp(k, "image") == 0)
            m->kind = EMBIDX_IMAGE;
        else if (strcmp(k, "text") == 0)
            m->kind = EMBIDX_TEXT;
        else {
            rc = cc_fail(CC_ERR_INVALID, "%s: \"kind\" is \"%s\", expected \"image\" or \"text\"",
                         path, k);
            goto done;
        }
    }
    if (json_object_object_get_ex(root, "embed_dim", &v)) {
        int64_t d = json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : 0;
        if (d < 1 || d > (1 << 20)) {
            rc = cc_fail(CC_ERR_INVALID, "%s: \"embed_dim\" is not a positive integer", path);
            goto done;
        }
        m->dim = (int)d;
    }
    if (json_object_object_get_ex(root, "normalized", &v))
        m->normalized = json_object_get_boolean(v) ? 1 : 0;
    rc = manifest_string(root, "model", path, &m->model);
    if (rc == CC_OK)
        rc = manifest_string(root, "data", path, &m->data);
done:
    json_object_put(root);
    free(path);
    return rc;
}

/* ---- open ---------------------------------------------------------------- */

static int add_shard(embidx *ix, const found *f, int i)
{
    embidx_shard *s = &ix->shards[i];
    /* metadata_<the same digits>.csv */
    const char *digits = f->name + strlen(embidx_kind_prefix(ix->kind)) + 1;
    char meta_name[64];
    snprintf(meta_name, sizeof meta_name, "%s_%.*s.csv", meta_prefix(ix->kind),
             (int)(strlen(digits) - strlen(".npy")), digits);
    s->npy_path = join(ix->dir, f->name);
    s->meta_path = join(ix->dir, meta_name);
    if (!s->npy_path || !s->meta_path)
        return cc_fail(CC_ERR_NOMEM, "index %s: out of memory", ix->dir);
    int64_t shape[NPY_MAX_DIMS];
    int ndim = 0;
    int rc = npy_read_header(s->npy_path, NPY_F32, shape, &ndim, &s->data_offset);
    if (rc != CC_OK)
        return cc_wrap(rc, "index shard");
    if (ndim != 2 || shape[1] < 1 || shape[1] > (1 << 20))
        return cc_fail(CC_ERR_SHAPE, "%s: %d-D array, expected rows x embed_dim (2-D, width >= 1)",
                       s->npy_path, ndim);
    if (s->data_offset % (int64_t)sizeof(float) != 0)
        return cc_fail(CC_ERR_UNSUPPORTED, "%s: data at byte %lld, expected a multiple of 4 (as "
                       "numpy and clipcl align it)", s->npy_path, (long long)s->data_offset);
    if (i == 0 && ix->dim == 0)
        ix->dim = (int)shape[1];
    if (shape[1] != ix->dim)
        return cc_fail(CC_ERR_SHAPE, "%s: %lld columns, expected %d (%s)", s->npy_path,
                       (long long)shape[1], ix->dim,
                       i == 0 ? "the manifest's embed_dim" : "the width of the first shard");
    struct stat st;
    if (stat(s->meta_path, &st) != 0 || !S_ISREG(st.st_mode))
        return cc_fail(CC_ERR_IO, "%s: missing (the metadata of %s)", s->meta_path, f->name);
    s->rows = shape[0];
    s->first_row = ix->rows;
    ix->rows += shape[0];
    return CC_OK;
}

static int open_shards(embidx *ix, int auto_kind)
{
    found *f = NULL;
    int n = 0;
    int rc = list_shards(ix->dir, ix->kind, &f, &n);
    if (rc != CC_OK)
        return rc;
    if (n == 0) {
        free_found(f, n);
        if (auto_kind)
            return cc_fail(CC_ERR_IO, "index %s: no img_emb_NNNN.npy or text_emb_NNNN.npy shards "
                                      "(expected the output folder of `clipcl embed-image --data`)",
                           ix->dir);
        return cc_fail(CC_ERR_IO, "index %s: no %s_NNNN.npy shards (expected the output folder of "
                                  "`clipcl embed-%s --data`)", ix->dir,
                       embidx_kind_prefix(ix->kind), ix->kind == EMBIDX_TEXT ? "text" : "image");
    }
    /* Shards are numbered from 0 without gaps; a gap means a shard was lost
     * and every later row's metadata would belong to the wrong image. */
    for (int i = 0; i < n && rc == CC_OK; i++)
        if (f[i].number != i)
            rc = cc_fail(CC_ERR_IO, "index %s: %s_%04d.npy is missing (found %s)", ix->dir,
                         embidx_kind_prefix(ix->kind), i, f[i].name);
    if (rc == CC_OK) {
        ix->shards = calloc((size_t)n, sizeof *ix->shards);
        if (!ix->shards)
            rc = cc_fail(CC_ERR_NOMEM, "index %s: out of memory", ix->dir);
        else
            ix->n_shards = n;
    }
    for (int i = 0; i < n && rc == CC_OK; i++)
        rc = add_shard(ix, &f[i], i);
    free_found(f, n);
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
    ix->dir = dup_str(dir);
    if (!ix->dir)
        return CC_ERR_NOMEM;
    manifest m;
    int rc = read_manifest(dir, &m);
    int auto_kind = kind == EMBIDX_AUTO && m.kind == EMBIDX_AUTO;
    ix->model = m.model;
    ix->data = m.data;
    ix->normalized = m.normalized;
    ix->dim = m.dim;
    if (rc == CC_OK) {
        if (kind == EMBIDX_AUTO && m.kind != EMBIDX_AUTO) {
            kind = m.kind;
        } else if (kind == EMBIDX_AUTO) {
            found *f = NULL;
            int n = 0;
            rc = list_shards(dir, EMBIDX_IMAGE, &f, &n);
            free_found(f, n);
            kind = n > 0 ? EMBIDX_IMAGE : EMBIDX_TEXT;
        }
        /* embed_dim describes the manifest's own kind only. */
        if (m.kind != EMBIDX_AUTO && m.kind != kind)
            ix->dim = 0;
        ix->kind = kind;
    }
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
    for (int i = 0; i < ix->n_shards; i++) {
        free(ix->shards[i].npy_path);
        free(ix->shards[i].meta_path);
    }
    free(ix->shards);
    free(ix->dir);
    free(ix->model);
    free(ix->data);
    memset(ix, 0, sizeof *ix);
}

/* ---- mapping -------------------------------------------------------------- */

int embidx_map(const embidx *ix, int s, embidx_view *v)
{
    memset(v, 0, sizeof *v);
    const embidx_shard *sh = &ix->shards[s];
    v->rows = sh->rows;
    v->first_row = sh->first_row;
    if (sh->rows == 0)
        return CC_OK;
    size_t bytes = (size_t)sh->rows * (size_t)ix->dim * sizeof(float);
    size_t len = (size_t)sh->data_offset + bytes;
    int fd = open(sh->npy_path, O_RDONLY);
    if (fd < 0)
        return cc_fail(CC_ERR_IO, "cannot open %s: %s", sh->npy_path, strerror(errno));
    /* The size again: the file may have been replaced since embidx_open, and
     * reading past the end of a mapping is a SIGBUS, not an error. */
    struct stat st;
    if (fstat(fd, &st) != 0 || (size_t)st.st_size != len) {
        close(fd);
        return cc_fail(CC_ERR_IO, "%s: changed since the index was opened (expected %zu bytes)",
                       sh->npy_path, len);
    }
    void *p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED)
        return cc_fail(CC_ERR_IO, "cannot map %s: %s", sh->npy_path, strerror(e));
    /* Read once, front to back. */
    madvise(p, len, MADV_SEQUENTIAL);
    madvise(p, len, MADV_WILLNEED);
    v->base = p;
    v->len = len;
    v->x = (const float *)((const char *)p + sh->data_offset);
    return CC_OK;
}

void embidx_unmap(embidx_view *v)
{
    if (v->base)
        munmap(v->base, v->len);
    memset(v, 0, sizeof *v);
}
