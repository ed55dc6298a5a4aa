/* Listing the inputs of `clipcl embed-* --data SET` (tools/embed_set.h). */
#include "tools/embed_set.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/dataset.h"
#include "io/emb_shards.h"
#include "runtime/grow.h"
#include "runtime/status.h"

#define MAX_LIST_BYTES (1LL << 32) /* a list or CSV larger than this is surely not one */

static char *dupn(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}
static char *dup0(const char *s) { return s ? dupn(s, strlen(s)) : NULL; }

static const char *ext_of(const char *name)
{
    const char *slash = strrchr(name, '/');
    const char *base = slash ? slash + 1 : name;
    const char *dot = strrchr(base, '.');
    return dot && dot != base ? dot + 1 : "";
}

static int ext_is(const char *name, const char *const *exts)
{
    const char *e = ext_of(name);
    for (; *exts; exts++)
        if (strcasecmp(e, *exts) == 0)
            return 1;
    return 0;
}

static const char *const image_exts[] = {"jpg", "jpeg", "png", "bmp", "gif", "ppm", "pgm", "pnm", "tga",
                                         "webp", "tif", "tiff", NULL};
static const char *const tar_exts[] = {"tar", NULL};

/* The path without its extension (the last dot of the file name). */
static char *strip_ext(const char *p)
{
    const char *slash = strrchr(p, '/');
    const char *base = slash ? slash + 1 : p;
    const char *dot = strrchr(base, '.');
    return dupn(p, dot && dot != base ? (size_t)(dot - p) : strlen(p));
}

/* Takes ownership of path, member, key and caption (freed on failure). */
static int push(bulk_set *s, char *path, char *member, char *key, char *caption, int32_t shard,
                int64_t off, int64_t size)
{
    int need_path = shard < 0;
    /* Relative paths become the path the file is opened with: base joined. */
    if (need_path && path && path[0] && path[0] != '/' && s->base && s->base[0]) {
        size_t n = strlen(s->base) + strlen(path) + 2;
        char *j = malloc(n);
        if (j)
            snprintf(j, n, "%s/%s", s->base, path);
        free(path);
        path = j;
    }
    if ((need_path && !path) || !key || s->n >= INT32_MAX ||
        cc_grow((void **)&s->v, &s->cap, (int)s->n + 1, sizeof *s->v, "SET inputs")) {
        free(path);
        free(member);
        free(key);
        free(caption);
        return cc_fail(CC_ERR_NOMEM, "listing the SET: out of memory");
    }
    s->v[s->n++] = (bulk_input){path, member, key, caption, shard, off, size};
    return CC_OK;
}

static void warn_line(void *user, const char *msg)
{
    bulk_set *s = user;
    s->warnings++;
    fprintf(stderr, "clipcl: warning: %s\n", msg);
}

