/* Zero-shot accuracy, prompt ensembling and retrieval recall on host feature
 * matrices (train/eval.h). Sums run in double so rankings do not depend on
 * float summation order beyond the inputs' own rounding. */
#include "train/eval.h"

#include <math.h>
#include <stdlib.h>

#include "runtime/status.h"

const int eval_recall_ks[EVAL_N_RECALL] = {1, 5, 10};

static double dot(const float *a, const float *b, int d)
{
    double s = 0;
    for (int j = 0; j < d; j++)
        s += (double)a[j] * b[j];
    return s;
}

/* 1/|row| for each row; a zero row gets 0, so its cosines are all 0. */
static double *inv_norms(const float *x, int64_t n, int d)
{
    double *r = malloc((size_t)(n > 0 ? n : 1) * sizeof *r);
    if (!r)
        return NULL;
    for (int64_t i = 0; i < n; i++) {
        double s = sqrt(dot(x + (size_t)i * d, x + (size_t)i * d, d));
        r[i] = s > 0 ? 1.0 / s : 0.0;
    }
    return r;
}

int eval_ensemble(const float *prompts, int n_classes, int n_templates, int d, float *out)
{
    if (!prompts || !out || n_classes < 1 || n_templates < 1 || d < 1)
        return cc_fail(CC_ERR_INVALID, "eval_ensemble: expected classes, templates, d >= 1, "
                                       "found %d, %d, %d", n_classes, n_templates, d);
    double *acc = malloc((size_t)d * sizeof *acc);
    if (!acc)
        return cc_fail(CC_ERR_NOMEM, "eval_ensemble: %d floats", d);
    int rc = CC_OK;
    for (int c = 0; c < n_classes && rc == CC_OK; c++) {
        for (int j = 0; j < d; j++)
            acc[j] = 0;
        for (int t = 0; t < n_templates; t++) {
            const float *r = prompts + ((size_t)c * n_templates + t) * d;
            double s = sqrt(dot(r, r, d));
            if (s > 0)
                for (int j = 0; j < d; j++)
                    acc[j] += r[j] / s;
        }
        double s = 0;
        for (int j = 0; j < d; j++)
            s += acc[j] * acc[j];
        s = sqrt(s);
        if (!(s > 0)) {
            rc = cc_fail(CC_ERR_INVALID, "eval_ensemble: class %d's prompt embeddings sum to "
                                         "zero (expected a direction)", c);
            break;
        }
        for (int j = 0; j < d; j++)
            out[(size_t)c * d + j] = (float)(acc[j] / s);
    }
    free(acc);
    return rc;
}

/* 0-based rank of entry t among s[0..n): higher first, ties by index. */
static int64_t rank_of(const double *s, int64_t n, int64_t t)
{
    int64_t r = 0;
    for (int64_t c = 0; c < n; c++)
        r += s[c] > s[t] || (s[c] == s[t] && c < t);
    return r;
}

int eval_zeroshot(const float *img, int64_t n, const float *cls, int n_classes, int d,
                  const int32_t *labels, int32_t *pred, eval_zs_result *out)
{
    if (!img || !cls || !labels || !out || n < 1 || n_classes < 1 || d < 1)
        return cc_fail(CC_ERR_INVALID, "eval_zeroshot: expected images, classes, d >= 1, "
                                       "found %lld, %d, %d", (long long)n, n_classes, d);
    for (int64_t i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= n_classes)
            return cc_fail(CC_ERR_INVALID, "eval_zeroshot: label of image %lld is %d, expected "
                                           "0..%d", (long long)i, labels[i], n_classes - 1);
    double *cn = inv_norms(cls, n_classes, d);
    double *s = malloc((size_t)n_classes * sizeof *s);
    int64_t *seen = calloc((size_t)n_classes, sizeof *seen);
    int64_t *right = calloc((size_t)n_classes, sizeof *right);
    if (!cn || !s || !seen || !right) {
        free(cn), free(s), free(seen), free(right);
        return cc_fail(CC_ERR_NOMEM, "eval_zeroshot: %d classes", n_classes);
    }
    eval_zs_result r = {.n = n};
    for (int64_t i = 0; i < n; i++) {
        const float *x = img + (size_t)i * d;
        /* The image's own norm scales every score alike: ranks ignore it. */
        for (int c = 0; c < n_classes; c++)
            s[c] = dot(x, cls + (size_t)c * d, d) * cn[c];
        int64_t rk = rank_of(s, n_classes, labels[i]);
        r.top1 += rk < 1;
        r.top5 += rk < 5;
        seen[labels[i]]++;
        right[labels[i]] += rk < 1;
        if (pred) {
            int best = 0;
            for (int c = 1; c < n_classes; c++)
                if (s[c] > s[best])
                    best = c;
            pred[i] = best;
        }
    }
    r.acc1 = (double)r.top1 / (double)n;
    r.acc5 = (double)r.top5 / (double)n;
    int present = 0;
    for (int c = 0; c < n_classes; c++)
        if (seen[c]) {
            present++;
            r.mean_per_class += (double)right[c] / (double)seen[c];
        }
    r.mean_per_class /= present;
    *out = r;
    free(cn), free(s), free(seen), free(right);
    return CC_OK;
}

