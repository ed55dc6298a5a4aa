/* Naming detection and architecture inference from tensor shapes, following
 * OpenAI's build_model (clip/model.py) and its Hugging Face equivalent. */
#include "models/clip.h"
#include "models/clip_config_internal.h"

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
    return a == CLIP_ACT_GELU ? "gelu" : a == CLIP_ACT_GELU_TANH ? "gelu_tanh" : "quick_gelu";
}

static int starts(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

/* 1 + the largest N among keys "<prefix>N.<...>"; 0 when none. Gaps are not
 * checked here: the graph builder then fails on the first missing tensor,
 * naming it. */
int cfg_count_indexed(const clip_wmap *m, const char *prefix)
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

int cfg_need_tensor(const clip_wmap *m, const char *key, int ndim, const char *what,
                    const clip_weight **out)
{
    const clip_weight *w = clip_wmap_find(m, key);
    if (!w)
        return cc_fail(CC_ERR_INVALID, "clip config: missing tensor '%s' (needed to infer %s)",
                       key, what);
    if (w->ndim != ndim)
        return cc_fail(CC_ERR_SHAPE, "clip config: tensor '%s': expected %d dims, found %d", key,
                       ndim, w->ndim);
    *out = w;
    return CC_OK;
}

static int need(const clip_wmap *m, const char *key, int ndim, const clip_weight **out)
{
    return cfg_need_tensor(m, key, ndim, "the architecture", out);
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

/* The tensors architecture inference reads, per naming. */
typedef struct naming_keys {
    const char *patch, *vit_layers, *vit_pos; /* ViT image tower */
    const char *proj;                         /* text projection (after the text prefix) */
    int proj_embed_dim;                       /* which dim of proj is embed_dim */
    const char *text_pos, *tok, *ln_final, *text_layers;
} naming_keys;

static const naming_keys OPENAI_KEYS = {
    "visual.conv1.weight", "visual.transformer.resblocks.", "visual.positional_embedding",
    "text_projection", 1, "positional_embedding", "token_embedding.weight", "ln_final.weight",
    "transformer.resblocks.",
};

static const naming_keys HF_KEYS = {
    "vision_model.embeddings.patch_embedding.weight", "vision_model.encoder.layers.",
    "vision_model.embeddings.position_embedding.weight", "text_projection.weight", 0,
    "text_model.embeddings.position_embedding.weight",
    "text_model.embeddings.token_embedding.weight", "text_model.final_layer_norm.weight",
    "text_model.encoder.layers.",
};

/* The image tower's projection gives embed_dim (the text tower may be one
 * clipcl does not build, or have no projection). */
static int infer_embed_dim(const clip_wmap *m, const char *key, int dim, clip_config *c)
{
    const clip_weight *w = NULL;
    int rc = need(m, key, 2, &w);
    if (!rc)
        c->embed_dim = (int)w->shape[dim];
    return rc;
}

static int infer_vit(const clip_wmap *m, const naming_keys *k, int hf, clip_config *c)
{
    clip_vision_cfg *v = &c->vision;
    const clip_weight *w = NULL; /* need() sets it; -O3 cannot tell cc_fail is non-zero */
    int rc, g = 0;
    v->is_vit = 1;
    if ((rc = need(m, k->patch, 4, &w)))
        return rc;
    v->width = (int)w->shape[0];
    v->patch = (int)w->shape[3];
    v->layers = cfg_count_indexed(m, k->vit_layers);
    if ((rc = need(m, k->vit_pos, 2, &w)) || (rc = grid_of(w->name, w->shape[0], &g)))
        return rc;
    v->resolution = v->patch * g;
    v->heads = v->width / 64;
    return hf ? infer_embed_dim(m, "visual_projection.weight", 0, c)
              : infer_embed_dim(m, "visual.proj", 1, c);
}

static int infer_resnet(const clip_wmap *m, clip_config *c)
{
    clip_vision_cfg *v = &c->vision;
    const clip_weight *w = NULL;
    int rc, g = 0;
    v->is_vit = 0;
    v->layers = 0;
    for (int b = 0; b < 4; b++) {
        char p[32];
        snprintf(p, sizeof p, "visual.layer%d.", b + 1);
        v->rn_layers[b] = cfg_count_indexed(m, p);
        if (v->rn_layers[b] == 0)
            return cc_fail(CC_ERR_INVALID, "clip config: no 'visual.proj' (ViT) and no "
                                           "'%s0.*' tensors (ResNet): not a CLIP image tower", p);
        v->layers += v->rn_layers[b];
    }
    if ((rc = need(m, "visual.layer1.0.conv1.weight", 4, &w)))
        return rc;
    v->width = (int)w->shape[0];
    if ((rc = need(m, "visual.attnpool.positional_embedding", 2, &w)) ||
        (rc = grid_of(w->name, w->shape[0], &g)))
        return rc;
    v->resolution = 32 * g;
    v->heads = v->width * 32 / 64;
    return infer_embed_dim(m, "visual.attnpool.c_proj.weight", 0, c);
}

/* open_clip's CustomTextCLIP (custom_text) keeps the same text tower under
 * "text."; its math is CLIP's. */
const char *clip_text_prefix(const clip_wmap *m, clip_naming naming)
{
    return naming == CLIP_NAMING_OPENAI && clip_wmap_find(m, "text.token_embedding.weight") ? "text."
                                                                                               : "";
}

/* The text projection is optional here: open_clip's proj_type "none" has
 * none, and a missing one is named when the tower is built. */
static int infer_text(const clip_wmap *m, const naming_keys *k, clip_config *c)
{
    const char *tp = clip_text_prefix(m, c->naming);
    char key[96];
    const clip_weight *w = NULL;
    int rc;
    snprintf(key, sizeof key, "%s%s", tp, k->text_pos);
    if ((rc = need(m, key, 2, &w)))
        return rc;
    c->text.context = (int)w->shape[0];
    snprintf(key, sizeof key, "%s%s", tp, k->tok);
    if ((rc = need(m, key, 2, &w)))
        return rc;
    c->text.vocab = (int)w->shape[0];
    snprintf(key, sizeof key, "%s%s", tp, k->ln_final);
    if ((rc = need(m, key, 1, &w)))
        return rc;
    c->text.width = (int)w->shape[0];
    snprintf(key, sizeof key, "%s%s", tp, k->text_layers);
    c->text.layers = cfg_count_indexed(m, key);
    c->text.heads = c->text.width / 64;
    /* OpenAI: a [W, E] parameter; open_clip proj_bias: a Linear [E, W] + [E]. */
    snprintf(key, sizeof key, "%s%s", tp, k->proj);
    const clip_weight *p = clip_wmap_find(m, key);
    snprintf(key, sizeof key, "%stext_projection.weight", tp);
    const clip_weight *lin = c->naming == CLIP_NAMING_OPENAI ? clip_wmap_find(m, key) : NULL;
    snprintf(key, sizeof key, "%stext_projection.bias", tp);
    if (lin && clip_wmap_find(m, key)) {
        c->text.proj_bias = 1;
        p = lin;
    }
    if (!c->embed_dim && p && p->ndim == 2)
        c->embed_dim = (int)p->shape[lin && p == lin ? 0 : k->proj_embed_dim];
    return CC_OK;
}

/* A tower whose inference failed is unsupported when one of its tensors
 * names an architecture clipcl does not implement; else the failure stands
 * (a corrupt or foreign file). */
static int tower_or_reason(const clip_wmap *m, clip_config *c, int tower, int rc)
{
    if (!rc)
        return CC_OK;
    clip_refuse_foreign_tensors(m, c, tower);
    if ((tower ? c->text.unsupported : c->vision.unsupported)[0]) {
        cc_clear_error();
        return CC_OK;
    }
    return rc;
}

/* OpenAI checkpoints hold either tower (visual.proj marks the ViT); Hugging
 * Face CLIPModel only the ViT. */
static int infer_naming(const clip_wmap *m, int hf, clip_config *c)
{
    const naming_keys *k = hf ? &HF_KEYS : &OPENAI_KEYS;
    int vit = hf || clip_wmap_find(m, "visual.proj");
    int rc = clip_siglip_in_weights(m, hf) ? clip_siglip_infer_vision(m, hf, c)
             : vit                         ? infer_vit(m, k, hf, c)
                                           : infer_resnet(m, c);
    if ((rc = tower_or_reason(m, c, 0, rc)))
        return rc;
    if ((rc = tower_or_reason(m, c, 1, infer_text(m, k, c))))
        return rc;
    clip_siglip_infer_text(m, c);
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
    int rc = infer_naming(m, hf, c);
    if (rc)
        return rc;
    if (!c->embed_dim && c->vision.map_head && !c->vision.unsupported[0])
        c->embed_dim = c->vision.width; /* SigLIP: the MAP head's row is the feature */
    if (!c->embed_dim) /* neither projection: maybe an architecture clipcl does not build */
        clip_refuse_foreign_tensors(m, c, -1);
    if (!c->embed_dim && c->vision.unsupported[0] && c->text.unsupported[0])
        return cc_fail(CC_ERR_UNSUPPORTED, "clip model: neither tower can be built: image tower: "
                                           "%s; text tower: %s", c->vision.unsupported,
                       c->text.unsupported);
    if (!c->embed_dim)
        return cc_fail(CC_ERR_INVALID, "clip config: no image or text projection tensor "
                                       "('%s', '%s'): cannot tell the embedding width",
                       hf ? "visual_projection.weight" : "visual.proj",
                       hf ? "text_projection.weight" : "text_projection");
    c->vision.act = c->text.act = CLIP_ACT_QUICKGELU;
    c->vision.eps = c->text.eps = 1e-5f;
    clip_siglip_defaults(c);
    return clip_config_infer_tower_options(m, c);
}
