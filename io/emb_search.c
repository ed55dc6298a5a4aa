/* Exact top-K inner-product search (io/emb_search.h). One query against
 * N x D rows is a matrix-vector product: memory-bound, so the aim is to read
 * each row once at the memory's speed, on every core, and to keep the top-K
 * bookkeeping off that path (a heap whose root is the K-th best: most rows
 * lose to it with one comparison). */
#include "io/emb_search.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/status.h"

#define LANES 8
#define BLOCK_ROWS 4
/* Below this many floats per thread a block is scored on the caller's
 * thread: starting a thread costs about as much as scoring 64 K floats. */
#define MIN_FLOATS_PER_THREAD (1 << 18)

/* The fixed summation order of a row's score: LANES partial sums over
 * columns j = l mod LANES, added pairwise. */
static inline float lanes_sum(const float *a)
{
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

float embidx_dot(const float *a, const float *b, int dim)
{
    float acc[LANES] = {0};
    int j = 0;
    for (; j + LANES <= dim; j += LANES)
        for (int l = 0; l < LANES; l++)
            acc[l] += a[j + l] * b[j + l];
    for (int l = 0; j + l < dim; l++)
        acc[l] += a[j + l] * b[j + l];
    float s = lanes_sum(acc);
    return isnan(s) ? -INFINITY : s;
}

/* Four rows at once, each with the same sums in the same order as
 * embidx_dot, so a row scores the same bits in a block or alone. */
static void dot4(const float *x, size_t stride, const float *q, int dim, float *out)
{
    float acc[BLOCK_ROWS][LANES] = {{0}};
    const float *r0 = x, *r1 = x + stride, *r2 = x + 2 * stride, *r3 = x + 3 * stride;
    int j = 0;
    for (; j + LANES <= dim; j += LANES) {
        for (int l = 0; l < LANES; l++) {
            float qv = q[j + l];
            acc[0][l] += r0[j + l] * qv;
            acc[1][l] += r1[j + l] * qv;
            acc[2][l] += r2[j + l] * qv;
            acc[3][l] += r3[j + l] * qv;
        }
    }
    for (int l = 0; j + l < dim; l++) {
        float qv = q[j + l];
        acc[0][l] += r0[j + l] * qv;
        acc[1][l] += r1[j + l] * qv;
        acc[2][l] += r2[j + l] * qv;
        acc[3][l] += r3[j + l] * qv;
    }
    for (int r = 0; r < BLOCK_ROWS; r++) {
        float s = lanes_sum(acc[r]);
        out[r] = isnan(s) ? -INFINITY : s;
    }
}

/* ---- a K-heap: root = the worst of the best K kept ------------------------- */

typedef struct heap {
    embidx_hit *h;
    int n, k;
} heap;

/* a ranks below b: lower score, or the same score and a later row. */
static inline int worse(embidx_hit a, embidx_hit b)
{
    return a.score < b.score || (a.score == b.score && a.row > b.row);
}

static void sift_down(heap *hp, int i)
{
    embidx_hit *h = hp->h;
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < hp->n && worse(h[l], h[m]))
            m = l;
        if (r < hp->n && worse(h[r], h[m]))
            m = r;
        if (m == i)
            return;
        embidx_hit t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static inline void heap_offer(heap *hp, float score, int64_t row)
{
    embidx_hit c = {score, row};
    if (hp->n < hp->k) {
        int i = hp->n++;
        hp->h[i] = c;
        while (i > 0) {
            int p = (i - 1) / 2;
            if (!worse(hp->h[i], hp->h[p]))
                break;
            embidx_hit t = hp->h[i];
            hp->h[i] = hp->h[p];
            hp->h[p] = t;
            i = p;
        }
    } else if (worse(hp->h[0], c)) {
        hp->h[0] = c;
        sift_down(hp, 0);
    }
}

static void score_range(heap *hp, const float *x, int64_t rows, int64_t first_row, int dim,
                        const float *q)
{
    size_t stride = (size_t)dim;
    int64_t i = 0;
    float s[BLOCK_ROWS];
    for (; i + BLOCK_ROWS <= rows; i += BLOCK_ROWS) {
        dot4(x + (size_t)i * stride, stride, q, dim, s);
        for (int r = 0; r < BLOCK_ROWS; r++)
            heap_offer(hp, s[r], first_row + i + r);
    }
    for (; i < rows; i++)
        heap_offer(hp, embidx_dot(x + (size_t)i * stride, q, dim), first_row + i);
}

/* ---- threads ---------------------------------------------------------------- */

struct embidx_topk {
    int k, threads, dim;
    heap *heaps; /* one per thread */
};

typedef struct job {
    heap *hp;
    const float *x, *q;
    int64_t rows, first_row;
    int dim;
} job;

static void *run_job(void *arg)
{
    job *j = arg;
    score_range(j->hp, j->x, j->rows, j->first_row, j->dim, j->q);
    return NULL;
}

int embidx_topk_create(embidx_topk **out, int k, int threads, int dim)
{
    *out = NULL;
    if (k < 1 || k > EMBIDX_MAX_K)
        return cc_fail(CC_ERR_INVALID, "search: K = %d, expected 1 to %d", k, EMBIDX_MAX_K);
    if (threads < 1 || threads > 1024)
        return cc_fail(CC_ERR_INVALID, "search: %d threads, expected 1 to 1024", threads);
    if (dim < 1)
        return cc_fail(CC_ERR_INVALID, "search: dimension %d, expected >= 1", dim);
    embidx_topk *t = calloc(1, sizeof *t);
    if (!t)
        return cc_fail(CC_ERR_NOMEM, "search: out of memory");
    t->k = k;
    t->threads = threads;
    t->dim = dim;
    t->heaps = calloc((size_t)threads, sizeof *t->heaps);
    int rc = t->heaps ? CC_OK : CC_ERR_NOMEM;
    for (int i = 0; i < threads && rc == CC_OK; i++) {
        t->heaps[i].k = k;
        t->heaps[i].h = malloc((size_t)k * sizeof(embidx_hit));
        if (!t->heaps[i].h)
            rc = CC_ERR_NOMEM;
    }
    if (rc != CC_OK) {
        embidx_topk_free(t);
        return cc_fail(CC_ERR_NOMEM, "search: out of memory for %d heaps of %d hits", threads, k);
    }
    *out = t;
    return CC_OK;
}

void embidx_topk_free(embidx_topk *t)
{
    if (!t)
        return;
    for (int i = 0; t->heaps && i < t->threads; i++)
        free(t->heaps[i].h);
    free(t->heaps);
    free(t);
}

int embidx_topk_add(embidx_topk *t, const float *x, int64_t rows, int64_t first_row,
                    const float *query)
{
    if (rows <= 0)
        return CC_OK;
    int64_t floats = rows * (int64_t)t->dim;
    int nt = t->threads;
    if (floats / nt < MIN_FLOATS_PER_THREAD)
        nt = (int)(floats / MIN_FLOATS_PER_THREAD);
    if (nt < 1)
        nt = 1;
    if (nt == 1) {
        score_range(&t->heaps[0], x, rows, first_row, t->dim, query);
        return CC_OK;
    }
    job *jobs = malloc((size_t)nt * sizeof *jobs);
    pthread_t *tid = malloc((size_t)nt * sizeof *tid);
    char *running = calloc((size_t)nt, 1);
    if (!jobs || !tid || !running) {
        free(jobs);
        free(tid);
        free(running);
        return cc_fail(CC_ERR_NOMEM, "search: out of memory for %d threads", nt);
    }
    /* Contiguous ranges, multiples of the block, so each thread streams. */
    int64_t per = (rows + nt - 1) / nt;
    per = (per + BLOCK_ROWS - 1) / BLOCK_ROWS * BLOCK_ROWS;
    for (int i = 0; i < nt; i++) {
        int64_t a = (int64_t)i * per < rows ? (int64_t)i * per : rows;
        int64_t b = a + per < rows ? a + per : rows;
        jobs[i] = (job){&t->heaps[i], x + (size_t)a * (size_t)t->dim, query, b - a, first_row + a,
                        t->dim};
    }
    /* Range 0 runs here; a range whose thread cannot start runs here too. */
    for (int i = 1; i < nt; i++) {
        running[i] = pthread_create(&tid[i], NULL, run_job, &jobs[i]) == 0;
        if (!running[i])
            run_job(&jobs[i]);
    }
    run_job(&jobs[0]);
    for (int i = 1; i < nt; i++)
        if (running[i])
            pthread_join(tid[i], NULL);
    free(jobs);
    free(tid);
    free(running);
    return CC_OK;
}

static int better_first(const void *a, const void *b)
{
    embidx_hit x = *(const embidx_hit *)a, y = *(const embidx_hit *)b;
    return worse(y, x) ? -1 : worse(x, y) ? 1 : 0;
}

int embidx_topk_result(const embidx_topk *t, embidx_hit *out, int *n)
{
    int total = 0;
    for (int i = 0; i < t->threads; i++)
        total += t->heaps[i].n;
    embidx_hit *all = malloc((size_t)(total ? total : 1) * sizeof *all);
    if (!all)
        return cc_fail(CC_ERR_NOMEM, "search: out of memory merging %d hits", total);
    int m = 0;
    for (int i = 0; i < t->threads; i++) {
        memcpy(all + m, t->heaps[i].h, (size_t)t->heaps[i].n * sizeof *all);
        m += t->heaps[i].n;
    }
    qsort(all, (size_t)total, sizeof *all, better_first);
    *n = total < t->k ? total : t->k;
    memcpy(out, all, (size_t)*n * sizeof *out);
    free(all);
    return CC_OK;
}

int embidx_search(const embidx *ix, const float *query, int k, int threads, embidx_hit *out,
                  int *n)
{
    *n = 0;
    if (k < 1 || (int64_t)k > ix->rows)
        return cc_fail(CC_ERR_INVALID, "search: K = %d, expected 1 to %lld (the rows of %s)", k,
                       (long long)ix->rows, ix->dir);
    embidx_topk *t = NULL;
    int rc = embidx_topk_create(&t, k, threads, ix->dim);
    for (int s = 0; s < ix->n_shards && rc == CC_OK; s++) {
        es_mapped v;
        rc = embidx_map(ix, s, &v);
        if (rc == CC_OK) {
            rc = embidx_topk_add(t, v.rows, v.n_rows, ix->shards[s].first_row, query);
            es_shard_unmap(&v);
        }
    }
    if (rc == CC_OK)
        rc = embidx_topk_result(t, out, n);
    embidx_topk_free(t);
    return rc;
}