/* Image i's cosine with text j; the same expression in both directions, so
 * a pair's score is bit-identical whichever way it is ranked. */
static double cosine(const float *img, const double *ni, const float *txt, const double *nt,
                     int64_t i, int64_t j, int d)
{
    return dot(img + (size_t)i * d, txt + (size_t)j * d, d) * ni[i] * nt[j];
}

int eval_retrieval(const float *img, int64_t n_img, const float *txt, int64_t n_txt, int d,
                   const int64_t *txt_image, eval_retrieval_result *out)
{
    if (!img || !txt || !txt_image || !out || n_img < 1 || n_txt < 1 || d < 1)
        return cc_fail(CC_ERR_INVALID, "eval_retrieval: expected images, texts, d >= 1, found "
                                       "%lld, %lld, %d", (long long)n_img, (long long)n_txt, d);
    for (int64_t j = 0; j < n_txt; j++)
        if (txt_image[j] < 0 || txt_image[j] >= n_img)
            return cc_fail(CC_ERR_INVALID, "eval_retrieval: text %lld belongs to image %lld, "
                                           "expected 0..%lld", (long long)j,
                           (long long)txt_image[j], (long long)n_img - 1);
    double *ni = inv_norms(img, n_img, d), *nt = inv_norms(txt, n_txt, d);
    /* Rows and columns of the similarity matrix are computed one at a time
     * (twice in all) instead of keeping n_img x n_txt scores: memory stays
     * linear for COCO-sized sets. */
    double *row = malloc((size_t)n_txt * sizeof *row);
    double *col = malloc((size_t)n_img * sizeof *col);
    int64_t *best = malloc((size_t)n_img * sizeof *best);
    if (!ni || !nt || !row || !col || !best) {
        free(ni), free(nt), free(row), free(col), free(best);
        return cc_fail(CC_ERR_NOMEM, "eval_retrieval: %lld images, %lld texts",
                       (long long)n_img, (long long)n_txt);
    }
    eval_retrieval_result r = {.n_images = n_img, .n_texts = n_txt};
    for (int64_t i = 0; i < n_img; i++)
        best[i] = INT64_MAX;
    /* Image -> text: captions of image i are found by scanning txt_image,
     * so no per-image caption lists are needed. */
    for (int64_t i = 0; i < n_img; i++) {
        int have_row = 0;
        for (int64_t j = 0; j < n_txt; j++) {
            if (txt_image[j] != i)
                continue;
            if (!have_row) {
                for (int64_t t = 0; t < n_txt; t++)
                    row[t] = cosine(img, ni, txt, nt, i, t, d);
                have_row = 1;
            }
            int64_t rk = rank_of(row, n_txt, j);
            if (rk < best[i])
                best[i] = rk;
        }
    }
    for (int64_t j = 0; j < n_txt; j++) {
        for (int64_t a = 0; a < n_img; a++)
            col[a] = cosine(img, ni, txt, nt, a, j, d);
        int64_t rt = rank_of(col, n_img, txt_image[j]);
        for (int k = 0; k < EVAL_N_RECALL; k++)
            r.t2i[k] += rt < eval_recall_ks[k];
    }
    for (int64_t i = 0; i < n_img; i++)
        for (int k = 0; k < EVAL_N_RECALL; k++)
            r.i2t[k] += best[i] < eval_recall_ks[k];
    for (int k = 0; k < EVAL_N_RECALL; k++) {
        r.i2t[k] /= (double)n_img;
        r.t2i[k] /= (double)n_txt;
    }
    *out = r;
    free(ni), free(nt), free(row), free(col), free(best);
    return CC_OK;
}
