/* One training step on a backend (backends/backend.h): the joint graph
 * (forward + backward) as one plan whose params persist across runs and are
 * updated in place by the backend's AdamW. Only the loss, the BatchNorm
 * batch statistics and, for the log, the gradient norm and the temperature
 * come back to the host per step; the BatchNorm running buffers of the
 * weight map are updated after every micro-batch, as PyTorch's BatchNorm
 * does during its training forward. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "runtime/status.h"
#include "train/trainer_internal.h"

struct train_exec {
    clip_train_graph *tg;
    clip_wmap *w;
    int scale_param;          /* graph param index of logit_scale, or -1 */
    int bias_param;           /* graph param index of logit_bias, or -1 */
    backend *be;
    backend_plan *plan;
    backend_optim *opt;
    void **slots;             /* the inputs clip_train_bind fills */
    float **bn_host;          /* 2 * n_bn read-back buffers: means then vars */
};

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

static int bn_update(train_exec *e, float *const *bmean, float *const *bvar)
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

/* Sets the clamp of param i; returns 1 for logit_scale. */
static int param_clamp(const train_exec *e, int i, float *lo, float *hi)
{
    const char *name = e->tg->g->tensors[e->tg->t->param_t[i]].name;
    int is_scale = strcmp(name, "logit_scale") == 0;
    *lo = is_scale ? CLIP_LOGIT_SCALE_MIN : -INFINITY;
    *hi = is_scale ? CLIP_LOGIT_SCALE_MAX : INFINITY;
    return is_scale;
}

