/* train/global_loss_plan.h: the global loss as a backend plan. */
#include "train/global_loss_plan.h"

#include <stdlib.h>

#include "runtime/status.h"

struct train_loss_plan {
    graph *g;
    backend_plan *plan;
    clip_loss L;
    clip_loss_kind kind;
    int n, e;
    int img, txt;      /* the features as params, so autodiff reaches them */
    int grads[4];      /* d img, d txt, d logit_scale, d logit_bias */
    int seed;          /* the gradient seed input, 1 */
    float *labels;     /* host data of the labels input [N, N] */
};

void train_loss_plan_free(train_loss_plan *p)
{
    if (!p)
        return;
    backend_plan_free(p->plan);
    g_free(p->g);
    free(p->labels);
    free(p);
}

static int build(train_loss_plan *p)
{
    graph *g = p->g;
    const int64_t sh[2] = {p->n, p->e};
    p->img = g_param(g, "global/img", 2, sh);
    p->txt = g_param(g, "global/txt", 2, sh);
    if (p->img < 0 || p->txt < 0)
        return cc_wrap(CC_ERR_SHAPE, "train_loss_plan_create");
    int rc = clip_loss_build(g, p->img, p->txt, p->kind, &p->L);
    if (rc)
        return rc;
    const int wrt[4] = {p->img, p->txt, p->L.logit_scale, p->L.logit_bias};
    return g_backward(g, p->L.loss, p->kind == CLIP_LOSS_SIGLIP ? 4 : 3, wrt, p->grads, &p->seed);
}

/* The constant inputs, labels and the seed 1: written before every run, as
 * a plan may reuse an input's memory once the input is consumed. */
static int write_constants(train_loss_plan *p)
{
    const float one = 1.0f;
    int rc = backend_plan_write(p->plan, p->L.labels, p->labels, (size_t)p->n * (size_t)p->n * sizeof *p->labels);
    if (!rc)
        rc = backend_plan_write(p->plan, p->seed, &one, sizeof one);
    return rc;
}

int train_loss_plan_create(backend *be, clip_loss_kind kind, int n, int e, train_loss_plan **out)
{
    *out = NULL;
    if (!be || n < 1 || e < 1)
        return cc_fail(CC_ERR_INVALID, "train_loss_plan_create: %d rows of width %d on %s", n, e,
                       be ? "a backend" : "no backend");
    train_loss_plan *p = calloc(1, sizeof *p);
    if (!p || !(p->g = g_new())) {
        free(p);
        return cc_fail(CC_ERR_NOMEM, "train_loss_plan_create: out of memory");
    }
    p->kind = kind;
    p->n = n;
    p->e = e;
    p->grads[3] = p->seed = -1;
    int rc = build(p);
    if (!rc && !(p->labels = malloc((size_t)n * (size_t)n * sizeof *p->labels)))
        rc = cc_fail(CC_ERR_NOMEM, "train_loss_plan_create: out of memory for %d x %d labels", n, n);
    if (!rc) {
        clip_loss_fill_labels(kind, n, p->labels);
        rc = backend_plan_create(be, p->g, &p->plan);
    }
    if (rc) {
        train_loss_plan_free(p);
        return rc;
    }
    *out = p;
    return CC_OK;
}

int train_loss_plan_run(train_loss_plan *p, const train_global_loss_in *in, train_global_loss_out *out)
{
    if (!p || !in || !out || !out->d_img || !out->d_txt || !in->img || !in->txt)
        return cc_fail(CC_ERR_INVALID, "train_loss_plan_run: NULL argument");
    if (in->kind != p->kind || in->n != p->n || in->dim != p->e || in->live_begin != 0 || in->live_count != p->n)
        return cc_fail(CC_ERR_INVALID, "train_loss_plan_run: a plan for all %d rows of width %d, given %d rows "
                       "of width %d, live [%d, +%d)", p->n, p->e, in->n, in->dim, in->live_begin,
                       in->live_count);
    const size_t bytes = (size_t)p->n * (size_t)p->e * sizeof(float);
    const float t = in->logit_scale, b = in->logit_bias;
    int rc = write_constants(p);
    if (!rc)
        rc = backend_plan_write(p->plan, p->img, in->img, bytes);
    if (!rc)
        rc = backend_plan_write(p->plan, p->txt, in->txt, bytes);
    if (!rc)
        rc = backend_plan_write(p->plan, p->L.logit_scale, &t, sizeof t);
    if (!rc && p->kind == CLIP_LOSS_SIGLIP)
        rc = backend_plan_write(p->plan, p->L.logit_bias, &b, sizeof b);
    if (!rc)
        rc = backend_plan_run(p->plan);
    float loss = 0, ds = 0, db = 0;
    if (!rc)
        rc = backend_plan_read(p->plan, p->L.loss, &loss, sizeof loss);
    if (!rc)
        rc = backend_plan_read(p->plan, p->grads[0], out->d_img, bytes);
    if (!rc)
        rc = backend_plan_read(p->plan, p->grads[1], out->d_txt, bytes);
    if (!rc)
        rc = backend_plan_read(p->plan, p->grads[2], &ds, sizeof ds);
    if (!rc && p->kind == CLIP_LOSS_SIGLIP)
        rc = backend_plan_read(p->plan, p->grads[3], &db, sizeof db);
    if (!rc) {
        out->loss = loss;
        out->d_scale = ds;
        out->d_bias = db;
    }
    return rc;
}
