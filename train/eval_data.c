/* Labelled image sets and caption sets for evaluation (train/eval_data.h):
 * folders per class, or CSVs read through io/dataset's CSV reader (the label
 * column takes the caption column's place there). */
#include "train/eval_data.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/status.h"

int eval_strs_push(eval_strs *s, const char *str)
{
    if (s->n == s->cap) {
        int64_t cap = s->cap ? s->cap * 2 : 64;
        char **v = realloc(s->v, (size_t)cap * sizeof *v);
        if (!v)
            return cc_fail(CC_ERR_NOMEM, "eval: a list of %lld strings", (long long)cap);
        s->v = v;
        s->cap = cap;
    }
    size_t len = strlen(str);
    char *c = malloc(len + 1);
    if (!c)
        return cc_fail(CC_ERR_NOMEM, "eval: a string of %zu bytes", len);
    memcpy(c, str, len + 1);
    s->v[s->n++] = c;
    return CC_OK;
}

void eval_strs_free(eval_strs *s)
{
    for (int64_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof *s);
}

int64_t eval_strs_find(const eval_strs *s, const char *str)
{
    for (int64_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i], str) == 0)
            return i;
    return -1;
}

/* ---- a string -> index hash (open addressing), for sets of any size ---- */

typedef struct str_index {
    int64_t *slot; /* -1 empty, else an index into strs */
    size_t mask;
    const eval_strs *strs;
} str_index;

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static int index_init(str_index *x, const eval_strs *strs, size_t expect)
{
    size_t cap = 16;
    while (cap < 2 * expect + 2)
        cap *= 2;
    x->slot = malloc(cap * sizeof *x->slot);
    if (!x->slot)
        return cc_fail(CC_ERR_NOMEM, "eval: an index of %zu strings", expect);
    for (size_t i = 0; i < cap; i++)
        x->slot[i] = -1;
    x->mask = cap - 1;
    x->strs = strs;
    return CC_OK;
}

/* Finds str; when absent and add >= 0, records add as its index. Returns the
 * found index, or -1 when absent (then added if asked). */
static int64_t index_get(str_index *x, const char *str, int64_t add)
{
    size_t h = (size_t)fnv1a(str) & x->mask;
    while (x->slot[h] >= 0) {
        if (strcmp(x->strs->v[x->slot[h]], str) == 0)
            return x->slot[h];
        h = (h + 1) & x->mask;
    }
    if (add >= 0)
        x->slot[h] = add;
    return -1;
}

/* ---- labelled sets ---- */

static int is_image_name(const char *n)
{
    static const char *const ext[] = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".ppm",
                                      ".pgm", ".tga", ".pnm", ".webp", ".tif", ".tiff"};
    const char *d = strrchr(n, '.');
    if (!d)
        return 0;
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++)
        if (strcasecmp(d, ext[i]) == 0)
            return 1;
    return 0;
}

