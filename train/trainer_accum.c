/* The trainer's exact accumulation: K micro-batches kept on the host, run
 * through train/accum.h on the backend plan of a feature-gradient graph. */
#include <stdlib.h>
#include <string.h>

#include "runtime/status.h"
#include "train/global_loss_plan.h"
#include "train/trainer_dist.h"
#include "train/trainer_internal.h"

int train_accum_exec_init(train_accum_exec *a, train_exec *ex, const clip_train_graph *tg,
                          int k, size_t px_pair, int context, int ranks, int rank)
{
    memset(a, 0, sizeof *a);
    if (!tg->feature_grad)
        return cc_fail(CC_ERR_INVALID, "trainer: exact accumulation needs a feature-gradient graph");
    a->ex = ex;
    a->b = tg->batch;
    a->px_pair = px_pair;
    a->ids_pair = (size_t)context;
    a->ranks = ranks;
    const int n_all = ranks * k * tg->batch;
    int rc = train_accum_init_ranks(&a->acc, tg->loss.kind, k, tg->batch, tg->dim, ranks, rank);
    /* The loss of all R*K*B rows on the device, as a plain batch's is in its
     * graph; with ranks every rank computes it whole and keeps its rows. */
    if (!rc)
        rc = train_loss_plan_create(train_exec_backend(ex), tg->loss.kind, n_all, tg->dim, &a->loss);
    if (!rc && ranks > 1) {
        a->all_d_img = malloc((size_t)n_all * (size_t)tg->dim * sizeof *a->all_d_img);
        a->all_d_txt = malloc((size_t)n_all * (size_t)tg->dim * sizeof *a->all_d_txt);
        if (!a->all_d_img || !a->all_d_txt)
            rc = cc_fail(CC_ERR_NOMEM, "trainer: out of memory for %d rows of feature gradients", n_all);
    }
    if (rc) {
        train_accum_exec_free(a);
        return rc;
    }
    const size_t n = (size_t)k * (size_t)tg->batch;
    a->px = malloc(n * px_pair * sizeof *a->px);
    a->ids = malloc(n * a->ids_pair * sizeof *a->ids);
    if (!a->px || !a->ids) {
        train_accum_exec_free(a);
        return cc_fail(CC_ERR_NOMEM, "trainer: out of memory for %zu pairs of accumulation", n);
    }
    return CC_OK;
}

void train_accum_exec_free(train_accum_exec *a)
{
    train_accum_free(&a->acc);
    train_loss_plan_free(a->loss);
    a->loss = NULL;
    free(a->all_d_img);
    free(a->all_d_txt);
    a->all_d_img = a->all_d_txt = NULL;
    free(a->px);
    free(a->ids);
    a->px = NULL;
    a->ids = NULL;
}

void train_accum_exec_take(train_accum_exec *a, int k, const float *px, const int32_t *ids)
{
    const size_t b = (size_t)a->b;
    memcpy(a->px + (size_t)k * b * a->px_pair, px, b * a->px_pair * sizeof *a->px);
    memcpy(a->ids + (size_t)k * b * a->ids_pair, ids, b * a->ids_pair * sizeof *a->ids);
}

static int features(void *user, int k, float *img, float *txt)
{
    train_accum_exec *a = user;
    const size_t b = (size_t)a->b;
    return train_exec_features(a->ex, a->px + (size_t)k * b * a->px_pair, a->ids + (size_t)k * b * a->ids_pair,
                               img, txt);
}

static int backward(void *user, int k, const float *d_img, const float *d_txt, float d_scale, float d_bias)
{
    train_accum_exec *a = user;
    const size_t b = (size_t)a->b;
    return train_exec_micro_grad(a->ex, a->px + (size_t)k * b * a->px_pair,
                                 a->ids + (size_t)k * b * a->ids_pair, d_img, d_txt, d_scale, d_bias);
}

static int device_loss(void *user, const train_global_loss_in *in, train_global_loss_out *out)
{
    train_accum_exec *a = user;
    if (in->live_begin == 0 && in->live_count == in->n)
        return train_loss_plan_run(a->loss, in, out);
    /* One rank of several: the whole batch's gradient, then this rank's rows
     * and an equal share of the temperature's and bias's gradients (summed
     * over the ranks they give the whole; exact for a power-of-two count). */
    train_global_loss_in all = *in;
    all.live_begin = 0;
    all.live_count = in->n;
    train_global_loss_out o = {.d_img = a->all_d_img, .d_txt = a->all_d_txt};
    int rc = train_loss_plan_run(a->loss, &all, &o);
    if (rc)
        return rc;
    const size_t off = (size_t)in->live_begin * (size_t)in->dim;
    const size_t len = (size_t)in->live_count * (size_t)in->dim;
    memcpy(out->d_img, o.d_img + off, len * sizeof *out->d_img);
    memcpy(out->d_txt, o.d_txt + off, len * sizeof *out->d_txt);
    out->loss = o.loss;
    out->d_scale = o.d_scale / a->ranks;
    out->d_bias = o.d_bias / a->ranks;
    return CC_OK;
}

int train_accum_exec_run(train_accum_exec *a, double *loss)
{
    /* Several ranks: every rank's features gathered first, then the same
     * device loss as on one rank. */
    train_accum_ops ops = {a, features, backward,
                           a->ranks > 1 ? train_dist_gather_features_inplace : NULL, device_loss};
    float bias = train_exec_logit_bias(a->ex);
    return train_accum_run(&a->acc, train_exec_logit_scale(a->ex), bias == bias ? bias : 0.0f, &ops, loss);
}