static int exec_setup(train_exec *e, const char *device, const adamw_cfg *cfg)
{
    clip_train_graph *tg = e->tg;
    const graph *g = tg->g;
    clip_tower *t = tg->t;
    int rc = backend_open(device, 0, &e->be);
    if (!rc)
        rc = backend_plan_create(e->be, g, &e->plan);
    for (int i = 0; i < t->n_params && !rc; i++)
        rc = backend_plan_write(e->plan, t->param_t[i], t->param_data[i], g_nbytes(g, t->param_t[i]));
    if (!rc)
        rc = backend_optim_create(e->plan, cfg, t->n_params, &e->opt);
    for (int i = 0; i < t->n_params && !rc; i++) {
        rc = backend_optim_add(e->opt, t->param_t[i], tg->grad_t[i]);
        float lo, hi;
        if (!rc && param_clamp(e, i, &lo, &hi)) {
            e->scale_param = i;
            rc = backend_optim_set_clamp(e->opt, i, lo, hi);
        }
        if (strcmp(g->tensors[t->param_t[i]].name, "logit_bias") == 0)
            e->bias_param = i;
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

int train_exec_create(const char *device, clip_train_graph *tg, clip_wmap *w,
                      const adamw_cfg *cfg, train_exec **out)
{
    *out = NULL;
    train_exec *e = calloc(1, sizeof *e);
    if (!e)
        return cc_fail(CC_ERR_NOMEM, "trainer: out of memory");
    e->tg = tg;
    e->w = w;
    e->scale_param = e->bias_param = -1;
    int rc = exec_setup(e, device, cfg);
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
    if (e->bn_host)
        for (int i = 0; i < 2 * e->tg->n_bn; i++)
            free(e->bn_host[i]);
    free(e->bn_host);
    free(e->slots);
    backend_optim_free(e->opt);
    backend_plan_free(e->plan);
    backend_close(e->be);
    free(e);
}

/* Writes every caller-supplied input (pixels, ids, the host inputs derived
 * from them, labels or feature gradients, seed; params stay in the plan),
 * runs the plan, reads the BatchNorm batch statistics and updates the
 * running buffers. */
/* Binds a micro-batch and runs the plan; fwd_only runs the forward pass
 * alone (backend_plan_run_for: the features and BatchNorm batch statistics). */
static int run_micro_as(train_exec *e, const float *pixels, const int32_t *ids, int fwd_only)
{
    clip_train_graph *tg = e->tg;
    const graph *g = tg->g;
    int rc = clip_train_bind(tg, e->slots, pixels, ids);
    for (int t = 0; t < g->n_tensors && !rc; t++) {
        if (g->tensors[t].role != G_ROLE_INPUT)
            continue;
        if (!e->slots[t])
            return cc_fail(CC_ERR_INVALID, "trainer: input '%s' has no data", g->tensors[t].name);
        rc = backend_plan_write(e->plan, t, e->slots[t], g_nbytes(g, t));
    }
    if (!rc && !fwd_only)
        rc = backend_plan_run(e->plan);
    if (!rc && fwd_only) {
        int *want = malloc(sizeof(int) * (size_t)(2 + 2 * tg->n_bn));
        if (!want)
            return cc_fail(CC_ERR_NOMEM, "trainer: the feature pass's %d tensors", 2 + 2 * tg->n_bn);
        want[0] = tg->img;
        want[1] = tg->txt;
        for (int i = 0; i < tg->n_bn; i++) {
            want[2 + 2 * i] = tg->bn[i].mean;
            want[3 + 2 * i] = tg->bn[i].var;
        }
        rc = backend_plan_run_for(e->plan, 2 + 2 * tg->n_bn, want);
        free(want);
    }
    for (int i = 0; i < tg->n_bn && !rc; i++) {
        size_t b = (size_t)tg->bn[i].channels * sizeof(float);
        rc = backend_plan_read(e->plan, tg->bn[i].mean, e->bn_host[i], b);
        if (!rc)
            rc = backend_plan_read(e->plan, tg->bn[i].var, e->bn_host[tg->n_bn + i], b);
    }
    if (!rc)
        rc = bn_update(e, e->bn_host, e->bn_host + tg->n_bn);
    return rc;
}

static int run_micro(train_exec *e, const float *pixels, const int32_t *ids)
{
    return run_micro_as(e, pixels, ids, 0);
}

int train_exec_micro(train_exec *e, const float *pixels, const int32_t *ids, float *loss)
{
    if (e->tg->feature_grad)
        return cc_fail(CC_ERR_INVALID, "trainer: a feature-gradient graph takes train_exec_micro_grad");
    int rc = run_micro(e, pixels, ids);
    if (!rc)
        rc = backend_plan_read(e->plan, e->tg->loss.loss, loss, sizeof *loss);
    if (!rc)
        rc = backend_optim_accumulate(e->opt);
    return rc;
}

static int need_feature_grad(const train_exec *e)
{
    return e->tg->feature_grad ? CC_OK
                               : cc_fail(CC_ERR_INVALID, "trainer: not a feature-gradient graph "
                                         "(clip_train_build_feature_grad)");
}

int train_exec_features(train_exec *e, const float *pixels, const int32_t *ids, float *img, float *txt)
{
    int rc = need_feature_grad(e);
    if (rc)
        return rc;
    clip_train_graph *tg = e->tg;
    const size_t be = (size_t)tg->batch * (size_t)tg->dim;
    memset(tg->d_host, 0, (2 * be + 2) * sizeof *tg->d_host);
    rc = run_micro_as(e, pixels, ids, 1); /* forward only: the seeds are not needed */
    if (!rc)
        rc = backend_plan_read(e->plan, tg->img, img, be * sizeof *img);
    if (!rc)
        rc = backend_plan_read(e->plan, tg->txt, txt, be * sizeof *txt);
    return rc;
}

int train_exec_micro_grad(train_exec *e, const float *pixels, const int32_t *ids, const float *d_img,
                          const float *d_txt, float d_scale, float d_bias)
{
    int rc = need_feature_grad(e);
    if (rc)
        return rc;
    clip_train_graph *tg = e->tg;
    const size_t be = (size_t)tg->batch * (size_t)tg->dim;
    memcpy(tg->d_host, d_img, be * sizeof *tg->d_host);
    memcpy(tg->d_host + be, d_txt, be * sizeof *tg->d_host);
    tg->d_host[2 * be] = d_scale;
    tg->d_host[2 * be + 1] = d_bias;
    rc = run_micro(e, pixels, ids);
    if (!rc)
        rc = backend_optim_accumulate(e->opt);
    return rc;
}

int train_exec_step(train_exec *e, double lr, float *grad_norm)
{
    return backend_optim_step(e->opt, lr, grad_norm);
}

int train_exec_sync(train_exec *e)
{
    clip_tower *t = e->tg->t;
    int rc = CC_OK;
    for (int i = 0; i < t->n_params && !rc; i++)
        rc = backend_plan_read(e->plan, t->param_t[i], (float *)t->param_data[i],
                               g_nbytes(e->tg->g, t->param_t[i]));
    return rc;
}

float train_exec_logit_scale(train_exec *e)
{
    float v = NAN;
    if (e->scale_param < 0 || backend_plan_read(e->plan, e->tg->t->param_t[e->scale_param], &v, sizeof v))
        return NAN;
    return v;
}

float train_exec_logit_bias(train_exec *e)
{
    float v = NAN;
    if (e->bias_param < 0 || backend_plan_read(e->plan, e->tg->t->param_t[e->bias_param], &v, sizeof v))
        return NAN;
    return v;
}

int64_t train_exec_steps(const train_exec *e) { return backend_optim_steps(e->opt); }
void train_exec_set_steps(train_exec *e, int64_t t) { backend_optim_set_steps(e->opt, t); }

int train_exec_get_state(train_exec *e, int i, float *m, float *v)
{
    return backend_optim_get_state(e->opt, i, m, v);
}

int train_exec_set_state(train_exec *e, int i, const float *m, const float *v)
{
    return backend_optim_set_state(e->opt, i, m, v);
}

const char *train_exec_device(const train_exec *e) { return backend_name(e->be); }
backend *train_exec_backend(train_exec *e) { return e->be; }

int train_exec_grad(train_exec *e, int i, float *g, int write)
{
    return write ? backend_optim_set_grad(e->opt, i, g) : backend_optim_get_grad(e->opt, i, g);
}

const clip_train_graph *train_exec_graph(const train_exec *e) { return e->tg; }