/* dir/name into path; a path too long for it is an error, not a cut. */
static int join(char *path, size_t cap, const char *dir, const char *name)
{
    int n = snprintf(path, cap, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= cap)
        return cc_fail(CC_ERR_INVALID, "eval: path %s/%s is longer than %zu bytes", dir, name,
                       cap - 1);
    return CC_OK;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names in dir that are sub-folders (want_dirs) or image files. */
static int list_dir(const char *dir, int want_dirs, eval_strs *out)
{
    DIR *d = opendir(dir);
    if (!d)
        return cc_fail(CC_ERR_IO, "eval: cannot open folder %s: %s", dir, strerror(errno));
    int rc = CC_OK;
    struct dirent *e;
    char path[4096];
    while (rc == CC_OK && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        struct stat st;
        if ((rc = join(path, sizeof path, dir, e->d_name)) != CC_OK || stat(path, &st) != 0)
            continue;
        if (want_dirs ? S_ISDIR(st.st_mode) : (S_ISREG(st.st_mode) && is_image_name(e->d_name)))
            rc = eval_strs_push(out, e->d_name);
    }
    closedir(d);
    if (rc == CC_OK && out->n > 1)
        qsort(out->v, (size_t)out->n, sizeof *out->v, cmp_str);
    return rc;
}

static int open_folders(const char *src, eval_set *s)
{
    eval_strs classes = {0};
    int rc = list_dir(src, 1, &classes);
    if (rc == CC_OK && classes.n == 0)
        rc = cc_fail(CC_ERR_INVALID, "eval: folder %s has no class sub-folders (expected "
                                     "one folder of images per class)", src);
    char path[4096];
    for (int64_t c = 0; c < classes.n && rc == CC_OK; c++) {
        eval_strs files = {0};
        char cdir[4096];
        rc = join(cdir, sizeof cdir, src, classes.v[c]);
        if (rc == CC_OK)
            rc = list_dir(cdir, 0, &files);
        char *label = strdup(classes.v[c]);
        if (rc == CC_OK && !label)
            rc = cc_fail(CC_ERR_NOMEM, "eval: a class name");
        for (char *p = label; p && *p; p++)
            if (*p == '_')
                *p = ' ';
        for (int64_t i = 0; i < files.n && rc == CC_OK; i++) {
            rc = join(path, sizeof path, cdir, files.v[i]);
            if (rc == CC_OK)
                rc = eval_strs_push(&s->paths, path);
            if (rc == CC_OK)
                rc = eval_strs_push(&s->labels, label);
        }
        free(label);
        eval_strs_free(&files);
    }
    eval_strs_free(&classes);
    s->from_folders = 1;
    return rc;
}

/* The header's column names (simple split: names are plain words). */
static int header_has(const char *csv, char sep, const char *name, int *has)
{
    *has = 0;
    FILE *f = fopen(csv, "rb");
    if (!f)
        return cc_fail(CC_ERR_IO, "eval: cannot open %s: %s", csv, strerror(errno));
    char line[8192];
    if (!fgets(line, sizeof line, f))
        line[0] = '\0';
    fclose(f);
    char *p = line;
    if ((unsigned char)p[0] == 0xEF && (unsigned char)p[1] == 0xBB && (unsigned char)p[2] == 0xBF)
        p += 3;
    for (;;) {
        char *e = strchr(p, sep);
        size_t n = e ? (size_t)(e - p) : strcspn(p, "\r\n");
        const char *b = p;
        while (n && (*b == '"' || isspace((unsigned char)*b)))
            b++, n--;
        while (n && (b[n - 1] == '"' || isspace((unsigned char)b[n - 1])))
            n--;
        if (n == strlen(name) && strncmp(b, name, n) == 0) {
            *has = 1;
            return CC_OK;
        }
        if (!e)
            return CC_OK;
        p = e + 1;
    }
}

static char csv_sep(const char *path)
{
    const char *d = strrchr(path, '.');
    return d && (strcasecmp(d, ".tsv") == 0 || strcasecmp(d, ".tab") == 0) ? '\t' : ',';
}

static int is_uint(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 9)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return 0;
    return 1;
}

static int open_csv(const char *src, const eval_set_opts *o, eval_set *s)
{
    const char *key = o ? o->label_key : NULL;
    if (!key) {
        static const char *const guess[] = {"label", "class", "class_pair"};
        for (int g = 0; g < 3 && !key; g++) {
            int has = 0;
            int rc = header_has(src, csv_sep(src), guess[g], &has);
            if (rc != CC_OK)
                return rc;
            if (has)
                key = guess[g];
        }
        if (!key)
            return cc_fail(CC_ERR_INVALID, "eval: %s has no label column (looked for label, "
                                           "class, class_pair; name one with --label-key)", src);
    }
    ds_open_opts oo = {.img_key = o && o->img_key ? o->img_key : "filepath",
                       .caption_key = key,
                       .warn = o ? o->warn : NULL,
                       .warn_user = o ? o->warn_user : NULL};
    ds_dataset *ds = NULL;
    int rc = ds_open_csv(&ds, src, &oo);
    if (rc != CC_OK)
        return rc;
    s->numeric = 1;
    for (int64_t i = 0; i < ds_count(ds) && rc == CC_OK; i++) {
        rc = eval_strs_push(&s->paths, ds_name(ds, i));
        if (rc == CC_OK)
            rc = eval_strs_push(&s->labels, ds_caption(ds, i));
        if (rc == CC_OK && !is_uint(ds_caption(ds, i)))
            s->numeric = 0;
    }
    ds_close(ds);
    if (rc == CC_OK && strncmp(key, "class_", 6) == 0 && key[6]) {
        const char *slash = strrchr(src, '/');
        int dl = slash ? (int)(slash - src) : 1;
        char hint[4096];
        snprintf(hint, sizeof hint, "%.*s/classes_%s.txt", dl, slash ? src : ".", key + 6);
        if (access(hint, R_OK) == 0)
            snprintf(s->classes_hint, sizeof s->classes_hint, "%s", hint);
    }
    return rc;
}

