/* The joint training graph: image tower + text tower + loss + backward in
 * one graph (models/clip_train.h). */
#include "models/clip_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/status.h"

/* A [1] param for logit_scale / logit_bias, read from the map when present
 * (OpenAI stores a 0-d tensor), else from *fallback, owned by the graph. */
static int scalar_param(cb_ctx *c, const char *name, float *fallback)
{
    if (c->rc)
        return -1;
    const clip_weight *w = clip_wmap_find(c->m, name);
    if (w && w->numel != 1) {
        c->rc = cc_fail(CC_ERR_SHAPE, "clip_train_build: tensor '%s' has %lld values, expected 1",
                        name, (long long)w->numel);
        return -1;
    }
    const int64_t one[1] = {1};
    int id = cb_ok(c, g_param(c->g, name, 1, one));
    if (id < 0 || cb_push_param(c, id, w ? w->data : fallback))
        return -1;
    return id;
}

/* Moves what the build context collected into tg; frees it on failure. */
static int finish(cb_ctx *c, clip_train_graph *tg, clip_train_graph **out)
{
    int rc = cb_end(c, tg->loss.loss, &tg->t);
    tg->bn = c->bn;
    tg->n_bn = c->n_bn;
    if (rc) {
        clip_train_free(tg);
        return rc;
    }
    tg->g = tg->t->g;
    *out = tg;
    return CC_OK;
}

static int add_backward(cb_ctx *c, clip_train_graph *tg)
{
    clip_tower *t = c->t;
    tg->grad_t = malloc((size_t)(t->n_params ? t->n_params : 1) * sizeof *tg->grad_t);
    tg->labels = malloc((size_t)tg->batch * (size_t)tg->batch * sizeof *tg->labels);
    if (!tg->grad_t || !tg->labels)
        return c->rc = cc_fail(CC_ERR_NOMEM, "clip_train_build: out of memory");
    if (tg->feature_grad) /* the labels input does not exist: keep the buffer for uniformity */
        memset(tg->labels, 0, (size_t)tg->batch * (size_t)tg->batch * sizeof *tg->labels);
    else
        clip_loss_fill_labels(tg->loss.kind, tg->batch, tg->labels);
    int rc = g_backward(c->g, tg->loss.loss, t->n_params, t->param_t, tg->grad_t, &tg->seed);
    if (rc)
        c->rc = rc;
    return rc;
}

/* The feature-gradient head: a scalar whose gradient with respect to the
 * features is the host input d_img / d_txt and with respect to logit_scale
 * (logit_bias) the host input d_scale (d_bias):
 *   s = sum(img * d_img) + sum(txt * d_txt) + t * d_scale [+ b * d_bias].
 * The features are marked as outputs so a run also returns them. */
static int feature_grad_head(cb_ctx *c, clip_train_graph *tg, clip_loss_kind kind, int scale, int bias)
{
    graph *g = c->g;
    const g_tensor *I = &g->tensors[tg->img];
    const int64_t e = I->shape[1], be[2] = {tg->batch, e}, one[1] = {1};
    tg->dim = (int)e;
    tg->d_host = calloc((size_t)(2 * tg->batch * e + 2), sizeof *tg->d_host);
    if (!tg->d_host)
        return c->rc = cc_fail(CC_ERR_NOMEM, "clip_train_build: out of memory");
    tg->d_img = g_input(g, "feature_grad/img", G_F32, 2, be);
    tg->d_txt = g_input(g, "feature_grad/txt", G_F32, 2, be);
    tg->d_scale = g_input(g, "feature_grad/logit_scale", G_F32, 1, one);
    tg->d_bias = kind == CLIP_LOSS_SIGLIP ? g_input(g, "feature_grad/logit_bias", G_F32, 1, one) : -1;
    int s = g_add(g, g_sum_to(g, g_mul(g, tg->img, tg->d_img), 1, one),
                  g_sum_to(g, g_mul(g, tg->txt, tg->d_txt), 1, one));
    s = g_add(g, s, g_mul(g, scale, tg->d_scale));
    if (kind == CLIP_LOSS_SIGLIP)
        s = g_add(g, s, g_mul(g, bias, tg->d_bias));
    if (s < 0 || tg->d_img < 0 || tg->d_txt < 0 || tg->d_scale < 0 || (kind == CLIP_LOSS_SIGLIP && tg->d_bias < 0))
        return c->rc = cc_wrap(CC_ERR_SHAPE, "clip_train_build");
    g_set_name(g, s, "feature_grad/surrogate");
    g_mark_output(g, s);
    g_mark_output(g, tg->img);
    g_mark_output(g, tg->txt);
    tg->loss = (clip_loss){.kind = kind, .n = tg->batch, .loss = s, .logits = -1, .logit_scale = scale,
                           .logit_bias = bias, .labels = -1};
    return CC_OK;
}