/* ---- folder tree ---- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Appends the images below root/rel (rel "" for root itself), sorted. */
static int walk(bulk_set *s, const char *root, const char *rel, int depth)
{
    char dir[8192];
    snprintf(dir, sizeof dir, "%s%s%s", root, *rel ? "/" : "", rel);
    if (depth > 64)
        return cc_fail(CC_ERR_INVALID, "%s: folders nested deeper than 64 levels", dir);
    DIR *d = opendir(dir);
    if (!d)
        return cc_fail(CC_ERR_IO, "cannot read folder %s: %s", dir, strerror(errno));
    char **names = NULL;
    int n = 0, cap = 0, rc = CC_OK;
    for (struct dirent *e; (e = readdir(d)) != NULL && !rc;) {
        if (e->d_name[0] == '.')
            continue;
        if (cc_grow((void **)&names, &cap, n + 1, sizeof *names, "folder entries") ||
            !(names[n++] = dup0(e->d_name)))
            rc = cc_fail(CC_ERR_NOMEM, "listing %s: out of memory", dir);
    }
    closedir(d);
    if (!rc && n > 1)
        qsort(names, (size_t)n, sizeof *names, cmp_str);
    for (int i = 0; i < n && !rc; i++) {
        char r[8192], full[8192];
        int l = snprintf(r, sizeof r, "%s%s%s", rel, *rel ? "/" : "", names[i]);
        int lf = snprintf(full, sizeof full, "%s/%s", root, r);
        struct stat st;
        if (l >= (int)sizeof r - 1 || lf < 0 || lf >= (int)sizeof full || stat(full, &st) != 0)
            continue; /* a dangling link or an absurd name: not an image */
        if (S_ISDIR(st.st_mode))
            rc = walk(s, root, r, depth + 1);
        else if (S_ISREG(st.st_mode) && ext_is(r, image_exts))
            rc = push(s, dup0(r), NULL, strip_ext(r), NULL, -1, 0, 0);
    }
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

/* The .tar files at the top of folder, sorted; *n = 0 when none. */
static int folder_tars(const char *folder, char ***out, int *n)
{
    *out = NULL;
    *n = 0;
    DIR *d = opendir(folder);
    if (!d)
        return cc_fail(CC_ERR_IO, "cannot read folder %s: %s", folder, strerror(errno));
    int cap = 0, rc = CC_OK;
    for (struct dirent *e; (e = readdir(d)) != NULL && !rc;) {
        char full[8192];
        struct stat st;
        snprintf(full, sizeof full, "%s/%s", folder, e->d_name);
        if (e->d_name[0] == '.' || !ext_is(e->d_name, tar_exts) || stat(full, &st) != 0 ||
            !S_ISREG(st.st_mode))
            continue;
        if (cc_grow((void **)out, &cap, *n + 1, sizeof **out, "shard names") ||
            !((*out)[(*n)++] = dup0(full)))
            rc = cc_fail(CC_ERR_NOMEM, "listing %s: out of memory", folder);
    }
    closedir(d);
    if (!rc && *n > 1)
        qsort(*out, (size_t)*n, sizeof **out, cmp_str);
    return rc;
}

/* ---- webdataset shards ---- */

typedef struct group {
    bulk_set *s;
    FILE *f;
    int32_t shard;
    char key[4096];
    char *member, *caption;
    int active;
    int64_t off, size;
} group;

static int flush(group *g)
{
    int rc = CC_OK;
    if (!g->active)
        return CC_OK;
    /* Images need the image member, texts the caption. */
    if (g->s->texts ? g->caption != NULL : g->member != NULL) {
        rc = push(g->s, NULL, g->member, dup0(g->key), g->caption, g->shard, g->off, g->size);
    } else {
        char msg[4400];
        snprintf(msg, sizeof msg, "%s: sample %s has no %s, skipped", g->s->shards[g->shard],
                 g->key, g->s->texts ? "readable .txt caption" : "image (jpg/png/...)");
        warn_line(g->s, msg);
        free(g->member);
        free(g->caption);
    }
    g->member = g->caption = NULL;
    g->active = 0;
    return rc;
}

static char *read_caption(FILE *f, int64_t off, int64_t size)
{
    if (size > DS_MAX_CAPTION_BYTES)
        return NULL;
    char *c = malloc((size_t)size + 1);
    if (!c)
        return NULL;
    if (fseeko(f, (off_t)off, SEEK_SET) != 0 || fread(c, 1, (size_t)size, f) != (size_t)size) {
        free(c);
        return NULL;
    }
    c[size] = '\0';
    size_t n = strlen(c);
    while (n && isspace((unsigned char)c[n - 1]))
        c[--n] = '\0';
    return c;
}

/* webdataset's grouping: key = member path up to the first dot of its file
 * name; consecutive members sharing a key are one sample (as io/dataset_tar.c). */
static int on_member(void *user, const ds_tar_member *m)
{
    group *g = user;
    const char *slash = strrchr(m->path, '/');
    const char *base = slash ? slash + 1 : m->path;
    const char *dot = strchr(base, '.');
    if (!dot || dot == base || strlen(m->path) >= sizeof g->key)
        return CC_OK;
    size_t klen = (size_t)(dot - m->path);
    if (g->active && (strlen(g->key) != klen || memcmp(g->key, m->path, klen) != 0)) {
        int rc = flush(g);
        if (rc)
            return rc;
    }
    if (!g->active) {
        memcpy(g->key, m->path, klen);
        g->key[klen] = '\0';
        g->active = 1;
    }
    const char *ext = dot + 1;
    if (!g->member && ext_is(m->path, image_exts) && !strchr(ext, '.')) {
        g->member = dup0(m->path);
        g->off = m->offset;
        g->size = m->size;
        if (!g->member)
            return cc_fail(CC_ERR_NOMEM, "listing shards: out of memory");
    } else if (!g->caption && strcasecmp(ext, "txt") == 0) {
        g->caption = read_caption(g->f, m->offset, m->size);
    }
    return CC_OK;
}

static int scan_shard(bulk_set *s, int32_t k)
{
    group g = {0};
    g.s = s;
    g.shard = k;
    g.f = fopen(s->shards[k], "rb");
    if (!g.f)
        return cc_fail(CC_ERR_IO, "cannot open tar shard %s: %s", s->shards[k], strerror(errno));
    int rc = ds_tar_scan(s->shards[k], on_member, &g, warn_line, s, NULL);
    if (!rc)
        rc = flush(&g);
    free(g.member);
    free(g.caption);
    fclose(g.f);
    return rc;
}

static int add_shard(bulk_set *s, char *path, int *cap)
{
    if (!path || cc_grow((void **)&s->shards, cap, s->n_shards + 1, sizeof *s->shards, "shards")) {
        free(path);
        return cc_fail(CC_ERR_NOMEM, "listing shards: out of memory");
    }
    s->shards[s->n_shards++] = path;
    return CC_OK;
}

/* Brace patterns expanded, then each name with * ? [ globbed (sorted). */
static int expand_shards(bulk_set *s, const char *set)
{
    char **names = NULL;
    int n = 0, cap = 0;
    int rc = ds_brace_expand(set, &names, &n);
    for (int i = 0; i < n && !rc; i++) {
        if (!strpbrk(names[i], "*?[")) {
            struct stat st;
            if (stat(names[i], &st) != 0 || !S_ISREG(st.st_mode))
                rc = cc_fail(CC_ERR_IO, "tar shard %s: %s", names[i],
                             errno == ENOENT || !S_ISREG(st.st_mode) ? "no such file"
                                                                     : strerror(errno));
            else
                rc = add_shard(s, dup0(names[i]), &cap);
            continue;
        }
        glob_t gl;
        int g = glob(names[i], 0, NULL, &gl);
        if (g == GLOB_NOMATCH)
            rc = cc_fail(CC_ERR_IO, "shard pattern %s matches no file", names[i]);
        else if (g != 0)
            rc = cc_fail(CC_ERR_IO, "shard pattern %s: cannot be expanded", names[i]);
        for (size_t j = 0; g == 0 && j < gl.gl_pathc && !rc; j++)
            rc = add_shard(s, dup0(gl.gl_pathv[j]), &cap);
        if (g == 0)
            globfree(&gl);
    }
    ds_strings_free(names, n);
    return rc;
}

/* ---- CSV and line lists ---- */

static int find_col(char **cells, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(cells[i], name) == 0)
            return i;
    return -1;
}

