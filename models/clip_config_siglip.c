/* SigLIP architectures from their weights and configs (docs/models.md,
 * "SigLIP"):
 * - open_clip's ViT-*-SigLIP* configs: a timm VisionTransformer trunk
 *   (`visual.trunk.*`, global_pool 'map', timm_proj 'none') beside open_clip's
 *   TextTransformer under "text." (custom_text; pool last, no causal mask, a
 *   projection with bias: the text options read by clip_config_open_clip.c).
 *   The timm model name fixes what the weights cannot tell: heads and the
 *   activation (timm's vision_transformer.py), eps 1e-6 (timm's LayerNorm).
 * - transformers' SiglipModel: `vision_model.*` with `vision_model.head.*`
 *   (SiglipMultiheadAttentionPoolingHead), `text_model.*` with
 *   `text_model.head` (a Linear with bias on the last token), no projections;
 *   config.json (model_type "siglip") gives heads, eps and hidden_act. */
#include "models/clip_config_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/status.h"

/* The timm models open_clip's SigLIP configs name, as timm 1.x defines
 * them (vit_*_siglip_* in timm/models/vision_transformer.py). Heads are
 * width / head_dim so that a scaled-down trunk of the same family (fewer,
 * narrower blocks, as tests build) keeps timm's head width. */
typedef struct timm_siglip {
    const char *name;
    int head_dim;
    clip_act act;
} timm_siglip;

static const timm_siglip TIMM_SIGLIP[] = {
    {"vit_base_patch16_siglip_224", 64, CLIP_ACT_GELU},
    {"vit_base_patch16_siglip_256", 64, CLIP_ACT_GELU},
    {"vit_base_patch16_siglip_384", 64, CLIP_ACT_GELU},
    {"vit_base_patch16_siglip_512", 64, CLIP_ACT_GELU},
    {"vit_base_patch32_siglip_256", 64, CLIP_ACT_GELU_TANH},
    {"vit_large_patch16_siglip_256", 64, CLIP_ACT_GELU},
    {"vit_large_patch16_siglip_384", 64, CLIP_ACT_GELU},
    {"vit_large_patch16_siglip_512", 64, CLIP_ACT_GELU_TANH},
    {"vit_so400m_patch14_siglip_224", 72, CLIP_ACT_GELU},
    {"vit_so400m_patch14_siglip_378", 72, CLIP_ACT_GELU},
    {"vit_so400m_patch14_siglip_384", 72, CLIP_ACT_GELU},
    {"vit_so400m_patch16_siglip_256", 72, CLIP_ACT_GELU_TANH},
    {"vit_so400m_patch16_siglip_384", 72, CLIP_ACT_GELU_TANH},
    {"vit_so400m_patch16_siglip_512", 72, CLIP_ACT_GELU_TANH},
    {"vit_giantopt_patch16_siglip_256", 96, CLIP_ACT_GELU_TANH},
    {"vit_giantopt_patch16_siglip_384", 96, CLIP_ACT_GELU_TANH},
};

static const timm_siglip *timm_find(const char *name)
{
    for (size_t i = 0; name && i < sizeof TIMM_SIGLIP / sizeof TIMM_SIGLIP[0]; i++)
        if (strcmp(name, TIMM_SIGLIP[i].name) == 0)
            return &TIMM_SIGLIP[i];
    return NULL;
}

int clip_siglip_timm_known(const char *name)
{
    return timm_find(name) != NULL;
}

int clip_siglip_in_weights(const clip_wmap *m, int hf)
{
    return clip_wmap_find(m, hf ? "vision_model.head.probe" : "visual.trunk.attn_pool.latent") != NULL;
}

static int need(const clip_wmap *m, const char *key, int ndim, const clip_weight **out)
{
    return cfg_need_tensor(m, key, ndim, "the SigLIP image tower", out);
}