/* A folder that holds a labelled CSV (what `clipcl synth` writes) is most
 * likely named by mistake for that CSV: its sub-folders are splits, not
 * classes. Say so once; the folder reading stands. */
static void warn_csv_beside(const char *dir, const eval_set_opts *o)
{
    if (!o || !o->warn)
        return;
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n > 4 && strcmp(e->d_name + n - 4, ".csv") == 0) {
            char msg[600];
            snprintf(msg, sizeof msg, "%s holds %s: its sub-folders are read as the classes; "
                     "to use a CSV's labels, name the CSV instead", dir, e->d_name);
            o->warn(o->warn_user, msg);
            break;
        }
    }
    closedir(d);
}

int eval_set_open(const char *src, const eval_set_opts *o, eval_set *out)
{
    memset(out, 0, sizeof *out);
    if (!src || !*src)
        return cc_fail(CC_ERR_INVALID, "eval: no labelled set given");
    struct stat st;
    if (stat(src, &st) != 0)
        return cc_fail(CC_ERR_IO, "eval: cannot open %s: %s", src, strerror(errno));
    int rc = S_ISDIR(st.st_mode) ? open_folders(src, out) : open_csv(src, o, out);
    if (rc == CC_OK && S_ISDIR(st.st_mode))
        warn_csv_beside(src, o);
    if (rc == CC_OK && out->paths.n == 0)
        rc = cc_fail(CC_ERR_INVALID, "eval: %s holds no images", src);
    if (rc != CC_OK)
        eval_set_free(out);
    return rc;
}

void eval_set_free(eval_set *s)
{
    eval_strs_free(&s->paths);
    eval_strs_free(&s->labels);
}

int eval_classes_read(const char *path, eval_strs *out)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f)
        return cc_fail(CC_ERR_IO, "eval: cannot open class list %s: %s", path, strerror(errno));
    char line[4096];
    int rc = CC_OK;
    while (rc == CC_OK && fgets(line, sizeof line, f)) {
        size_t n = strcspn(line, "\r\n");
        while (n && isspace((unsigned char)line[n - 1]))
            n--;
        line[n] = '\0';
        if (n == 0)
            continue;
        if (eval_strs_find(out, line) >= 0)
            rc = cc_fail(CC_ERR_INVALID, "eval: class \"%s\" appears twice in %s", line, path);
        else
            rc = eval_strs_push(out, line);
    }
    if (rc == CC_OK && ferror(f))
        rc = cc_fail(CC_ERR_IO, "eval: cannot read class list %s: %s", path, strerror(errno));
    fclose(f);
    if (rc == CC_OK && out->n == 0)
        rc = cc_fail(CC_ERR_INVALID, "eval: class list %s is empty", path);
    if (rc != CC_OK)
        eval_strs_free(out);
    return rc;
}

static int numeric_first;
static int cmp_label(const void *a, const void *b)
{
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    if (numeric_first) {
        long u = strtol(x, NULL, 10), v = strtol(y, NULL, 10);
        if (u != v)
            return u < v ? -1 : 1;
    }
    return strcmp(x, y);
}

