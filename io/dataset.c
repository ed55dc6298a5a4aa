/* The dataset object shared by the three sources: a flat list of samples
 * (caption, name, and for tar the image member's place), and on-demand image
 * loading that is safe from any thread. */
#include "io/dataset.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/synth.h"
#include "runtime/status.h"

char *ds_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

void ds_strings_free(char **s, int n)
{
    if (!s)
        return;
    for (int i = 0; i < n; i++)
        free(s[i]);
    free(s);
}

ds_dataset *ds_new(int kind, const ds_open_opts *opts)
{
    ds_dataset *ds = calloc(1, sizeof *ds);
    if (!ds)
        return NULL;
    ds->kind = kind;
    if (opts) {
        ds->warn = opts->warn;
        ds->warn_user = opts->warn_user;
    }
    return ds;
}

int ds_push(ds_dataset *ds, char *caption, char *name, int32_t shard, int64_t offset, int64_t size)
{
    if (!caption || !name) {
        free(caption);
        free(name);
        return cc_fail(CC_ERR_NOMEM, "dataset: out of memory for sample %" PRId64, ds->n);
    }
    if (ds->n == ds->cap) {
        int64_t cap = ds->cap ? ds->cap * 2 : 256;
        ds_item *it = realloc(ds->items, (size_t)cap * sizeof *it);
        if (!it) {
            free(caption);
            free(name);
            return cc_fail(CC_ERR_NOMEM, "dataset: out of memory for %" PRId64 " samples", cap);
        }
        ds->items = it;
        ds->cap = cap;
    }
    ds->items[ds->n++] = (ds_item){caption, name, shard, offset, size};
    return CC_OK;
}

void ds_vwarn(ds_warn_fn warn, void *user, const char *fmt, va_list ap)
{
    if (!warn)
        return;
    char line[1024];
    vsnprintf(line, sizeof line, fmt, ap);
    warn(user, line);
}

void ds_open_warn(ds_dataset *ds, const char *fmt, ...)
{
    ds->open_skipped++;
    va_list ap;
    va_start(ap, fmt);
    ds_vwarn(ds->warn, ds->warn_user, fmt, ap);
    va_end(ap);
}

void ds_close(ds_dataset *ds)
{
    if (!ds)
        return;
    for (int64_t i = 0; i < ds->n; i++) {
        free(ds->items[i].caption);
        free(ds->items[i].name);
    }
    free(ds->items);
    ds_strings_free(ds->shards, ds->n_shards);
    free(ds);
}

int64_t ds_count(const ds_dataset *ds) { return ds ? ds->n : 0; }

const char *ds_caption(const ds_dataset *ds, int64_t i)
{
    return ds && i >= 0 && i < ds->n ? ds->items[i].caption : NULL;
}

const char *ds_name(const ds_dataset *ds, int64_t i)
{
    return ds && i >= 0 && i < ds->n ? ds->items[i].name : NULL;
}

int64_t ds_open_skipped(const ds_dataset *ds) { return ds ? ds->open_skipped : 0; }

/* pread loop: the file descriptor is private to this call, so threads never
 * share a file position. */
static int load_tar_member(const ds_dataset *ds, const ds_item *it, img_u8 *out)
{
    const char *shard = ds->shards[it->shard];
    if (it->size <= 0 || it->size > IMG_MAX_FILE_BYTES)
        return cc_fail(CC_ERR_INVALID, "%s: image member of %" PRId64 " bytes, expected 1 to %lld",
                       it->name, it->size, IMG_MAX_FILE_BYTES);
    int fd = open(shard, O_RDONLY);
    if (fd < 0)
        return cc_fail(CC_ERR_IO, "%s: cannot open shard: %s", it->name, strerror(errno));
    uint8_t *buf = malloc((size_t)it->size);
    if (!buf) {
        close(fd);
        return cc_fail(CC_ERR_NOMEM, "%s: cannot allocate %" PRId64 " bytes", it->name, it->size);
    }
    size_t got = 0, want = (size_t)it->size;
    while (got < want) {
        ssize_t r = pread(fd, buf + got, want - got, (off_t)(it->offset + (int64_t)got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    int rc = got == want ? img_decode(buf, want, it->name, out)
                         : cc_fail(CC_ERR_IO, "%s: shard truncated (read %zu of %zu bytes)",
                                   it->name, got, want);
    free(buf);
    return rc;
}

int ds_load_image(const ds_dataset *ds, int64_t i, img_u8 *out)
{
    memset(out, 0, sizeof *out);
    if (!ds || i < 0 || i >= ds->n)
        return cc_fail(CC_ERR_INVALID, "dataset: sample %" PRId64 " out of range [0, %" PRId64 ")",
                       i, ds ? ds->n : 0);
    const ds_item *it = &ds->items[i];
    switch (ds->kind) {
    case DS_KIND_CSV: return img_load(it->name, out);
    case DS_KIND_TAR: return load_tar_member(ds, it, out);
    default: {
        synth_attrs a;
        synth_sample(ds->synth_seed, ds->synth_split, i, &a);
        return synth_render(&a, ds->synth_size, out);
    }
    }
}

int ds_open_synth(ds_dataset **out, int split, int64_t n, int size, uint64_t seed)
{
    *out = NULL;
    if (split < SYNTH_TRAIN || split > SYNTH_HELDOUT_UNSEEN)
        return cc_fail(CC_ERR_INVALID, "synth split %d: expected 0 (train), 1 or 2 (held out)",
                       split);
    if (n < 1 || size < 8 || size > 4096)
        return cc_fail(CC_ERR_INVALID, "synth dataset: n = %" PRId64 ", size = %d (expected n >= 1, "
                       "8 <= size <= 4096)", n, size);
    ds_dataset *ds = ds_new(DS_KIND_SYNTH, NULL);
    if (!ds)
        return cc_fail(CC_ERR_NOMEM, "synth dataset: out of memory");
    ds->synth_split = split;
    ds->synth_size = size;
    ds->synth_seed = seed;
    for (int64_t i = 0; i < n; i++) {
        synth_attrs a;
        synth_sample(seed, split, i, &a);
        char cap[256], name[64];
        synth_caption(&a, cap, sizeof cap);
        snprintf(name, sizeof name, "synth:%s:%" PRId64, synth_split_names[split], i);
        int rc = ds_push(ds, ds_strdup(cap), ds_strdup(name), 0, 0, 0);
        if (rc != CC_OK) {
            ds_close(ds);
            return rc;
        }
    }
    *out = ds;
    return CC_OK;
}