int clip_siglip_infer_vision(const clip_wmap *m, int hf, clip_config *c)
{
    clip_vision_cfg *v = &c->vision;
    const clip_weight *w = NULL, *pos = NULL;
    int rc = need(m, hf ? "vision_model.embeddings.patch_embedding.weight"
                        : "visual.trunk.patch_embed.proj.weight", 4, &w);
    if (rc)
        return rc;
    v->is_vit = 1;
    v->map_head = 1;
    c->siglip = 1;
    v->width = (int)w->shape[0];
    v->patch = (int)w->shape[3];
    v->layers = cfg_count_indexed(m, hf ? "vision_model.encoder.layers." : "visual.trunk.blocks.");
    if ((rc = need(m, hf ? "vision_model.embeddings.position_embedding.weight"
                         : "visual.trunk.pos_embed", hf ? 2 : 3, &pos)))
        return rc;
    int64_t N = pos->shape[pos->ndim - 2];
    int g = 1;
    while ((int64_t)g * g < N)
        g++;
    if ((int64_t)g * g != N) {
        /* A class token (PE-Core, other timm ViTs): another architecture
         * than SigLIP's. Only this tower is refused; the text tower works. */
        cfg_refuse(v->unsupported, sizeof v->unsupported,
                   "tensor '%s' has %lld positions, not a square grid: a timm image trunk with a "
                   "class token, not SigLIP's, which clipcl does not implement", pos->name,
                   (long long)N);
        return CC_OK; /* embed_dim: the text tower's projection tells */
    }
    v->resolution = g * v->patch;
    /* the config says (timm name / num_attention_heads); at least one head
     * so that a narrow model without its config still loads, with the note */
    v->heads = v->width >= 64 ? v->width / 64 : 1;
    const clip_weight *fc1 = clip_wmap_find(m, hf ? "vision_model.encoder.layers.0.mlp.fc1.weight"
                                                  : "visual.trunk.blocks.0.mlp.fc1.weight");
    v->mlp_width = fc1 && fc1->ndim == 2 && fc1->shape[0] != 4 * (int64_t)v->width
                       ? (int)fc1->shape[0] : 0;
    /* embed_dim: the head's row is the feature (timm_proj "none"), so it is
     * the width; clip_config_infer sets it after the text tower's projection
     * had its say (a trunk that is not SigLIP's may pool to another width). */
    return CC_OK;
}

void clip_siglip_infer_text(const clip_wmap *m, clip_config *c)
{
    clip_text_cfg *t = &c->text;
    if (c->naming != CLIP_NAMING_HF) /* open_clip: the text options come from the config */
        return;
    const clip_weight *h = clip_wmap_find(m, "text_model.head.weight");
    if (!h || t->unsupported[0])
        return;
    c->siglip = 1;
    t->proj_bias = 1; /* SiglipTextModel.head: a Linear with bias */
    t->pool = CLIP_TEXT_POOL_LAST;
    t->no_causal_mask = 1;
    if (t->heads < 1)
        t->heads = 1; /* the config says; see clip_siglip_infer_vision */
    /* SiglipTokenizer: SentencePiece (spiece.model), not CLIP's BPE; until
     * clipcl reads it, text works from token ids */
    snprintf(t->tokenizer, sizeof t->tokenizer, "SiglipTokenizer (SentencePiece)");
    if (h->ndim == 2 && c->embed_dim && h->shape[0] != c->embed_dim)
        snprintf(t->unsupported, sizeof t->unsupported, "tensor 'text_model.head.weight' gives "
                 "%lld-wide text features, but the image features are %d wide (transformers' "
                 "projection_size must equal the vision hidden_size for SiglipModel to compare "
                 "them)", (long long)h->shape[0], c->embed_dim);
    else if (h->ndim == 2 && !c->embed_dim)
        c->embed_dim = (int)h->shape[0];
}