static void free_cells(char **cells, int n)
{
    for (int i = 0; i < n; i++)
        free(cells[i]);
}

static int open_csv(bulk_set *s, const char *path, const bulk_set_opts *o)
{
    const char *ik = o->img_key ? o->img_key : "filepath";
    const char *ck = o->caption_key ? o->caption_key : "title";
    char sep = ext_is(path, (const char *const[]){"tsv", "tab", NULL}) ? '\t' : ',';
    char *text = NULL, **cells = NULL;
    size_t len = 0, pos = 0;
    int nf = 0, cap = 0, ic = -1, cc = -1;
    int rc = es_read_text(path, MAX_LIST_BYTES, &text, &len);
    for (int64_t rec = 0; !rc; rec++) {
        rc = es_csv_record(text, len, &pos, sep, &cells, &nf, &cap);
        if (rc) {
            rc = cc_wrap(CC_ERR_INVALID, "%s: record %" PRId64, path, rec + 1);
            break;
        }
        if (nf == 0)
            break;
        if (rec == 0) {
            ic = find_col(cells, nf, ik);
            cc = find_col(cells, nf, ck);
            free_cells(cells, nf);
            if (ic < 0 && !o->texts)
                rc = cc_fail(CC_ERR_INVALID, "%s: no column \"%s\" (the image paths; "
                             "--csv-img-key names another)", path, ik);
            if (cc < 0 && o->texts)
                rc = cc_fail(CC_ERR_INVALID, "%s: no column \"%s\" (the texts; "
                             "--csv-caption-key names another)", path, ck);
            continue;
        }
        int blank = nf == 1 && !cells[0][0];
        char *img = ic >= 0 && ic < nf ? cells[ic] : NULL;
        char *cap_ = cc >= 0 && cc < nf ? cells[cc] : NULL;
        if (blank || (!o->texts && (!img || !*img))) {
            if (!blank) {
                char msg[512];
                snprintf(msg, sizeof msg, "%s: record %" PRId64 " has no image path, skipped",
                         path, rec + 1);
                warn_line(s, msg);
            }
            free_cells(cells, nf);
            continue;
        }
        char key[32];
        snprintf(key, sizeof key, "%09" PRId64, s->n);
        char *k = img && *img ? strip_ext(img) : dup0(key);
        /* Taken out of cells so free_cells leaves them. */
        if (ic >= 0 && ic < nf)
            cells[ic] = NULL;
        if (cc >= 0 && cc < nf)
            cells[cc] = NULL;
        free_cells(cells, nf);
        if (img && !*img) {
            free(img);
            img = NULL;
        }
        rc = push(s, img ? img : dup0(""), NULL, k, cap_, -1, 0, 0);
    }
    free(cells);
    free(text);
    return rc;
}

