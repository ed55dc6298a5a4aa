/* The trainer's exact accumulation: K micro-batches kept on the host, run
 * through train/accum.h on the backend plan of a feature-gradient graph. */
#include <stdlib.h>
#include <string.h>

#include "runtime/status.h"
#include "train/global_loss_plan.h"
#include "train/trainer_internal.h"

int train_accum_exec_init(train_accum_exec *a, train_exec *ex, const clip_train_graph *tg,
                          int k, size_t px_pair, int context)
{
    memset(a, 0, sizeof *a);
    if (!tg->feature_grad)
        return cc_fail(CC_ERR_INVALID, "trainer: exact accumulation needs a feature-gradient graph");
    a->ex = ex;
    a->b = tg->batch;
    a->px_pair = px_pair;
    a->ids_pair = (size_t)context;
    int rc = train_accum_init(&a->acc, tg->loss.kind, k, tg->batch, tg->dim);
    if (!rc) /* the loss of K*B rows on the device, as a plain batch's is in its graph */
        rc = train_loss_plan_create(train_exec_backend(ex), tg->loss.kind, k * tg->batch, tg->dim, &a->loss);
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
    return train_loss_plan_run(a->loss, in, out);
}

int train_accum_exec_run(train_accum_exec *a, double *loss)
{
    train_accum_ops ops = {a, features, backward, NULL, device_loss};
    float bias = train_exec_logit_bias(a->ex);
    return train_accum_run(&a->acc, train_exec_logit_scale(a->ex), bias == bias ? bias : 0.0f, &ops, loss);
}
