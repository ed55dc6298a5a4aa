/* Writing the procedural set to disk: PNGs (stb_image_write, whose output is
 * a pure function of the pixels), one CSV per split and the label lists a
 * zero-shot evaluation needs.
 *
 * Every file appears under its name only when complete (temporary + rename).
 * An fsync per image cost ~10 ms each here (30x the drawing), so images are
 * renamed unsynced, the whole filesystem is synced once per split (syncfs),
 * and only then is the split's CSV committed with io_atomic: a CSV that
 * exists never names an image that a crash could have lost. */
#define _GNU_SOURCE /* syncfs */
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC /* private copy: no clash with another user */
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#endif
#include <stb/stb_image_write.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#include "io/synth.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/atomic_file.h"
#include "runtime/status.h"
#include "runtime/fs.h"

typedef struct membuf {
    uint8_t *p;
    size_t n, cap;
    int failed;
} membuf;

static void mem_append(void *ctx, void *data, int size)
{
    membuf *m = ctx;
    if (m->failed || size <= 0)
        return;
    if (m->n + (size_t)size > m->cap) {
        size_t cap = (m->cap ? m->cap * 2 : 4096) + (size_t)size;
        uint8_t *p = realloc(m->p, cap);
        if (!p) {
            m->failed = 1;
            return;
        }
        m->p = p;
        m->cap = cap;
    }
    memcpy(m->p + m->n, data, (size_t)size);
    m->n += (size_t)size;
}

static int write_bytes(const char *path, const void *data, size_t n)
{
    io_atomic a;
    int rc = io_atomic_open(&a, path);
    if (rc != CC_OK)
        return rc;
    rc = io_atomic_write(&a, data, n);
    if (rc != CC_OK) {
        io_atomic_abort(&a);
        return rc;
    }
    return io_atomic_commit(&a);
}

/* Temporary + rename without fsync (see the top of the file). */
static int write_unsynced(const char *path, const void *data, size_t n)
{
    size_t pl = strlen(path);
    char *tmp = malloc(pl + 16);
    if (!tmp)
        return cc_fail(CC_ERR_NOMEM, "%s: out of memory", path);
    snprintf(tmp, pl + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return cc_fail(CC_ERR_IO, "cannot create a temporary file for %s: %s", path, strerror(e));
    }
    const uint8_t *p = data;
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(fd, p + done, n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        done += (size_t)w;
    }
    int e = errno;
    if (done == n && fchmod(fd, 0644) != 0) { /* mkstemp made it 0600 */
        e = errno;
        done = 0;
    }
    if (close(fd) != 0 && done == n) {
        e = errno;
        done = 0;
    }
    if (done != n || rename(tmp, path) != 0) {
        if (done == n)
            e = errno;
        unlink(tmp);
        free(tmp);
        return cc_fail(CC_ERR_IO, "cannot write %s: %s", path, strerror(e));
    }
    free(tmp);
    return CC_OK;
}

int synth_encode_png(const img_u8 *im, uint8_t **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    if (im->c < 1 || im->c > 4 || im->w <= 0 || im->h <= 0)
        return cc_fail(CC_ERR_INVALID, "cannot encode a %dx%dx%d image as PNG", im->w, im->h,
                       im->c);
    membuf m = {0};
    int ok = stbi_write_png_to_func(mem_append, &m, im->w, im->h, im->c, im->px, im->w * im->c);
    if (!ok || m.failed) {
        free(m.p);
        return cc_fail(CC_ERR_NOMEM, "PNG encoding of a %dx%d image failed", im->w, im->h);
    }
    *out = m.p;
    *len = m.n;
    return CC_OK;
}

int synth_write_png(const char *path, const img_u8 *im)
{
    uint8_t *p = NULL;
    size_t n = 0;
    int rc = synth_encode_png(im, &p, &n);
    rc = rc == CC_OK ? write_unsynced(path, p, n) : cc_wrap(rc, "%s", path);
    free(p);
    return rc;
}

/* A growable text buffer for the CSV and label files. */
typedef struct text {
    membuf m;
} text;

static void text_printf(text *t, const char *fmt, ...) CC_PRINTF(2, 3);
static void text_printf(text *t, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n > 0)
        mem_append(&t->m, line, n < (int)sizeof line ? n : (int)sizeof line - 1);
}

static int text_commit(text *t, const char *path)
{
    int rc = t->m.failed ? cc_fail(CC_ERR_NOMEM, "%s: out of memory", path)
                         : write_bytes(path, t->m.p ? (void *)t->m.p : (void *)"", t->m.n);
    free(t->m.p);
    memset(t, 0, sizeof *t);
    return rc;
}