static int open_lines(bulk_set *s, const char *path, int texts)
{
    char *text = NULL;
    size_t len = 0;
    int rc = es_read_text(path, MAX_LIST_BYTES, &text, &len);
    for (size_t p = 0; !rc && p < len;) {
        size_t e = p;
        while (e < len && text[e] != '\n')
            e++;
        size_t l = e - p;
        if (l && text[p + l - 1] == '\r')
            l--;
        if (texts) {
            char key[32];
            snprintf(key, sizeof key, "%09" PRId64, s->n);
            rc = push(s, dup0(""), NULL, dup0(key), dupn(text + p, l), -1, 0, 0);
        } else if (l) {
            char *line = dupn(text + p, l);
            rc = push(s, line, NULL, line ? strip_ext(line) : NULL, NULL, -1, 0, 0);
        }
        p = e + 1;
    }
    free(text);
    return rc;
}

/* The folder holding file, or "" when it has none. */
static char *dir_of(const char *file)
{
    const char *slash = strrchr(file, '/');
    return slash ? dupn(file, (size_t)(slash - file == 0 ? 1 : slash - file)) : dup0("");
}

int bulk_set_open(const char *set, const bulk_set_opts *o, bulk_set *s)
{
    memset(s, 0, sizeof *s);
    int rc = CC_OK;
    struct stat st;
    int exists = stat(set, &st) == 0;
    int is_dir = exists && S_ISDIR(st.st_mode);
    int pattern = strpbrk(set, "*?[{") != NULL || strstr(set, "::") != NULL;
    if (!*set)
        return cc_fail(CC_ERR_INVALID, "--data \"\": expected a folder, shards, a CSV or a list");
    s->texts = o->texts;
    if (is_dir) {
        /* "dir/" and "dir" give the same paths */
        char *dir = dup0(set);
        for (size_t l = dir ? strlen(dir) : 0; l > 1 && dir[l - 1] == '/'; l--)
            dir[l - 1] = '\0';
        char **tars = NULL;
        int n = 0;
        rc = dir ? folder_tars(dir, &tars, &n) : cc_fail(CC_ERR_NOMEM, "out of memory");
        if (!rc && n > 0) {
            s->shards = tars;
            s->n_shards = n;
            free(dir);
        } else if (!rc && o->texts) {
            free(tars);
            free(dir);
            rc = cc_fail(CC_ERR_INVALID, "--data %s: texts come from a .csv/.tsv (caption column), "
                         "a .txt (one text per line) or webdataset shards (.txt members); this "
                         "folder holds no .tar", set);
        } else {
            free(tars);
            s->base = dir;
            rc = rc ? rc : walk(s, dir, "", 0);
        }
    } else if (exists && ext_is(set, (const char *const[]){"csv", "tsv", "tab", NULL})) {
        s->base = dir_of(set);
        rc = s->base ? open_csv(s, set, o) : CC_ERR_NOMEM;
    } else if (exists && ext_is(set, (const char *const[]){"txt", "lst", "list", NULL})) {
        s->base = dir_of(set);
        rc = s->base ? open_lines(s, set, o->texts) : CC_ERR_NOMEM;
    } else if (pattern || ext_is(set, tar_exts)) {
        rc = expand_shards(s, set);
    } else if (!exists) {
        rc = cc_fail(CC_ERR_IO, "--data %s: no such file or folder", set);
    } else {
        rc = cc_fail(CC_ERR_INVALID, "--data %s: expected a folder, .tar shards (or a pattern), "
                     "a .csv/.tsv or a .txt list", set);
    }
    for (int k = 0; k < s->n_shards && !rc; k++)
        rc = scan_shard(s, k);
    if (!rc && s->n == 0)
        rc = cc_fail(CC_ERR_INVALID, "--data %s: no %s found", set, o->texts ? "texts" : "images");
    if (rc)
        bulk_set_free(s);
    return rc;
}

void bulk_set_free(bulk_set *s)
{
    for (int64_t i = 0; i < s->n; i++) {
        free(s->v[i].path);
        free(s->v[i].member);
        free(s->v[i].key);
        free(s->v[i].caption);
    }
    free(s->v);
    ds_strings_free(s->shards, s->n_shards);
    free(s->base);
    memset(s, 0, sizeof *s);
}

const char *bulk_input_path(const bulk_set *s, int64_t i)
{
    const bulk_input *in = &s->v[i];
    return in->shard >= 0 ? s->shards[in->shard] : in->path;
}

int bulk_input_open_path(const bulk_set *s, int64_t i, char *buf, size_t cap)
{
    const char *p = bulk_input_path(s, i);
    int n = snprintf(buf, cap, "%s", p);
    if (n < 0 || (size_t)n >= cap)
        return cc_fail(CC_ERR_INVALID, "path too long: %s", p);
    return CC_OK;
}
