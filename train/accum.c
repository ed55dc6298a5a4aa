/* train/accum.h: exact accumulation over K micro-batches through the
 * global loss. */
#include "train/accum.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/status.h"
#include "train/global_loss.h"

int train_accum_init_ranks(train_accum *a, clip_loss_kind kind, int k, int b, int e, int ranks, int rank)
{
    memset(a, 0, sizeof *a);
    if (k < 1 || b < 1 || e < 1)
        return cc_fail(CC_ERR_INVALID, "train_accum_init: %d micro-batches of %d pairs, width %d: "
                       "expected >= 1 each", k, b, e);
    if (ranks < 1 || rank < 0 || rank >= ranks || (long long)ranks * k * b > 0x7fffffff)
        return cc_fail(CC_ERR_INVALID, "train_accum_init: rank %d of %d (x %d x %d pairs) is not a "
                       "rank of a batch that fits", rank, ranks, k, b);
    a->kind = kind;
    a->k = k;
    a->b = b;
    a->e = e;
    a->ranks = ranks;
    a->rank = rank;
    const size_t n = (size_t)k * (size_t)b * (size_t)e;
    a->img = malloc((size_t)ranks * n * sizeof *a->img);
    a->txt = malloc((size_t)ranks * n * sizeof *a->txt);
    a->d_img = malloc(n * sizeof *a->d_img);
    a->d_txt = malloc(n * sizeof *a->d_txt);
    if (!a->img || !a->txt || !a->d_img || !a->d_txt) {
        train_accum_free(a);
        return cc_fail(CC_ERR_NOMEM, "train_accum_init: out of memory for %d x %d features", k * b, e);
    }
    return CC_OK;
}

int train_accum_init(train_accum *a, clip_loss_kind kind, int k, int b, int e)
{
    return train_accum_init_ranks(a, kind, k, b, e, 1, 0);
}

void train_accum_free(train_accum *a)
{
    if (!a)
        return;
    free(a->img);
    free(a->txt);
    free(a->d_img);
    free(a->d_txt);
    memset(a, 0, sizeof *a);
}

int train_accum_run(train_accum *a, float logit_scale, float logit_bias, const train_accum_ops *ops,
                    double *loss)
{
    if (!a || !a->img || !ops || !ops->features || !ops->backward)
        return cc_fail(CC_ERR_INVALID, "train_accum_run: NULL or uninitialised argument");
    if (a->ranks > 1 && !ops->gather)
        return cc_fail(CC_ERR_INVALID, "train_accum_run: %d ranks and no gather", a->ranks);
    const size_t be = (size_t)a->b * (size_t)a->e;
    const int rows = a->k * a->b, first = a->rank * rows;
    float *mine_img = a->img + (size_t)first * a->e, *mine_txt = a->txt + (size_t)first * a->e;
    int rc = CC_OK;
    for (int k = 0; k < a->k && !rc; k++)
        rc = ops->features(ops->user, k, mine_img + k * be, mine_txt + k * be);
    if (!rc && a->ranks > 1)
        rc = ops->gather(ops->user, a->img, a->txt, rows, a->e);
    if (rc)
        return rc;
    /* All this rank's rows live at once: one O(N^2 E) pass, not one per micro-batch. */
    train_global_loss_in in = {.kind = a->kind, .n = a->ranks * rows, .dim = a->e, .img = a->img,
                               .txt = a->txt, .logit_scale = logit_scale, .logit_bias = logit_bias,
                               .live_begin = first, .live_count = rows};
    train_global_loss_out out = {.d_img = a->d_img, .d_txt = a->d_txt};
    if ((rc = ops->loss ? ops->loss(ops->user, &in, &out) : train_global_loss(&in, &out)))
        return rc;
    for (int k = 0; k < a->k && !rc; k++)
        rc = ops->backward(ops->user, k, a->d_img + k * be, a->d_txt + k * be,
                           k == 0 ? (float)out.d_scale : 0.0f, k == 0 ? (float)out.d_bias : 0.0f);
    if (!rc && loss)
        *loss = out.loss;
    return rc;
}
