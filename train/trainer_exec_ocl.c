/* The training step on an OpenCL device: the joint graph (forward +
 * backward) as one plan whose parameter buffers persist across runs and
 * are updated in place by train/optim.h's AdamW kernels, enqueued behind
 * the plan. Only the loss, the BatchNorm batch statistics and, for the log,
 * the gradient norm and the temperature come back to the host per step. */
#include "train/trainer_exec_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/status.h"

int train_exec_ocl_create(train_exec *e, const char *device, const train_adamw_cfg *cfg)
{
    clip_train_graph *tg = e->tg;
    const graph *g = tg->g;
    int rc = rt_ctx_create(device, 0, &e->ctx);
    if (rc)
        return rc;
    snprintf(e->device, sizeof e->device, "%s (%s)", e->ctx->dev.device_name,
             e->ctx->dev.platform_name);
    if ((rc = ocl_plan_create(e->ctx, g, &e->plan)))
        return rc;
    clip_tower *t = tg->t;
    for (int i = 0; i < t->n_params && !rc; i++)
        rc = ocl_plan_write(e->plan, t->param_t[i], t->param_data[i], g_nbytes(g, t->param_t[i]));
    if (!rc)
        rc = train_optim_create(e->ctx, cfg, &e->opt);
    for (int i = 0; i < t->n_params && !rc; i++) {
        const g_tensor *T = &g->tensors[t->param_t[i]];
        int idx = -1;
        rc = train_optim_add(e->opt, T->name, T->ndim, T->shape, ocl_plan_mem(e->plan, t->param_t[i]),
                             ocl_plan_mem(e->plan, tg->grad_t[i]), &idx);
        float lo, hi;
        if (!rc && idx != i)
            rc = cc_fail(CC_ERR_INVALID, "trainer: optimizer index %d for param %d", idx, i);
        if (!rc && train_exec_param_clamp(e, i, &lo, &hi)) {
            e->scale_param = i;
            rc = train_optim_set_clamp(e->opt, i, lo, hi);
        }
    }
    if (!rc && !(e->slots = calloc((size_t)g->n_tensors, sizeof *e->slots)))
        rc = cc_fail(CC_ERR_NOMEM, "trainer: out of memory");
    if (!rc && !(e->bn_host = calloc((size_t)(2 * tg->n_bn + 1), sizeof *e->bn_host)))
        rc = cc_fail(CC_ERR_NOMEM, "trainer: out of memory");
    for (int i = 0; i < tg->n_bn && !rc; i++) {
        e->bn_host[i] = malloc((size_t)tg->bn[i].channels * sizeof(float));
        e->bn_host[tg->n_bn + i] = malloc((size_t)tg->bn[i].channels * sizeof(float));
        if (!e->bn_host[i] || !e->bn_host[tg->n_bn + i])
            rc = cc_fail(CC_ERR_NOMEM, "trainer: out of memory");
    }
    return rc;
}

void train_exec_ocl_free(train_exec *e)
{
    if (e->bn_host)
        for (int i = 0; i < 2 * e->tg->n_bn; i++)
            free(e->bn_host[i]);
    free(e->bn_host);
    train_optim_free(e->opt);
    ocl_plan_free(e->plan);
    rt_ctx_free(e->ctx);
}

int train_exec_ocl_micro(train_exec *e, const float *pixels, const int32_t *ids, float *loss)
{
    clip_train_graph *tg = e->tg;
    const graph *g = tg->g;
    int rc = clip_train_bind(tg, e->slots, pixels, ids);
    /* Every caller-supplied input (pixels, ids, the host inputs derived
     * from them, labels, seed); params stay on the device. */
    for (int t = 0; t < g->n_tensors && !rc; t++) {
        if (g->tensors[t].role != G_ROLE_INPUT)
            continue;
        if (!e->slots[t])
            return cc_fail(CC_ERR_INVALID, "trainer: input '%s' has no data", g->tensors[t].name);
        rc = ocl_plan_write(e->plan, t, e->slots[t], g_nbytes(g, t));
    }
    if (!rc)
        rc = ocl_plan_run(e->plan);
    if (!rc)
        rc = ocl_plan_read(e->plan, tg->loss.loss, loss, sizeof *loss);
    for (int i = 0; i < tg->n_bn && !rc; i++) {
        size_t b = (size_t)tg->bn[i].channels * sizeof(float);
        rc = ocl_plan_read(e->plan, tg->bn[i].mean, e->bn_host[i], b);
        if (!rc)
            rc = ocl_plan_read(e->plan, tg->bn[i].var, e->bn_host[tg->n_bn + i], b);
    }
    if (!rc)
        rc = train_exec_bn_update(e, e->bn_host, e->bn_host + tg->n_bn);
    /* K = 1 steps straight from the plan's gradients */
    if (!rc && train_optim_count(e->opt) > 0 && e->accum > 1)
        rc = train_optim_accumulate(e->opt);
    return rc;
}

int train_exec_ocl_step(train_exec *e, double lr, float *grad_norm)
{
    int rc = train_optim_step(e->opt, lr);
    ocl_plan_params_changed(e->plan); /* AdamW rewrote the params in place */
    if (!rc && grad_norm)
        rc = train_optim_grad_norm(e->opt, grad_norm);
    return rc;
}

int train_exec_ocl_sync(train_exec *e)
{
    clip_tower *t = e->tg->t;
    int rc = CC_OK;
    for (int i = 0; i < t->n_params && !rc; i++)
        rc = ocl_plan_read(e->plan, t->param_t[i], (float *)t->param_data[i],
                           g_nbytes(e->tg->g, t->param_t[i]));
    return rc;
}

float train_exec_ocl_scalar(train_exec *e, int param)
{
    float v = NAN;
    if (ocl_plan_read(e->plan, e->tg->t->param_t[param], &v, sizeof v))
        return NAN;
    return v;
}
