/* Ordered, bounded, multi-threaded image decoding (tools/embed_decode.h). */
#include "tools/embed_decode.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clipcl.h"
#include "io/image.h"
#include "runtime/status.h"

enum { SLOT_FREE = 0, SLOT_BUSY, SLOT_OK, SLOT_FAILED };

typedef struct slot {
    int state;
    float *px;
    char err[512];
} slot;

struct bulk_decoder {
    const bulk_set *set;
    const clipcl_model *model;
    int size, n_workers, queue;
    size_t per; /* floats per image */
    int64_t next_claim, next_take, end;
    int stop;
    slot *slots;
    pthread_t *threads;
    int n_started;
    pthread_mutex_t mu;
    pthread_cond_t ready; /* a slot became OK/FAILED (consumer waits) */
    pthread_cond_t room;  /* a slot became FREE or stop (workers wait) */
};

static int decode_member(const bulk_set *set, int64_t i, const clipcl_model *model, float *pixels)
{
    const bulk_input *in = &set->v[i];
    char path[8192], name[8448];
    int rc = bulk_input_open_path(set, i, path, sizeof path);
    if (rc)
        return rc;
    snprintf(name, sizeof name, "%s:%s", path, in->member);
    if (in->size > IMG_MAX_FILE_BYTES)
        return cc_fail(CC_ERR_UNSUPPORTED, "%s: image member of %lld bytes, at most %lld allowed",
                       name, (long long)in->size, IMG_MAX_FILE_BYTES);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return cc_fail(CC_ERR_IO, "cannot open tar shard %s: %s", path, strerror(errno));
    size_t n = (size_t)in->size;
    uint8_t *buf = malloc(n ? n : 1);
    size_t got = 0;
    while (buf && got < n) {
        ssize_t r = pread(fd, buf + got, n - got, (off_t)(in->offset + (int64_t)got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (!buf)
        return cc_fail(CC_ERR_NOMEM, "%s: cannot allocate %zu bytes", name, n);
    rc = got == n ? clipcl_preprocess_encoded_model(model, buf, n, name, pixels)
                  : cc_fail(CC_ERR_IO, "%s: read %zu of %zu bytes (truncated shard?)", name, got, n);
    free(buf);
    return rc;
}

int bulk_decode_one(const bulk_set *set, int64_t i, const clipcl_model *model, float *pixels)
{
    if (set->v[i].shard < 0) {
        char path[8192];
        int rc = bulk_input_open_path(set, i, path, sizeof path);
        /* The very preprocessing clipcl_encode_image_files uses: the model's
         * config, same pixels, same bits. */
        return rc ? rc : clipcl_preprocess_file_model(model, path, pixels);
    }
    return decode_member(set, i, model, pixels);
}

static void *worker(void *arg)
{
    bulk_decoder *d = arg;
    pthread_mutex_lock(&d->mu);
    for (;;) {
        while (!d->stop && d->next_claim < d->end && d->next_claim >= d->next_take + d->queue)
            pthread_cond_wait(&d->room, &d->mu);
        if (d->stop || d->next_claim >= d->end)
            break;
        int64_t i = d->next_claim++;
        slot *s = &d->slots[i % d->queue];
        s->state = SLOT_BUSY;
        pthread_mutex_unlock(&d->mu);
        int rc = bulk_decode_one(d->set, i, d->model, s->px);
        if (rc)
            snprintf(s->err, sizeof s->err, "%s", cc_last_error());
        pthread_mutex_lock(&d->mu);
        s->state = rc ? SLOT_FAILED : SLOT_OK;
        pthread_cond_broadcast(&d->ready);
    }
    pthread_mutex_unlock(&d->mu);
    return NULL;
}

int bulk_decoder_open(bulk_decoder **out, const bulk_set *set, int64_t begin, int64_t end,
                      const clipcl_model *model, int workers, int queue)
{
    int size = clipcl_image_size(model);
    *out = NULL;
    if (workers < 1)
        workers = 1;
    if (queue < workers)
        queue = workers;
    bulk_decoder *d = calloc(1, sizeof *d);
    if (!d)
        return cc_fail(CC_ERR_NOMEM, "decoder: out of memory");
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->ready, NULL);
    pthread_cond_init(&d->room, NULL);
    d->set = set;
    d->model = model;
    d->size = size;
    d->n_workers = workers;
    d->queue = queue;
    d->per = 3 * (size_t)size * (size_t)size;
    d->next_claim = d->next_take = begin;
    d->end = end;
    d->slots = calloc((size_t)queue, sizeof *d->slots);
    d->threads = calloc((size_t)workers, sizeof *d->threads);
    int rc = d->slots && d->threads ? CC_OK : CC_ERR_NOMEM;
    for (int i = 0; i < queue && !rc; i++)
        if (!(d->slots[i].px = malloc(d->per * sizeof(float))))
            rc = CC_ERR_NOMEM;
    if (rc) {
        bulk_decoder_close(d);
        return cc_fail(CC_ERR_NOMEM, "decoder: out of memory for %d images of %dx%d", queue, size,
                       size);
    }
    for (int i = 0; i < workers; i++) {
        if (pthread_create(&d->threads[i], NULL, worker, d) != 0) {
            bulk_decoder_close(d);
            return cc_fail(CC_ERR_IO, "decoder: cannot start thread %d of %d", i + 1, workers);
        }
        d->n_started++;
    }
    *out = d;
    return CC_OK;
}

int bulk_decoder_next(bulk_decoder *d, float *pixels, int *ok, char *err, size_t err_cap)
{
    pthread_mutex_lock(&d->mu);
    if (d->next_take >= d->end) {
        pthread_mutex_unlock(&d->mu);
        return cc_fail(CC_ERR_INVALID, "decoder: no inputs left");
    }
    slot *s = &d->slots[d->next_take % d->queue];
    while (s->state != SLOT_OK && s->state != SLOT_FAILED)
        pthread_cond_wait(&d->ready, &d->mu);
    pthread_mutex_unlock(&d->mu);
    /* The slot is ours until next_take moves: no worker claims it meanwhile. */
    *ok = s->state == SLOT_OK;
    if (*ok)
        memcpy(pixels, s->px, d->per * sizeof(float));
    else
        snprintf(err, err_cap, "%s", s->err);
    pthread_mutex_lock(&d->mu);
    s->state = SLOT_FREE;
    d->next_take++;
    pthread_cond_broadcast(&d->room);
    pthread_mutex_unlock(&d->mu);
    return CC_OK;
}

void bulk_decoder_close(bulk_decoder *d)
{
    if (!d)
        return;
    if (d->n_started) {
        pthread_mutex_lock(&d->mu);
        d->stop = 1;
        pthread_cond_broadcast(&d->room);
        pthread_mutex_unlock(&d->mu);
        for (int i = 0; i < d->n_started; i++)
            pthread_join(d->threads[i], NULL);
    }
    pthread_mutex_destroy(&d->mu);
    pthread_cond_destroy(&d->ready);
    pthread_cond_destroy(&d->room);
    for (int i = 0; d->slots && i < d->queue; i++)
        free(d->slots[i].px);
    free(d->slots);
    free(d->threads);
    free(d);
}