static int sync_dir_fs(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return cc_fail(CC_ERR_IO, "cannot open %s: %s", dir, strerror(errno));
    int r = syncfs(fd);
    int e = errno;
    close(fd);
    return r == 0 ? CC_OK : cc_fail(CC_ERR_IO, "cannot sync %s: %s", dir, strerror(e));
}

static int write_labels(const char *dir)
{
    char path[4096];
    text t = {0};
    for (int s = 0; s < SYNTH_N_SHAPES; s++)
        text_printf(&t, "%s\n", synth_shape_names[s]);
    snprintf(path, sizeof path, "%s/classes_shape.txt", dir);
    int rc = text_commit(&t, path);
    for (int s = 0; s < SYNTH_N_SHAPES && rc == CC_OK; s++)
        for (int c = 0; c < SYNTH_N_COLOURS; c++)
            text_printf(&t, "%s %s\n", synth_colour_names[c], synth_shape_names[s]);
    snprintf(path, sizeof path, "%s/classes_pair.txt", dir);
    if (rc == CC_OK)
        rc = text_commit(&t, path);
    for (int k = 0; k < SYNTH_N_HELDOUT_PAIRS && rc == CC_OK; k++)
        text_printf(&t, "%s %s\n", synth_colour_names[synth_heldout_pairs[k][1]],
                    synth_shape_names[synth_heldout_pairs[k][0]]);
    snprintf(path, sizeof path, "%s/heldout_pairs.txt", dir);
    if (rc == CC_OK)
        rc = text_commit(&t, path);
    free(t.m.p);
    return rc;
}

static int write_split(const synth_write_opts *o, int split, int64_t n, int64_t *done,
                       int64_t total)
{
    const char *name = synth_split_names[split];
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", o->out_dir, name);
    int rc = rt_make_dirs(path);
    text csv = {0};
    text_printf(&csv, "filepath,title,shape,colour,size,position,class_shape,class_pair\n");
    for (int64_t i = 0; i < n && rc == CC_OK; i++) {
        synth_attrs a;
        synth_sample(o->seed, split, i, &a);
        img_u8 im;
        rc = synth_render(&a, o->size, &im);
        if (rc != CC_OK)
            break;
        snprintf(path, sizeof path, "%s/%s/%07lld.png", o->out_dir, name, (long long)i);
        rc = synth_write_png(path, &im);
        img_free(&im);
        char cap[256];
        synth_caption(&a, cap, sizeof cap);
        /* Captions hold no comma or quote, so no field needs quoting. */
        text_printf(&csv, "%s/%07lld.png,%s,%s,%s,%s,%s,%d,%d\n", name, (long long)i, cap,
                    synth_shape_names[a.shape], synth_colour_names[a.colour],
                    synth_size_names[a.size], synth_position_names[a.position], a.shape,
                    synth_pair_id(a.shape, a.colour));
        ++*done;
        if (o->progress)
            o->progress(o->progress_user, *done, total);
    }
    if (rc == CC_OK)
        rc = sync_dir_fs(o->out_dir);
    snprintf(path, sizeof path, "%s/%s.csv", o->out_dir, name);
    if (rc == CC_OK)
        rc = text_commit(&csv, path);
    free(csv.m.p);
    return rc;
}

/* shard_size < 0: the training split as PNGs + CSV; else as shards. */
static int write_dataset(const synth_write_opts *o, int64_t shard_size)
{
    if (!o->out_dir || !*o->out_dir)
        return cc_fail(CC_ERR_INVALID, "synth: no output directory");
    if (o->n < 0 || o->n_heldout < 0)
        return cc_fail(CC_ERR_INVALID, "synth: negative image count");
    if (strlen(o->out_dir) > 3000)
        return cc_fail(CC_ERR_INVALID, "synth: output path too long");
    int rc = rt_make_dirs(o->out_dir);
    if (rc == CC_OK)
        rc = write_labels(o->out_dir);
    int64_t done = 0, total = o->n + (o->holdout ? 2 * o->n_heldout : 0);
    if (rc == CC_OK && shard_size >= 0)
        rc = synth_write_wds(o, shard_size, &done, total);
    else if (rc == CC_OK)
        rc = write_split(o, SYNTH_TRAIN, o->n, &done, total);
    if (rc == CC_OK && o->holdout)
        rc = write_split(o, SYNTH_HELDOUT_SEEN, o->n_heldout, &done, total);
    if (rc == CC_OK && o->holdout)
        rc = write_split(o, SYNTH_HELDOUT_UNSEEN, o->n_heldout, &done, total);
    return rc;
}

int synth_write_dataset(const synth_write_opts *o) { return write_dataset(o, -1); }

int synth_write_dataset_wds(const synth_write_opts *o, int64_t shard_size)
{
    return write_dataset(o, shard_size < 0 ? 0 : shard_size);
}
