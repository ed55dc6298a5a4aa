/* The threaded batch loader.
 *
 * Positions p = 0, 1, 2, ... run over epochs back to back (epoch p / n,
 * sample perm_epoch[p % n]). Workers claim positions in order and decode
 * them into a ring of R slots (slot p % R); the consumer takes positions in
 * order, so the batches are the same whatever the thread timing. A worker may
 * claim p only once p - R has been consumed, which bounds memory and, with
 * R <= n, keeps at most two epochs in flight: hence two cached permutations.
 * Augmentation draws come from a stream keyed by (seed, epoch, p % n), so
 * they too are independent of which thread decodes which sample.
 *
 * With parts > 1 (data-parallel training, train/dist.h) the loader of part
 * r claims only its share of each epoch: the epoch's permutation is cut into
 * global batches of parts * batch samples and part r takes the r-th run of
 * `batch` samples of each, so the parts together read the whole global
 * batch once, disjointly, in the order one loader of parts * batch would;
 * the epoch's tail that fills no global batch is dropped. Claims c map to
 * epoch positions by claim_pos(). */
#include "io/dataset.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/rng.h"
#include "runtime/status.h"

typedef struct slot {
    int64_t pos;   /* position it holds once ready */
    int ready, ok;
    int64_t index;
    char msg[512];
    float *px;
} slot;

struct ds_loader {
    const ds_dataset *ds;
    ds_loader_opts o;
    int64_t n;
    int64_t L;  /* claims per epoch: n, or this part's share of the full global batches */
    int R;
    size_t per; /* floats per sample */
    slot *slots;
    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_ready;
    int64_t next_claim, consumed;
    int64_t *perm[2];
    int64_t perm_epoch[2];
    int stop;
    pthread_t *threads;
    int nthreads;
    int64_t skipped;
    int64_t cur_epoch, epoch_good, epoch_batches;
};

/* Under the lock. */
static const int64_t *perm_for(ds_loader *l, int64_t epoch)
{
    int k = (int)(epoch & 1);
    if (l->perm_epoch[k] != epoch) {
        int64_t *p = l->perm[k];
        for (int64_t i = 0; i < l->n; i++)
            p[i] = i;
        if (!l->o.no_shuffle) {
            uint64_t r = cc_rng_init(l->o.seed, (uint64_t)epoch, 0x5bu);
            for (int64_t i = l->n - 1; i > 0; i--) {
                int64_t j = (int64_t)cc_rng_below(&r, (uint64_t)i + 1);
                int64_t t = p[i];
                p[i] = p[j];
                p[j] = t;
            }
        }
        l->perm_epoch[k] = epoch;
    }
    return l->perm[k];
}

/* Claim c -> its epoch and position in that epoch's permutation. */
static void claim_pos(const ds_loader *l, int64_t c, int64_t *epoch, int64_t *e)
{
    int64_t k = c % l->L;
    *epoch = c / l->L;
    if (l->o.parts > 1) {
        int64_t b = l->o.batch;
        k = ((k / b) * l->o.parts + l->o.part) * b + k % b;
    }
    *e = k;
}

static void decode(ds_loader *l, slot *s, int64_t epoch, int64_t e, int64_t idx)
{
    img_u8 im;
    uint64_t rng = cc_rng_init(l->o.seed ^ 0xa5a5a5a5u, (uint64_t)epoch, (uint64_t)e);
    int rc = ds_load_image(l->ds, idx, &im);
    if (rc == CC_OK) {
        rc = ds_preprocess(&im, l->o.size, &l->o.rrc, &rng, s->px);
        img_free(&im);
    }
    s->ok = rc == CC_OK;
    s->index = idx;
    s->msg[0] = '\0';
    if (!s->ok) {
        const char *m = cc_last_error();
        const char *name = ds_name(l->ds, idx);
        if (m && *m && name && strstr(m, name))
            snprintf(s->msg, sizeof s->msg, "skipping sample %" PRId64 ": %s", idx, m);
        else
            snprintf(s->msg, sizeof s->msg, "skipping sample %" PRId64 " (%s): %s", idx,
                     name ? name : "?", m && *m ? m : "unreadable");
    }
}

/* Claims the next position if the ring has room and decodes it. Called with
 * the lock held; returns with it held. Returns 0 if nothing was claimable. */
