/* The procedural set as webdataset shards (io/synth.h, synth_write_wds): the
 * layout `clipcl train --data 'shards/shard-{000000..00000K}.tar'` and
 * `clipcl embed-image --data DIR/shards` read. A ustar writer of its own,
 * since only regular files with short names are ever written. */
#include "io/synth.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/atomic_file.h"
#include "runtime/status.h"
#include "runtime/fs.h"

#define BLOCK 512
#define DEFAULT_SHARD_SIZE 10000

/* One ustar header: mode 0644, owner 0/0, mtime 0 (deterministic bytes). */
static void tar_header(unsigned char h[BLOCK], const char *name, uint64_t size)
{
    memset(h, 0, BLOCK);
    snprintf((char *)h, 100, "%s", name);
    memcpy(h + 100, "0000644", 8);
    memcpy(h + 108, "0000000", 8);
    memcpy(h + 116, "0000000", 8);
    snprintf((char *)h + 124, 12, "%011" PRIo64, size);
    memcpy(h + 136, "00000000000", 12);
    h[156] = '0';
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < BLOCK; i++)
        sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum);
    h[155] = ' ';
}

static int tar_member(io_atomic *a, const char *name, const void *data, size_t n)
{
    unsigned char h[BLOCK];
    static const unsigned char zeros[BLOCK];
    tar_header(h, name, n);
    int rc = io_atomic_write(a, h, BLOCK);
    if (rc == CC_OK && n)
        rc = io_atomic_write(a, data, n);
    if (rc == CC_OK && n % BLOCK)
        rc = io_atomic_write(a, zeros, BLOCK - n % BLOCK);
    return rc;
}

/* Samples [first, first + count) into one shard file. */
static int write_shard(const synth_write_opts *o, const char *path, int64_t first, int64_t count,
                       int64_t *done, int64_t total)
{
    io_atomic a;
    int rc = io_atomic_open(&a, path);
    for (int64_t i = first; i < first + count && rc == CC_OK; i++) {
        synth_attrs at;
        synth_sample(o->seed, SYNTH_TRAIN, i, &at);
        img_u8 im;
        rc = synth_render(&at, o->size, &im);
        if (rc != CC_OK)
            break;
        uint8_t *png = NULL;
        size_t len = 0;
        rc = synth_encode_png(&im, &png, &len);
        img_free(&im);
        char name[64], cap[256];
        snprintf(name, sizeof name, "%07" PRId64 ".png", i);
        if (rc == CC_OK)
            rc = tar_member(&a, name, png, len);
        free(png);
        int cl = synth_caption(&at, cap, sizeof cap);
        snprintf(name, sizeof name, "%07" PRId64 ".txt", i);
        if (rc == CC_OK)
            rc = tar_member(&a, name, cap, (size_t)cl);
        ++*done;
        if (o->progress)
            o->progress(o->progress_user, *done, total);
    }
    static const unsigned char end[2 * BLOCK];
    if (rc == CC_OK)
        rc = io_atomic_write(&a, end, sizeof end);
    if (rc == CC_OK)
        return io_atomic_commit(&a);
    io_atomic_abort(&a);
    return rc;
}

int synth_write_wds(const synth_write_opts *o, int64_t shard_size, int64_t *done, int64_t total)
{
    int64_t per = shard_size > 0 ? shard_size : DEFAULT_SHARD_SIZE;
    char path[4096];
    snprintf(path, sizeof path, "%s/shards", o->out_dir);
    int rc = rt_make_dirs(path);
    for (int64_t k = 0; k * per < o->n && rc == CC_OK; k++) {
        snprintf(path, sizeof path, "%s/shards/shard-%06" PRId64 ".tar", o->out_dir, k);
        int64_t first = k * per;
        rc = write_shard(o, path, first, o->n - first < per ? o->n - first : per, done, total);
    }
    return rc;
}
