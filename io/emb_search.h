/* Exact inner-product search (embidx_ prefix, with io/emb_index.h): the K
 * rows of largest dot product with a query, over every row.
 *
 * Rows are scored in blocks of four sharing each load of the query, with
 * eight partial sums per row added in a fixed order, so a row's score is the
 * same bits whatever the thread count or the block it falls in. Each thread
 * takes a contiguous range of a shard's rows and keeps its own K-heap across
 * shards; the heaps are merged at the end. Order: higher score first, equal
 * scores by lower global row; a NaN score counts as -infinity. */
#ifndef CLIPCL_IO_EMB_SEARCH_H
#define CLIPCL_IO_EMB_SEARCH_H

#include <stdint.h>

#include "io/emb_index.h"

/* K beyond this is not a search but a sort; 1,000,000 hits are 12 MB. */
#define EMBIDX_MAX_K 1000000

typedef struct embidx_hit {
    float score;
    int64_t row; /* global row */
} embidx_hit;

typedef struct embidx_topk embidx_topk;

/* threads >= 1; k from 1 to EMBIDX_MAX_K. */
int embidx_topk_create(embidx_topk **out, int k, int threads, int dim);
void embidx_topk_free(embidx_topk *t);
/* Scores rows x dim (global rows first_row...) against query and keeps the
 * k best seen so far. Small blocks run on the calling thread alone. */
int embidx_topk_add(embidx_topk *t, const float *x, int64_t rows, int64_t first_row,
                    const float *query);
/* The best min(k, rows seen) hits, best first, into out; *n their count. */
int embidx_topk_result(const embidx_topk *t, embidx_hit *out, int *n);

/* The whole index, shard by shard (each mapped, scored and unmapped): the
 * k best rows for query (ix->dim floats). k must not exceed ix->rows. */
int embidx_search(const embidx *ix, const float *query, int k, int threads, embidx_hit *out,
                  int *n);

/* One row's score as the search computes it (tests, and the bench's check). */
float embidx_dot(const float *a, const float *b, int dim);

#endif