static int work_one(ds_loader *l)
{
    if (l->next_claim >= l->consumed + l->R)
        return 0;
    int64_t p = l->next_claim++, epoch, e;
    claim_pos(l, p, &epoch, &e);
    int64_t idx = perm_for(l, epoch)[e];
    slot *s = &l->slots[p % l->R];
    s->ready = 0;
    pthread_mutex_unlock(&l->mu);
    decode(l, s, epoch, e, idx);
    pthread_mutex_lock(&l->mu);
    s->pos = p;
    s->ready = 1;
    pthread_cond_broadcast(&l->cv_ready);
    return 1;
}

static void *worker(void *arg)
{
    ds_loader *l = arg;
    pthread_mutex_lock(&l->mu);
    while (!l->stop) {
        if (!work_one(l))
            pthread_cond_wait(&l->cv_work, &l->mu);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

int ds_batch_init(ds_batch *b, int cap, int size)
{
    memset(b, 0, sizeof *b);
    if (cap < 1 || size < 1)
        return cc_fail(CC_ERR_INVALID, "batch of %d samples at %d px: expected both >= 1", cap, size);
    b->cap = cap;
    b->size = size;
    b->pixels = malloc((size_t)cap * 3 * (size_t)size * (size_t)size * sizeof(float));
    b->captions = calloc((size_t)cap, sizeof *b->captions);
    b->index = calloc((size_t)cap, sizeof *b->index);
    if (!b->pixels || !b->captions || !b->index) {
        ds_batch_free(b);
        return cc_fail(CC_ERR_NOMEM, "batch of %d samples at %d px: out of memory", cap, size);
    }
    return CC_OK;
}

static void batch_clear(ds_batch *b)
{
    for (int i = 0; i < b->n; i++) {
        free(b->captions[i]);
        b->captions[i] = NULL;
    }
    b->n = 0;
}

void ds_batch_free(ds_batch *b)
{
    if (!b)
        return;
    if (b->captions)
        batch_clear(b);
    free(b->pixels);
    free(b->captions);
    free(b->index);
    memset(b, 0, sizeof *b);
}

void ds_loader_close(ds_loader *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    l->stop = 1;
    pthread_cond_broadcast(&l->cv_work);
    pthread_mutex_unlock(&l->mu);
    for (int i = 0; i < l->nthreads; i++)
        pthread_join(l->threads[i], NULL);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv_work);
    pthread_cond_destroy(&l->cv_ready);
    if (l->slots)
        for (int i = 0; i < l->R; i++)
            free(l->slots[i].px);
    free(l->slots);
    free(l->perm[0]);
    free(l->perm[1]);
    free(l->threads);
    free(l);
}

int ds_loader_open(ds_loader **out, const ds_dataset *ds, const ds_loader_opts *opts)
{
    *out = NULL;
    if (!ds || ds_count(ds) < 1)
        return cc_fail(CC_ERR_INVALID, "loader: empty dataset");
    if (opts->batch < 1 || opts->size < 1 || opts->size > 4096)
        return cc_fail(CC_ERR_INVALID, "loader: batch %d, size %d (expected batch >= 1, 1 <= size "
                       "<= 4096)", opts->batch, opts->size);
    if (opts->parts > 1 && (opts->part < 0 || opts->part >= opts->parts))
        return cc_fail(CC_ERR_INVALID, "loader: part %d of %d", opts->part, opts->parts);
    if (opts->parts > 1 && ds_count(ds) < (int64_t)opts->batch * opts->parts)
        return cc_fail(CC_ERR_INVALID, "loader: %" PRId64 " samples, fewer than one global batch of "
                       "%d parts x %d", ds_count(ds), opts->parts, opts->batch);
    if (opts->workers > 64)
        return cc_fail(CC_ERR_INVALID, "loader: %d workers, at most 64", opts->workers);
    ds_loader *l = calloc(1, sizeof *l);
    if (!l)
        return cc_fail(CC_ERR_NOMEM, "loader: out of memory");
    l->ds = ds;
    l->o = *opts;
    l->n = ds_count(ds);
    l->L = opts->parts > 1 ? l->n / ((int64_t)opts->batch * opts->parts) * opts->batch : l->n;
    int64_t q = opts->queue > 0 ? opts->queue : 4 * (int64_t)opts->batch;
    l->R = (int)(q < l->L ? q : l->L);
    l->per = (size_t)3 * (size_t)opts->size * (size_t)opts->size;
    l->perm_epoch[0] = l->perm_epoch[1] = -1;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv_work, NULL);
    pthread_cond_init(&l->cv_ready, NULL);
    l->slots = calloc((size_t)l->R, sizeof *l->slots);
    l->perm[0] = malloc((size_t)l->n * sizeof(int64_t));
    l->perm[1] = malloc((size_t)l->n * sizeof(int64_t));
    int ok = l->slots && l->perm[0] && l->perm[1];
    for (int i = 0; ok && i < l->R; i++)
        ok = (l->slots[i].px = malloc(l->per * sizeof(float))) != NULL;
    int want = opts->workers == 0 ? 2 : opts->workers < 0 ? 0 : opts->workers;
    l->threads = calloc((size_t)(want ? want : 1), sizeof *l->threads);
    if (!ok || !l->threads) {
        ds_loader_close(l);
        return cc_fail(CC_ERR_NOMEM, "loader: out of memory for %d queued samples", (int)q);
    }
    for (int i = 0; i < want; i++) {
        if (pthread_create(&l->threads[i], NULL, worker, l) != 0) {
            ds_loader_close(l);
            return cc_fail(CC_ERR_NOMEM, "loader: cannot start decoding thread %d", i);
        }
        l->nthreads++;
    }
    *out = l;
    return CC_OK;
}