void clip_siglip_defaults(clip_config *c)
{
    if (!c->siglip)
        return;
    /* timm's and transformers' SigLIP LayerNorms; open_clip's text tower
     * uses nn.GELU (quick_gelu false), SiglipModel gelu_pytorch_tanh. */
    c->vision.eps = c->text.eps = 1e-6f;
    clip_act act = c->naming == CLIP_NAMING_HF ? CLIP_ACT_GELU_TANH : CLIP_ACT_GELU;
    c->vision.act = c->text.act = act;
}

/* ---- open_clip: vision_cfg of a timm trunk ---- */

int clip_siglip_apply_timm(clip_config *c, const char *path, struct json_object *vc)
{
    clip_vision_cfg *v = &c->vision;
    if (!v->map_head || v->unsupported[0])
        return CC_OK;
    char *why = v->unsupported;
    size_t len = sizeof v->unsupported;
    struct json_object *nm = cfg_get(vc, "timm_model_name");
    const char *name = nm && json_object_is_type(nm, json_type_string) ? json_object_get_string(nm)
                                                                      : NULL;
    const timm_siglip *ts = timm_find(name);
    if (!ts) {
        cfg_refuse(why, len, "the weights hold a timm SigLIP trunk ('visual.trunk.attn_pool.*'), "
                   "but vision_cfg timm_model_name is %s: clipcl knows the vit_*_siglip_* models "
                   "of open_clip's SigLIP configs", name ? name : "absent");
        return CC_OK;
    }
    /* open_clip's defaults (CLIPVisionCfg): timm_pool 'avg', timm_proj 'linear' */
    struct json_object *pool = cfg_get(vc, "timm_pool"), *proj = cfg_get(vc, "timm_proj");
    const char *ps = pool && json_object_is_type(pool, json_type_string) ? json_object_get_string(pool)
                                                                        : "avg";
    const char *js = proj && json_object_is_type(proj, json_type_string) ? json_object_get_string(proj)
                                                                        : "linear";
    if (strcmp(ps, "map") != 0)
        cfg_refuse(why, len, "vision_cfg timm_pool \"%s\" with a SigLIP trunk (clipcl implements "
                   "the 'map' attention-pool head only)", ps);
    else if (strcmp(js, "none") != 0)
        cfg_refuse(why, len, "vision_cfg timm_proj \"%s\" (open_clip: a projection after the "
                   "timm trunk), which clipcl does not implement with a SigLIP trunk", js);
    if (v->width % ts->head_dim != 0)
        return cc_fail(CC_ERR_SHAPE, "clip config '%s': %s has %d-wide heads, which do not divide "
                                     "the trunk's width %d", path, ts->name, ts->head_dim, v->width);
    v->heads = v->width / ts->head_dim;
    v->act = ts->act;
    v->eps = 1e-6f; /* timm's LayerNorm; vision_cfg norm_kwargs do not reach timm */
    return CC_OK;
}

/* ---- transformers: config.json of a SiglipModel ---- */

static int act_of(const char *path, struct json_object *o, clip_act *act, char *why, size_t len,
                  const char *tower)
{
    struct json_object *v = cfg_get(o, "hidden_act");
    const char *s = v ? json_object_get_string(v) : "gelu_pytorch_tanh";
    if (strcmp(s, "gelu_pytorch_tanh") == 0 || strcmp(s, "gelu_new") == 0)
        *act = CLIP_ACT_GELU_TANH; /* both are 0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x^3))) */
    else if (strcmp(s, "gelu") == 0)
        *act = CLIP_ACT_GELU;
    else if (strcmp(s, "quick_gelu") == 0)
        *act = CLIP_ACT_QUICKGELU;
    else if (v && json_object_is_type(v, json_type_string))
        cfg_refuse(why, len, "%s hidden_act \"%s\" (transformers: an activation other than gelu, "
                             "gelu_pytorch_tanh, gelu_new or quick_gelu), which clipcl does not "
                             "implement", tower, s);
    else
        return cc_fail(CC_ERR_INVALID, "clip config '%s': %s hidden_act is not a string", path,
                       tower);
    return CC_OK;
}