int eval_classes_collect(const eval_set *const *sets, int n_sets, eval_strs *out)
{
    memset(out, 0, sizeof *out);
    int64_t total = 0;
    int numeric = 1;
    for (int k = 0; k < n_sets; k++)
        total += sets[k]->labels.n, numeric &= sets[k]->numeric;
    str_index x = {0};
    int rc = index_init(&x, out, (size_t)total);
    for (int k = 0; k < n_sets && rc == CC_OK; k++)
        for (int64_t i = 0; i < sets[k]->labels.n && rc == CC_OK; i++)
            if (index_get(&x, sets[k]->labels.v[i], out->n) < 0)
                rc = eval_strs_push(out, sets[k]->labels.v[i]);
    free(x.slot);
    if (rc == CC_OK && out->n > 1) {
        numeric_first = numeric;
        qsort(out->v, (size_t)out->n, sizeof *out->v, cmp_label);
    }
    if (rc != CC_OK)
        eval_strs_free(out);
    return rc;
}

int eval_set_classes(const eval_set *s, const eval_strs *classes, int names_are_file,
                     int32_t *labels)
{
    if (classes->n < 1 || classes->n > INT32_MAX)
        return cc_fail(CC_ERR_INVALID, "eval: expected at least one class, found %lld",
                       (long long)classes->n);
    int by_index = s->numeric && names_are_file;
    str_index x = {0};
    int rc = by_index ? CC_OK : index_init(&x, classes, (size_t)classes->n);
    for (int64_t c = 0; c < classes->n && rc == CC_OK && !by_index; c++)
        index_get(&x, classes->v[c], c);
    for (int64_t i = 0; i < s->labels.n && rc == CC_OK; i++) {
        const char *l = s->labels.v[i];
        int64_t c = by_index ? strtol(l, NULL, 10) : index_get(&x, l, -1);
        if (c < 0 || c >= classes->n)
            rc = by_index ? cc_fail(CC_ERR_INVALID, "eval: label %s of %s is not a class index "
                                                    "(expected 0..%lld)", l, s->paths.v[i],
                                    (long long)classes->n - 1)
                          : cc_fail(CC_ERR_INVALID, "eval: label \"%s\" of %s is not among the "
                                                    "%lld classes", l, s->paths.v[i],
                                    (long long)classes->n);
        else
            labels[i] = (int32_t)c;
    }
    free(x.slot);
    return rc;
}

/* ---- caption sets ---- */

int eval_captions_open(const char *csv, const char *img_key, const char *caption_key,
                       ds_warn_fn warn, void *warn_user, eval_captions *out)
{
    memset(out, 0, sizeof *out);
    ds_open_opts oo = {.img_key = img_key, .caption_key = caption_key, .warn = warn,
                       .warn_user = warn_user};
    ds_dataset *ds = NULL;
    int rc = ds_open_csv(&ds, csv, &oo);
    if (rc != CC_OK)
        return rc;
    int64_t n = ds_count(ds);
    str_index x = {0};
    if (n == 0)
        rc = cc_fail(CC_ERR_INVALID, "eval: caption set %s holds no rows", csv);
    if (rc == CC_OK)
        rc = index_init(&x, &out->images, (size_t)n);
    if (rc == CC_OK && !(out->text_image = malloc((size_t)n * sizeof *out->text_image)))
        rc = cc_fail(CC_ERR_NOMEM, "eval: %lld captions", (long long)n);
    for (int64_t i = 0; i < n && rc == CC_OK; i++) {
        const char *p = ds_name(ds, i);
        int64_t k = index_get(&x, p, out->images.n);
        if (k < 0) {
            k = out->images.n;
            rc = eval_strs_push(&out->images, p);
        }
        out->text_image[i] = k;
        if (rc == CC_OK)
            rc = eval_strs_push(&out->texts, ds_caption(ds, i));
    }
    free(x.slot);
    ds_close(ds);
    if (rc != CC_OK)
        eval_captions_free(out);
    return rc;
}

void eval_captions_free(eval_captions *c)
{
    eval_strs_free(&c->images);
    eval_strs_free(&c->texts);
    free(c->text_image);
    memset(c, 0, sizeof *c);
}