/* Under the lock: waits for (or, without workers, decodes) position p. */
static slot *wait_for(ds_loader *l, int64_t p)
{
    slot *s = &l->slots[p % l->R];
    while (!(s->ready && s->pos == p)) {
        if (l->nthreads == 0)
            work_one(l);
        else
            pthread_cond_wait(&l->cv_ready, &l->mu);
    }
    return s;
}

static int end_epoch(ds_loader *l, int *got)
{
    int64_t good = l->epoch_good, batches = l->epoch_batches;
    *got = 0;
    l->cur_epoch++;
    l->epoch_good = l->epoch_batches = 0;
    if (good == 0)
        return cc_fail(CC_ERR_IO, "dataset: no readable sample in epoch %" PRId64 " (%" PRId64
                       " skipped)", l->cur_epoch - 1, l->n);
    if (batches == 0)
        return cc_fail(CC_ERR_INVALID, "dataset: %" PRId64 " readable samples, fewer than one batch "
                       "of %d with drop_last", good, l->o.batch);
    return CC_OK;
}

int ds_loader_next(ds_loader *l, ds_batch *b, int *got)
{
    *got = 0;
    if (b->cap < l->o.batch || b->size != l->o.size)
        return cc_fail(CC_ERR_SHAPE, "loader: batch holds %d at %d px, loader makes %d at %d px",
                       b->cap, b->size, l->o.batch, l->o.size);
    batch_clear(b);
    b->epoch = l->cur_epoch;
    int64_t epoch_end = (l->cur_epoch + 1) * l->L;
    pthread_mutex_lock(&l->mu);
    while (b->n < l->o.batch && l->consumed < epoch_end) {
        slot *s = wait_for(l, l->consumed);
        if (s->ok) {
            char *cap = ds_strdup(ds_caption(l->ds, s->index));
            if (!cap) {
                pthread_mutex_unlock(&l->mu);
                return cc_fail(CC_ERR_NOMEM, "loader: out of memory for a caption");
            }
            memcpy(b->pixels + (size_t)b->n * l->per, s->px, l->per * sizeof(float));
            b->captions[b->n] = cap;
            b->index[b->n] = s->index;
            b->n++;
        } else {
            l->skipped++;
            if (l->o.warn) {
                /* Outside the lock: the callback may take its time. */
                char msg[sizeof s->msg];
                memcpy(msg, s->msg, sizeof msg);
                pthread_mutex_unlock(&l->mu);
                l->o.warn(l->o.warn_user, msg);
                pthread_mutex_lock(&l->mu);
            }
        }
        s->ready = 0;
        l->consumed++;
        pthread_cond_broadcast(&l->cv_work);
    }
    pthread_mutex_unlock(&l->mu);
    l->epoch_good += b->n;
    if (b->n == 0 || (b->n < l->o.batch && l->o.drop_last)) {
        batch_clear(b);
        return end_epoch(l, got);
    }
    l->epoch_batches++;
    *got = 1;
    return CC_OK;
}

int64_t ds_loader_skipped(const ds_loader *l) { return l ? l->skipped : 0; }