static int check_mlp(const char *path, const char *tower, struct json_object *o, int width,
                     int mlp_width)
{
    int inter = cfg_int_or(o, "intermediate_size", 3072), weights = mlp_width ? mlp_width : 4 * width;
    if (inter != weights)
        return cc_fail(CC_ERR_SHAPE, "clip config '%s': %s intermediate_size = %d, but the "
                                     "weights imply %d", path, tower, inter, weights);
    return CC_OK;
}

static int apply_hf_vision(clip_config *c, const char *path, struct json_object *vc)
{
    clip_vision_cfg *v = &c->vision;
    int rc;
    if (v->unsupported[0])
        return CC_OK;
    if ((rc = cfg_check(path, "hidden_size", vc, v->width)) ||
        (rc = cfg_check(path, "num_hidden_layers", vc, v->layers)) ||
        (rc = cfg_check(path, "patch_size", vc, v->patch)) ||
        (rc = cfg_check(path, "image_size", vc, v->resolution)) ||
        (rc = check_mlp(path, "vision_config", vc, v->width, v->mlp_width)) ||
        (rc = act_of(path, vc, &v->act, v->unsupported, sizeof v->unsupported, "vision_config")))
        return rc;
    v->heads = cfg_int_or(vc, "num_attention_heads", 12);
    struct json_object *e = cfg_get(vc, "layer_norm_eps");
    v->eps = cfg_is_num(e) ? (float)json_object_get_double(e) : 1e-6f;
    if (cfg_int_or(vc, "num_channels", 3) != 3)
        cfg_refuse(v->unsupported, sizeof v->unsupported, "vision_config num_channels %d: clipcl "
                   "feeds RGB images (3 channels)", cfg_int_or(vc, "num_channels", 3));
    return cfg_heads_ok(path, "vision", v->width, v->heads);
}

static int apply_hf_text(clip_config *c, const char *path, struct json_object *tc)
{
    clip_text_cfg *t = &c->text;
    int rc;
    if (t->unsupported[0])
        return CC_OK;
    if ((rc = cfg_check(path, "hidden_size", tc, t->width)) ||
        (rc = cfg_check(path, "num_hidden_layers", tc, t->layers)) ||
        (rc = cfg_check(path, "max_position_embeddings", tc, t->context)) ||
        (rc = cfg_check(path, "vocab_size", tc, t->vocab)) ||
        (rc = cfg_check(path, "projection_size", tc, c->embed_dim)) ||
        (rc = check_mlp(path, "text_config", tc, t->width, t->mlp_width)) ||
        (rc = act_of(path, tc, &t->act, t->unsupported, sizeof t->unsupported, "text_config")))
        return rc;
    t->heads = cfg_int_or(tc, "num_attention_heads", 12);
    struct json_object *e = cfg_get(tc, "layer_norm_eps");
    t->eps = cfg_is_num(e) ? (float)json_object_get_double(e) : 1e-6f;
    return cfg_heads_ok(path, "text", t->width, t->heads);
}

int clip_siglip_apply_hf(clip_config *c, const char *path, struct json_object *root)
{
    if (!c->siglip || !c->vision.map_head)
        return cc_fail(CC_ERR_INVALID, "clip config '%s': model_type \"siglip\", but the weights "
                                       "have no 'vision_model.head.probe' (SiglipModel's "
                                       "attention-pool head; vision_use_head false is not "
                                       "implemented)", path);
    struct json_object *vc = cfg_get(root, "vision_config");
    struct json_object *uh = cfg_get(vc, "vision_use_head");
    if (uh && !json_object_get_boolean(uh))
        return cc_fail(CC_ERR_INVALID, "clip config '%s': vision_use_head false, but the weights "
                                       "hold 'vision_model.head.*'", path);
    int rc = apply_hf_vision(c, path, vc);
    if (rc)
        return rc;
    return apply_hf_text(c, path, cfg_get(root, "text_config"));
}