static int build(const clip_wmap *m, const clip_config *cfg, int batch, clip_loss_kind kind,
                 int feature_grad, clip_train_graph **out)
{
    if (!out)
        return cc_fail(CC_ERR_INVALID, "clip_train_build: NULL out");
    *out = NULL;
    const char *opt = cfg ? clip_config_untrainable_option(cfg) : NULL;
    if (opt)
        return cc_fail(CC_ERR_UNSUPPORTED, "clip_train_build: training a model with open_clip's %s "
                       "is not implemented", opt);
    clip_train_graph *tg = calloc(1, sizeof *tg);
    if (!tg)
        return cc_fail(CC_ERR_NOMEM, "clip_train_build: out of memory");
    tg->batch = batch;
    tg->feature_grad = feature_grad;
    tg->d_img = tg->d_txt = tg->d_scale = tg->d_bias = -1;
    tg->pixels = tg->ids = tg->img = tg->txt = tg->seed = -1;
    tg->loss.loss = -1;
    tg->scalars[0] = clip_loss_init_scale(kind);
    tg->scalars[1] = clip_loss_init_bias();
    tg->seed_value = 1.0f;
    cb_ctx c;
    if (cb_begin(&c, m, cfg, batch))
        return finish(&c, tg, out);
    c.training = 1;
    tg->img = cfg->vision.map_head ? cb_siglip_vit(&c) : cfg->vision.is_vit ? cb_vit(&c) : cb_resnet(&c);
    tg->pixels = c.t->input;
    /* Both towers share one tower record: params and host inputs of the two
     * accumulate; the input field ends up naming the ids. */
    tg->txt = cb_text(&c);
    tg->ids = c.t->input;
    int scale = scalar_param(&c, "logit_scale", &tg->scalars[0]), bias = -1;
    if (kind == CLIP_LOSS_SIGLIP)
        bias = scalar_param(&c, "logit_bias", &tg->scalars[1]);
    if (!c.rc && tg->img >= 0 && tg->txt >= 0 && feature_grad) {
        feature_grad_head(&c, tg, kind, scale, bias);
    } else if (!c.rc && tg->img >= 0 && tg->txt >= 0) {
        int rc = clip_loss_build(c.g, tg->img, tg->txt, kind, &tg->loss);
        if (rc)
            c.rc = rc;
    } else if (!c.rc) {
        c.rc = CC_ERR_SHAPE;
    }
    if (!c.rc)
        add_backward(&c, tg);
    return finish(&c, tg, out);
}

int clip_train_build(const clip_wmap *m, const clip_config *cfg, int batch, clip_loss_kind kind,
                     clip_train_graph **out)
{
    return build(m, cfg, batch, kind, 0, out);
}

int clip_train_build_feature_grad(const clip_wmap *m, const clip_config *cfg, int batch,
                                  clip_loss_kind kind, clip_train_graph **out)
{
    return build(m, cfg, batch, kind, 1, out);
}

void clip_train_free(clip_train_graph *tg)
{
    if (!tg)
        return;
    clip_tower_free(tg->t);
    free(tg->grad_t);
    free(tg->bn);
    free(tg->labels);
    free(tg->d_host);
    free(tg);
}

int clip_train_bind(clip_train_graph *tg, void **slots, const float *pixels, const int32_t *ids)
{
    if (!tg || !slots || !pixels || !ids)
        return cc_fail(CC_ERR_INVALID, "clip_train_bind: NULL argument");
    /* The tower's bind fills params and the host inputs derived from the
     * ids (the EOT one-hot); the class-token zeros need no input. */
    int rc = clip_tower_bind(tg->t, slots, ids);
    if (rc)
        return rc;
    slots[tg->pixels] = (void *)pixels;
    slots[tg->ids] = (void *)ids;
    if (tg->feature_grad) {
        const size_t be = (size_t)tg->batch * (size_t)tg->dim;
        slots[tg->d_img] = tg->d_host;
        slots[tg->d_txt] = tg->d_host + be;
        slots[tg->d_scale] = tg->d_host + 2 * be;
        if (tg->d_bias >= 0)
            slots[tg->d_bias] = tg->d_host + 2 * be + 1;
    } else {
        slots[tg->loss.labels] = tg->labels;
    }
    slots[tg->seed] = &tg->seed_value;
    return CC_OK;
}

int clip_param_key(const char *param_name, char *key, size_t len, int *part, int *nparts)
{
    int p = 0, n = 1;
    size_t k = strlen(param_name);
    const char *br = strrchr(param_name, '[');
    if (br && k > 0 && param_name[k - 1] == ']' && sscanf(br, "[%d/%d]", &p, &n) == 2 && n > 0) {
        k = (size_t)(br - param_name);
    } else {
        p = 0;
        n = 1;
    }
    if (k + 1 > len)
        return cc_fail(CC_ERR_INVALID, "clip_param_key: '%s' longer than %zu bytes", param_name, len);
    memcpy(key, param_name, k);
    key[k] = '\0';
    if (part)
        *part = p;
    if (nparts)
        *nparts = n;
    return CC_OK;
}

void clip_bn_update_running(float *run_mean, float *run_var, const float *batch_mean,
                            const float *batch_var, int64_t channels, int64_t count, float momentum)
{
    double unbias = count > 1 ? (double)count / (double)(count - 1) : 1.0;
    for (int64_t i = 0; i < channels; i++) {
        run_mean[i] = (float)((1.0 - momentum) * run_mean[i] + (double)momentum * batch_mean[i]);
        run_var[i] = (float)((1.0 - momentum) * run_var[i] + (double)momentum * batch_var[i] * unbias);
    }
}
