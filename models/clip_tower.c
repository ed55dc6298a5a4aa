/* Tower lifetime, binding data to a built tower, and the logits graph. */
#include "models/clip_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/status.h"

int clip_build_image(const clip_wmap *m, const clip_config *cfg, int batch, clip_tower **out)
{
    if (!out)
        return cc_fail(CC_ERR_INVALID, "clip_build_image: NULL out");
    *out = NULL;
    if (cfg && cfg->vision.unsupported[0])
        return cc_fail(CC_ERR_UNSUPPORTED, "this model's image tower is not supported: %s",
                       cfg->vision.unsupported);
    cb_ctx c;
    if (cb_begin(&c, m, cfg, batch))
        return cb_end(&c, -1, out);
    int x = cfg->vision.map_head ? cb_siglip_vit(&c) : cfg->vision.is_vit ? cb_vit(&c) : cb_resnet(&c);
    return cb_end(&c, x, out);
}

int clip_build_text(const clip_wmap *m, const clip_config *cfg, int batch, clip_tower **out)
{
    if (!out)
        return cc_fail(CC_ERR_INVALID, "clip_build_text: NULL out");
    *out = NULL;
    if (cfg && cfg->text.unsupported[0])
        return cc_fail(CC_ERR_UNSUPPORTED, "this model's text tower is not supported: %s",
                       cfg->text.unsupported);
    cb_ctx c;
    if (cb_begin(&c, m, cfg, batch))
        return cb_end(&c, -1, out);
    return cb_end(&c, cb_text(&c), out);
}

void clip_tower_free(clip_tower *t)
{
    if (!t)
        return;
    g_free(t->g);
    free(t->param_t);
    free(t->param_data);
    for (int i = 0; i < t->n_host; i++)
        free(t->host_buf[i]);
    free(t);
}

/* The row open_clip's text_global_pool takes from one text of T ids. */
static int64_t pooled_row(const int32_t *r, int64_t T, clip_text_pool pool, int eos_id)
{
    int64_t best = 0;
    switch (pool) {
    case CLIP_TEXT_POOL_FIRST:
        return 0;
    case CLIP_TEXT_POOL_LAST:
        return T - 1;
    case CLIP_TEXT_POOL_EOS:
        /* (text == eos_id).int().argmax(): the first match, else row 0 */
        for (int64_t i = 0; i < T; i++)
            if (r[i] == eos_id)
                return i;
        return 0;
    case CLIP_TEXT_POOL_ARGMAX:
    default:
        /* the first maximal id: CLIP's end-of-text token, the largest id */
        for (int64_t i = 1; i < T; i++)
            if (r[i] > r[best])
                best = i;
        return best;
    }
}

/* 1.0 at each text's pooled row, else 0. */
static void fill_onehot(float *oh, const int32_t *ids, int64_t B, int64_t T, clip_text_pool pool,
                        int eos_id)
{
    memset(oh, 0, (size_t)(B * T) * sizeof *oh);
    for (int64_t b = 0; b < B; b++)
        oh[b * T + pooled_row(ids + b * T, T, pool, eos_id)] = 1.0f;
}

int clip_tower_bind(clip_tower *t, void **slots, const void *input)
{
    if (!t || !slots || !input)
        return cc_fail(CC_ERR_INVALID, "clip_tower_bind: NULL argument");
    for (int i = 0; i < t->n_params; i++)
        slots[t->param_t[i]] = (void *)t->param_data[i];
    slots[t->input] = (void *)input;
    for (int i = 0; i < t->n_host; i++) {
        float *buf = t->host_buf[i];
        int64_t n = g_numel(t->g, t->host_t[i]);
        if (t->host_kind[i] == CLIP_HOST_ZEROS)
            memset(buf, 0, (size_t)n * sizeof *buf);
        else
            fill_onehot(buf, input, t->batch, t->text_ctx, t->text_pool, t->eos_id);
        slots[t->host_t[i]] = buf;
    }
    return CC_OK;
}

int clip_build_logits(int n_img, int n_txt, int embed_dim, float logit_scale,
                      clip_logits_graph *out)
{
    if (!out || n_img < 1 || n_txt < 1 || embed_dim < 1)
        return cc_fail(CC_ERR_INVALID, "clip_build_logits: %d images, %d texts, embed dim %d: "
                                       "expected all >= 1", n_img, n_txt, embed_dim);
    memset(out, 0, sizeof *out);
    out->g = g_new();
    if (!out->g)
        return cc_fail(CC_ERR_NOMEM, "clip_build_logits: out of memory");
    graph *g = out->g;
    int64_t is[2] = {n_img, embed_dim}, ts[2] = {n_txt, embed_dim};
    out->img = g_input(g, "image_features", G_F32, 2, is);
    out->txt = g_input(g, "text_features", G_F32, 2, ts);
    /* open_clip's F.normalize eps; OpenAI's order: (s * img_n) @ txt_n^T. */
    int a = g_scale(g, g_l2norm(g, out->img, 1e-12f), expf(logit_scale));
    int b = g_l2norm(g, out->txt, 1e-12f);
    out->out = g_matmul(g, a, b, -1, 0, 1);
    if (out->out < 0) {
        int rc = CC_ERR_SHAPE;
        clip_logits_free(out);
        return rc;
    }
    g_mark_output(g, out->out);
    return CC_OK;
}

void clip_logits_free(clip_logits_graph *l)
{
    if (!l)
        return;
    g_free(l->g);
    memset(l, 0, sizeof *l);
}
