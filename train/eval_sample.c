/* Seeded per-class sampling, and the two protocols built on it: the linear
 * probe (stratified validation split chooses C, refit on all training data)
 * and few-shot probes (k per class, averaged over seeds). */
#include "train/eval.h"
#include "train/eval_internal.h"

#include <math.h>
#include <stdlib.h>

#include "io/dataset.h"
#include "runtime/rng.h"
#include "runtime/status.h"

const int eval_shots[EVAL_N_SHOTS] = {1, 2, 4, 8, 16};

/* The few-shot validation draw uses its own stream, so it does not repeat
 * the training draw's order. */
#define VAL_STREAM 0x76616c6964617465ULL

/* Indices grouped by class (ascending within a class, skipped ones left
 * out), then each class's group shuffled by its own seeded stream, so a
 * class's draw does not depend on the other classes' sizes. */
typedef struct buckets {
    int64_t *idx;
    int64_t *start; /* n_classes + 1 */
} buckets;

static void buckets_free(buckets *b)
{
    free(b->idx);
    free(b->start);
}

static int buckets_make(const int32_t *y, int64_t n, int n_classes, const unsigned char *skip,
                        uint64_t seed, buckets *b)
{
    b->idx = malloc((size_t)(n > 0 ? n : 1) * sizeof *b->idx);
    b->start = calloc((size_t)n_classes + 1, sizeof *b->start);
    if (!b->idx || !b->start) {
        buckets_free(b);
        return cc_fail(CC_ERR_NOMEM, "eval: sampling %lld labels", (long long)n);
    }
    for (int64_t i = 0; i < n; i++) {
        if (y[i] < 0 || y[i] >= n_classes) {
            buckets_free(b);
            return cc_fail(CC_ERR_INVALID, "eval: label of sample %lld is %d, expected 0..%d",
                           (long long)i, y[i], n_classes - 1);
        }
        if (!skip || !skip[i])
            b->start[y[i] + 1]++;
    }
    for (int c = 0; c < n_classes; c++)
        b->start[c + 1] += b->start[c];
    int64_t *fill = malloc((size_t)n_classes * sizeof *fill);
    if (!fill) {
        buckets_free(b);
        return cc_fail(CC_ERR_NOMEM, "eval: %d classes", n_classes);
    }
    for (int c = 0; c < n_classes; c++)
        fill[c] = b->start[c];
    for (int64_t i = 0; i < n; i++)
        if (!skip || !skip[i])
            b->idx[fill[y[i]]++] = i;
    free(fill);
    for (int c = 0; c < n_classes; c++) {
        int64_t *g = b->idx + b->start[c];
        int64_t m = b->start[c + 1] - b->start[c];
        uint64_t rng = cc_rng_init(seed, (uint64_t)c, 0x6576616cULL);
        for (int64_t i = m - 1; i > 0; i--) {
            int64_t j = (int64_t)cc_rng_below(&rng, (uint64_t)i + 1);
            int64_t t = g[i];
            g[i] = g[j];
            g[j] = t;
        }
    }
    return CC_OK;
}

int eval_sample_per_class(const int32_t *y, int64_t n, int n_classes, int k, uint64_t seed,
                          const unsigned char *skip, int64_t *idx, int64_t *n_out)
{
    if (!y || !idx || !n_out || n < 0 || n_classes < 1 || k < 1)
        return cc_fail(CC_ERR_INVALID, "eval_sample_per_class: expected samples >= 0, "
                                       "classes >= 1, k >= 1, found %lld, %d, %d",
                       (long long)n, n_classes, k);
    buckets b;
    int rc = buckets_make(y, n, n_classes, skip, seed, &b);
    if (rc != CC_OK)
        return rc;
    int64_t o = 0;
    for (int c = 0; c < n_classes; c++)
        for (int64_t i = b.start[c]; i < b.start[c + 1] && i - b.start[c] < k; i++)
            idx[o++] = b.idx[i];
    *n_out = o;
    buckets_free(&b);
    return CC_OK;
}

static int check_sets(const float *xtr, const int32_t *ytr, int64_t ntr, const float *xte,
                      const int32_t *yte, int64_t nte, int n_classes)
{
    if (!xtr || !ytr || !xte || !yte || ntr < 1 || nte < 1 || n_classes < 1)
        return cc_fail(CC_ERR_INVALID, "linear probe: expected training and test samples "
                                       ">= 1 and classes >= 1, found %lld, %lld, %d",
                       (long long)ntr, (long long)nte, n_classes);
    for (int64_t i = 0; i < nte; i++)
        if (yte[i] < 0 || yte[i] >= n_classes)
            return cc_fail(CC_ERR_INVALID, "linear probe: label of test sample %lld is %d, "
                                           "expected 0..%d", (long long)i, yte[i], n_classes - 1);
    return CC_OK;
}

