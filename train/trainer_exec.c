/* One training step on a backend: the reference backend with the host
 * AdamW, or (trainer_exec_ocl.c) an OpenCL plan with train/optim.h. Both
 * update the BatchNorm running buffers of the weight map after every
 * micro-batch, as PyTorch's BatchNorm does during its training forward. */
#include "train/trainer_exec_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/ref/ref.h"
#include "runtime/status.h"

/* The running buffers of BatchNorm layer i in the map. */
static int bn_buffers(const train_exec *e, int i, float **mean, float **var)
{
    const clip_bn_stat *s = &e->tg->bn[i];
    char km[G_NAME_LEN + 16], kv[G_NAME_LEN + 16];
    snprintf(km, sizeof km, "%srunning_mean", s->prefix);
    snprintf(kv, sizeof kv, "%srunning_var", s->prefix);
    const clip_weight *wm = clip_wmap_find(e->w, km), *wv = clip_wmap_find(e->w, kv);
    if (!wm || !wv || wm->numel != s->channels || wv->numel != s->channels)
        return cc_fail(CC_ERR_INVALID, "trainer: BatchNorm '%s' has no running buffers of %lld "
                       "channels in the weights", s->prefix, (long long)s->channels);
    *mean = wm->data;
    *var = wv->data;
    return CC_OK;
}

int train_exec_bn_update(train_exec *e, float *const *bmean, float *const *bvar)
{
    for (int i = 0; i < e->tg->n_bn; i++) {
        float *rm = NULL, *rv = NULL;
        int rc = bn_buffers(e, i, &rm, &rv);
        if (rc)
            return rc;
        const clip_bn_stat *s = &e->tg->bn[i];
        clip_bn_update_running(rm, rv, bmean[i], bvar[i], s->channels, s->count, 0.1f);
    }
    return CC_OK;
}

int train_exec_param_clamp(const train_exec *e, int i, float *lo, float *hi)
{
    const char *name = e->tg->g->tensors[e->tg->t->param_t[i]].name;
    int is_scale = strcmp(name, "logit_scale") == 0;
    *lo = is_scale ? CLIP_LOGIT_SCALE_MIN : -INFINITY;
    *hi = is_scale ? CLIP_LOGIT_SCALE_MAX : INFINITY;
    return is_scale;
}

static int ref_create(train_exec *e, const train_adamw_cfg *cfg)
{
    clip_tower *t = e->tg->t;
    int rc = train_host_adamw_create(cfg, t->n_params, &e->host);
    for (int i = 0; i < t->n_params && !rc; i++) {
        const g_tensor *T = &e->tg->g->tensors[t->param_t[i]];
        float lo, hi;
        if (train_exec_param_clamp(e, i, &lo, &hi))
            e->scale_param = i;
        /* the graph's params point into the weight map, which we own */
        rc = train_host_adamw_add(e->host, i, T->name, T->ndim, (float *)t->param_data[i],
                                  g_numel(e->tg->g, t->param_t[i]), lo, hi);
    }
    if (!rc && !(e->slots = calloc((size_t)e->tg->g->n_tensors, sizeof *e->slots)))
        rc = cc_fail(CC_ERR_NOMEM, "trainer: out of memory");
    snprintf(e->device, sizeof e->device, "reference backend (plain C)");
    return rc;
}

static int ref_micro(train_exec *e, const float *pixels, const int32_t *ids, float *loss)
{
    clip_train_graph *tg = e->tg;
    int rc = clip_train_bind(tg, e->slots, pixels, ids);
    if (!rc)
        rc = ref_eval(tg->g, e->slots);
    if (!rc) {
        *loss = ((const float *)e->slots[tg->loss.loss])[0];
        for (int i = 0; i < tg->t->n_params; i++)
            train_host_adamw_accumulate(e->host, i, e->slots[tg->grad_t[i]]);
        float **bm = calloc((size_t)tg->n_bn + 1, sizeof *bm), **bv = calloc((size_t)tg->n_bn + 1, sizeof *bv);
        if (!bm || !bv) {
            rc = cc_fail(CC_ERR_NOMEM, "trainer: out of memory");
        } else {
            for (int i = 0; i < tg->n_bn; i++) {
                bm[i] = e->slots[tg->bn[i].mean];
                bv[i] = e->slots[tg->bn[i].var];
            }
            rc = train_exec_bn_update(e, bm, bv);
        }
        free(bm);
        free(bv);
    }
    ref_free_acts(tg->g, e->slots);
    return rc;
}

int train_exec_create(const char *device, clip_train_graph *tg, clip_wmap *w,
                      const train_adamw_cfg *cfg, train_exec **out)
{
    *out = NULL;
    train_exec *e = calloc(1, sizeof *e);
    if (!e)
        return cc_fail(CC_ERR_NOMEM, "trainer: out of memory");
    e->tg = tg;
    e->w = w;
    e->scale_param = -1;
    e->accum = cfg && cfg->accum_steps > 1 ? cfg->accum_steps : 1;
    e->is_ref = device && strcmp(device, "ref") == 0;
    int rc = e->is_ref ? ref_create(e, cfg) : train_exec_ocl_create(e, device, cfg);
    if (rc) {
        train_exec_free(e);
        return rc;
    }
    *out = e;
    return CC_OK;
}

void train_exec_free(train_exec *e)
{
    if (!e)
        return;
    if (!e->is_ref)
        train_exec_ocl_free(e);
    train_host_adamw_free(e->host);
    free(e->slots);
    free(e);
}

int train_exec_micro(train_exec *e, const float *pixels, const int32_t *ids, float *loss)
{
    return e->is_ref ? ref_micro(e, pixels, ids, loss) : train_exec_ocl_micro(e, pixels, ids, loss);
}

int train_exec_step(train_exec *e, double lr, float *grad_norm)
{
    return e->is_ref ? train_host_adamw_step(e->host, lr, grad_norm)
                     : train_exec_ocl_step(e, lr, grad_norm);
}

int train_exec_sync(train_exec *e)
{
    return e->is_ref ? CC_OK : train_exec_ocl_sync(e);
}

float train_exec_logit_scale(train_exec *e)
{
    if (e->scale_param < 0)
        return NAN;
    if (!e->is_ref)
        return train_exec_ocl_scalar(e, e->scale_param);
    return e->tg->t->param_data[e->scale_param][0];
}

int64_t train_exec_steps(const train_exec *e)
{
    return e->is_ref ? train_host_adamw_steps(e->host) : train_optim_steps(e->opt);
}

void train_exec_set_steps(train_exec *e, int64_t t)
{
    if (e->is_ref)
        train_host_adamw_set_steps(e->host, t);
    else
        train_optim_set_steps(e->opt, t);
}

int train_exec_get_state(train_exec *e, int i, float *m, float *v)
{
    if (!e->is_ref)
        return train_optim_get_state(e->opt, i, m, v);
    size_t b = (size_t)g_numel(e->tg->g, e->tg->t->param_t[i]) * sizeof(float);
    memcpy(m, train_host_adamw_m(e->host, i), b);
    memcpy(v, train_host_adamw_v(e->host, i), b);
    return CC_OK;
}

int train_exec_set_state(train_exec *e, int i, const float *m, const float *v)
{
    if (!e->is_ref)
        return train_optim_set_state(e->opt, i, m, v);
    size_t b = (size_t)g_numel(e->tg->g, e->tg->t->param_t[i]) * sizeof(float);
    memcpy(train_host_adamw_m(e->host, i), m, b);
    memcpy(train_host_adamw_v(e->host, i), v, b);
    return CC_OK;
}

const char *train_exec_device(const train_exec *e) { return e->device; }
