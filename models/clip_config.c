/* Naming detection and architecture inference from tensor shapes, following
 * OpenAI's build_model (clip-spec.md 2.3) and its Hugging Face equivalent. */
#include "models/clip.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/status.h"

const char *clip_naming_name(clip_naming n)
{
    return n == CLIP_NAMING_HF ? "huggingface" : "openai";
}

const char *clip_act_name(clip_act a)
{
    return a == CLIP_ACT_GELU ? "gelu" : "quick_gelu";
}

static int starts(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

/* 1 + the largest N among keys "<prefix>N.<...>"; 0 when none. Gaps are not
 * checked here: the graph builder then fails on the first missing tensor,
 * naming it. */
static int count_indexed(const clip_wmap *m, const char *prefix)
{
    size_t pl = strlen(prefix);
    int n = 0;
    for (int i = 0; i < m->n; i++) {
        const char *k = m->w[i].name;
        if (strncmp(k, prefix, pl) != 0)
            continue;
        char *end;
        long v = strtol(k + pl, &end, 10);
        if (end != k + pl && *end == '.' && v >= 0 && v < 100000 && v + 1 > n)
            n = (int)v + 1;
    }
    return n;
}

/* The tensor, checked to have ndim dims; shape parts are the caller's to read. */
static int need(const clip_wmap *m, const char *key, int ndim, const clip_weight **out)
{
    const clip_weight *w = clip_wmap_find(m, key);
    if (!w)
        return cc_fail(CC_ERR_INVALID, "clip config: missing tensor '%s' (needed to infer the "
                                       "architecture)", key);
    if (w->ndim != ndim)
        return cc_fail(CC_ERR_SHAPE, "clip config: tensor '%s': expected %d dims, found %d", key,
                       ndim, w->ndim);
    *out = w;
    return CC_OK;
}

static int grid_of(const char *key, int64_t rows, int *grid)
{
    int g = (int)lround(sqrt((double)(rows - 1)));
    if (rows < 2 || (int64_t)g * g + 1 != rows)
        return cc_fail(CC_ERR_SHAPE, "clip config: tensor '%s': expected 1 + a square number of "
                                     "rows, found %lld", key, (long long)rows);
    *grid = g;
    return CC_OK;
}

static int infer_openai_vision(const clip_wmap *m, clip_config *c)
{
    const clip_weight *w = NULL; /* need() sets it; -O3 cannot tell cc_fail is non-zero */
    int rc;
    clip_vision_cfg *v = &c->vision;
    if (clip_wmap_find(m, "visual.proj")) {
        v->is_vit = 1;
        if ((rc = need(m, "visual.conv1.weight", 4, &w)))
            return rc;
        v->width = (int)w->shape[0];
        v->patch = (int)w->shape[3];
        v->layers = count_indexed(m, "visual.transformer.resblocks.");
        if ((rc = need(m, "visual.positional_embedding", 2, &w)))
            return rc;
        int g = 0;
        if ((rc = grid_of(w->name, w->shape[0], &g)))
            return rc;
        v->resolution = v->patch * g;
        v->heads = v->width / 64;
        return CC_OK;
    }
    v->is_vit = 0;
    v->layers = 0;
    for (int b = 0; b < 4; b++) {
        char p[32];
        snprintf(p, sizeof p, "visual.layer%d.", b + 1);
        v->rn_layers[b] = count_indexed(m, p);
        if (v->rn_layers[b] == 0)
            return cc_fail(CC_ERR_INVALID, "clip config: no 'visual.proj' (ViT) and no "
                                           "'%s0.*' tensors (ResNet): not a CLIP image tower", p);
        v->layers += v->rn_layers[b];
    }
    if ((rc = need(m, "visual.layer1.0.conv1.weight", 4, &w)))
        return rc;
    v->width = (int)w->shape[0];
    if ((rc = need(m, "visual.attnpool.positional_embedding", 2, &w)))
        return rc;
    int g = 0;
    if ((rc = grid_of(w->name, w->shape[0], &g)))
        return rc;
    v->resolution = 32 * g;
    v->heads = v->width * 32 / 64;
    return CC_OK;
}

static int infer_openai(const clip_wmap *m, clip_config *c)
{
    const clip_weight *w = NULL; /* need() sets it; -O3 cannot tell cc_fail is non-zero */
    int rc;
    if ((rc = infer_openai_vision(m, c)))
        return rc;
    if ((rc = need(m, "text_projection", 2, &w)))
        return rc;
    c->embed_dim = (int)w->shape[1];
    if ((rc = need(m, "positional_embedding", 2, &w)))
        return rc;
    c->text.context = (int)w->shape[0];
    if ((rc = need(m, "token_embedding.weight", 2, &w)))
        return rc;
    c->text.vocab = (int)w->shape[0];
    if ((rc = need(m, "ln_final.weight", 1, &w)))
        return rc;
    c->text.width = (int)w->shape[0];
    c->text.layers = count_indexed(m, "transformer.resblocks.");
    c->text.heads = c->text.width / 64;
    return CC_OK;
}

static int infer_hf(const clip_wmap *m, clip_config *c)
{
    const clip_weight *w = NULL; /* need() sets it; -O3 cannot tell cc_fail is non-zero */
    int rc;
    clip_vision_cfg *v = &c->vision;
    v->is_vit = 1;
    if ((rc = need(m, "vision_model.embeddings.patch_embedding.weight", 4, &w)))
        return rc;
    v->width = (int)w->shape[0];
    v->patch = (int)w->shape[3];
    v->layers = count_indexed(m, "vision_model.encoder.layers.");
    if ((rc = need(m, "vision_model.embeddings.position_embedding.weight", 2, &w)))
        return rc;
    int g = 0;
    if ((rc = grid_of(w->name, w->shape[0], &g)))
        return rc;
    v->resolution = v->patch * g;
    v->heads = v->width / 64;
    if ((rc = need(m, "text_projection.weight", 2, &w)))
        return rc;
    c->embed_dim = (int)w->shape[0];
    if ((rc = need(m, "text_model.embeddings.position_embedding.weight", 2, &w)))
        return rc;
    c->text.context = (int)w->shape[0];
    if ((rc = need(m, "text_model.embeddings.token_embedding.weight", 2, &w)))
        return rc;
    c->text.vocab = (int)w->shape[0];
    if ((rc = need(m, "text_model.final_layer_norm.weight", 1, &w)))
        return rc;
    c->text.width = (int)w->shape[0];
    c->text.layers = count_indexed(m, "text_model.encoder.layers.");
    c->text.heads = c->text.width / 64;
    return CC_OK;
}

int clip_config_infer(const clip_wmap *m, clip_config *c)
{
    if (!m || !c)
        return cc_fail(CC_ERR_INVALID, "clip_config_infer: NULL argument");
    memset(c, 0, sizeof *c);
    int hf = 0, oa = 0;
    for (int i = 0; i < m->n; i++) {
        const char *k = m->w[i].name;
        hf |= starts(k, "vision_model.") || starts(k, "text_model.");
        oa |= starts(k, "visual.") || strcmp(k, "token_embedding.weight") == 0;
    }
    if (hf == oa)
        return cc_fail(CC_ERR_INVALID, "clip config: %d tensors with %s: expected either "
                                       "OpenAI/open_clip keys ('visual.*', 'token_embedding.weight') "
                                       "or Hugging Face keys ('vision_model.*', 'text_model.*')",
                       m->n, hf ? "both namings' keys" : "neither naming's keys");
    c->naming = hf ? CLIP_NAMING_HF : CLIP_NAMING_OPENAI;
    int rc = hf ? infer_hf(m, c) : infer_openai(m, c);
    if (rc)
        return rc;
    c->vision.act = c->text.act = CLIP_ACT_QUICKGELU;
    c->vision.eps = c->text.eps = 1e-5f;
    return CC_OK;
}