int eval_linear_probe(const float *xtr, const int32_t *ytr, int64_t ntr, const float *xte,
                      const int32_t *yte, int64_t nte, int d, int n_classes,
                      const eval_probe_opts *o, eval_probe_result *out)
{
    int rc = check_sets(xtr, ytr, ntr, xte, yte, nte, n_classes);
    if (rc != CC_OK || !out)
        return rc != CC_OK ? rc : cc_fail(CC_ERR_INVALID, "eval_linear_probe: no output");
    double frac = o && o->val_frac > 0 ? o->val_frac : 0.2;
    if (frac >= 1)
        return cc_fail(CC_ERR_INVALID, "linear probe: validation share %g, expected in (0, 1)",
                       frac);
    buckets b;
    rc = buckets_make(ytr, ntr, n_classes, NULL, o ? o->seed : 0, &b);
    if (rc != CC_OK)
        return rc;
    int64_t *fit = malloc((size_t)ntr * sizeof *fit), *val = malloc((size_t)ntr * sizeof *val);
    eval_rows tr = {0}, te = {0};
    if (!fit || !val)
        rc = cc_fail(CC_ERR_NOMEM, "linear probe: %lld samples", (long long)ntr);
    int64_t nf = 0, nv = 0;
    for (int c = 0; c < n_classes && rc == CC_OK; c++) {
        int64_t m = b.start[c + 1] - b.start[c];
        /* At least one of a class held out, at least one kept to fit. */
        int64_t v = m >= 2 ? (int64_t)floor(frac * (double)m + 0.5) : 0;
        if (m >= 2 && v < 1)
            v = 1;
        if (v > m - 1)
            v = m - 1 > 0 ? m - 1 : 0;
        for (int64_t i = 0; i < m; i++) {
            int64_t s = b.idx[b.start[c] + i];
            if (i < v)
                val[nv++] = s;
            else
                fit[nf++] = s;
        }
    }
    if (rc == CC_OK)
        rc = eval_rows_make(xtr, ntr, d, &tr);
    if (rc == CC_OK)
        rc = eval_rows_make(xte, nte, d, &te);
    eval_probe_result r = {.n_fit = nf, .n_val = nv, .n_test = nte};
    if (rc == CC_OK)
        rc = eval_select_c_rows(&tr, ytr, fit, nf, &tr, ytr, val, nv, n_classes, o, &r.c,
                                &r.val_acc);
    eval_probe *p = NULL;
    if (rc == CC_OK)
        rc = eval_fit_rows(&tr, ytr, NULL, ntr, n_classes, r.c, &p);
    if (rc == CC_OK) {
        r.test_acc = eval_accuracy_rows(p, &te, yte, NULL, nte);
        *out = r;
    }
    eval_probe_free(p);
    eval_rows_free(&tr);
    eval_rows_free(&te);
    free(fit);
    free(val);
    buckets_free(&b);
    return rc;
}

/* One seed of a k-shot probe: accuracy and chosen C. */
static int one_draw(const eval_rows *tr, const int32_t *ytr, const eval_rows *te,
                    const int32_t *yte, int n_classes, int k, uint64_t seed,
                    const eval_probe_opts *o, int64_t *ik, int64_t *iv, unsigned char *skip,
                    double *acc, double *c)
{
    int64_t nk = 0, nv = 0;
    int rc = eval_sample_per_class(ytr, tr->n, n_classes, k, seed, NULL, ik, &nk);
    for (int64_t i = 0; i < tr->n; i++)
        skip[i] = 0;
    for (int64_t i = 0; rc == CC_OK && i < nk; i++)
        skip[ik[i]] = 1;
    if (rc == CC_OK)
        rc = eval_sample_per_class(ytr, tr->n, n_classes, k < 4 ? k : 4, seed ^ VAL_STREAM,
                                   skip, iv, &nv);
    double va = 0;
    if (rc == CC_OK)
        rc = eval_select_c_rows(tr, ytr, ik, nk, tr, ytr, iv, nv, n_classes, o, c, &va);
    eval_probe *p = NULL;
    if (rc == CC_OK)
        rc = eval_fit_rows(tr, ytr, ik, nk, n_classes, *c, &p);
    if (rc == CC_OK)
        *acc = eval_accuracy_rows(p, te, yte, NULL, te->n);
    eval_probe_free(p);
    return rc;
}

int eval_few_shot(const float *xtr, const int32_t *ytr, int64_t ntr, const float *xte,
                  const int32_t *yte, int64_t nte, int d, int n_classes, int k, int n_seeds,
                  const eval_probe_opts *o, eval_fewshot_result *out)
{
    int rc = check_sets(xtr, ytr, ntr, xte, yte, nte, n_classes);
    if (rc != CC_OK)
        return rc;
    if (!out || k < 1 || n_seeds < 1)
        return cc_fail(CC_ERR_INVALID, "few-shot: expected k >= 1 and seeds >= 1, found %d, %d",
                       k, n_seeds);
    eval_rows tr = {0}, te = {0};
    size_t cap = (size_t)n_classes * (size_t)k;
    int64_t *ik = malloc(cap * sizeof *ik), *iv = malloc(cap * sizeof *iv);
    unsigned char *skip = malloc((size_t)ntr);
    if (!ik || !iv || !skip)
        rc = cc_fail(CC_ERR_NOMEM, "few-shot: %d classes x %d shots", n_classes, k);
    if (rc == CC_OK)
        rc = eval_rows_make(xtr, ntr, d, &tr);
    if (rc == CC_OK)
        rc = eval_rows_make(xte, nte, d, &te);
    double sum = 0, sum2 = 0, logc = 0;
    for (int s = 0; s < n_seeds && rc == CC_OK; s++) {
        double acc = 0, c = 1;
        rc = one_draw(&tr, ytr, &te, yte, n_classes, k, (o ? o->seed : 0) + (uint64_t)s, o, ik,
                      iv, skip, &acc, &c);
        sum += acc;
        sum2 += acc * acc;
        logc += log(c);
    }
    if (rc == CC_OK) {
        double mean = sum / n_seeds;
        double var = sum2 / n_seeds - mean * mean;
        *out = (eval_fewshot_result){.k = k, .n_seeds = n_seeds, .mean_acc = mean,
                                     .std_acc = var > 0 ? sqrt(var) : 0,
                                     .mean_c = exp(logc / n_seeds)};
    }
    free(ik), free(iv), free(skip);
    eval_rows_free(&tr);
    eval_rows_free(&te);
    return rc;
}
