/* Every key of an open_clip model config (CLIPVisionCfg / CLIPTextCfg in
 * open_clip's model.py, and the model-level keys of its model_configs/) is
 * one of: understood (read by the config readers), without effect on the
 * features (training-only, or only meaningful with an option that is itself
 * refused), or refused by name with what it means in open_clip. A key none
 * of these is refused as unknown: a config is never half read.
 *
 * Options the graph implements are recognised by their config field: a key
 * is refused while its field still holds OpenAI's default after every reader
 * ran, so an option is accepted exactly when something implements it. */
#include "models/clip_config_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "runtime/status.h"

static const char *const HARMLESS_TOP[] = {
    "embed_dim", "vision_cfg", "text_cfg", "quick_gelu", "custom_text", "init_logit_scale",
    /* SigLIP's sigmoid-loss bias: the towers' features do not use it */
    "init_logit_bias", "nonscalar_logit_scale", "cast_dtype", "output_dict",
};

static const char *const HARMLESS_VISION[] = {
    "image_size", "layers", "width", "head_width", "patch_size", "norm_kwargs",
    "patch_dropout", "output_tokens", "attn_pooler_queries", "attn_pooler_heads",
    /* only read together with timm_model_name, which is refused */
    "timm_model_pretrained", "timm_pool", "timm_proj", "timm_proj_bias", "timm_drop",
    "timm_drop_path",
};

static const char *const HARMLESS_TEXT[] = {
    "context_length", "vocab_size", "width", "heads", "layers", "norm_kwargs", "pool_type",
    "eos_id", "no_causal_mask", "proj_bias", "proj_type", "hf_tokenizer_name", "tokenizer_kwargs",
    "tokenizer_mode", "output_tokens",
    /* pad_id masks keys only with embed_cls (refused); final_ln_after_pool
     * is not passed to open_clip's TextTransformer */
    "pad_id", "final_ln_after_pool",
    /* only read together with hf_model_name, which is refused */
    "hf_model_pretrained", "hf_proj_type", "hf_pooler_type",
};

static int in(const char *key, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(key, list[i]) == 0)
            return 1;
    return 0;
}

static int truthy(struct json_object *v)
{
    return v && !json_object_is_type(v, json_type_null) && json_object_get_boolean(v);
}

static const char *js(struct json_object *v)
{
    return json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
}

/* Keys of open_clip's custom attention block (block_type 'custom'). */
static const char *custom_block_meaning(const char *key)
{
    static const char *const k[][2] = {
        {"qk_norm", "LayerNorm on queries and keys"},
        {"scaled_cosine_attn", "scaled cosine attention"},
        {"scale_heads", "a learned scale per attention head"},
        {"scale_attn_inner", "a LayerNorm on the attention context"},
        {"scale_attn", "a LayerNorm after attention"},
        {"scale_fc", "a LayerNorm inside the MLP"},
    };
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        if (strcmp(key, k[i][0]) == 0)
            return k[i][1];
    return NULL;
}

/* A key both towers share; 1 when it was classified. */
static int check_common(const char *key, struct json_object *val, int layer_scale, int mlp_width,
                        int width, clip_act act, char *why, size_t len, const char *tower)
{
    const char *cb = custom_block_meaning(key);
    if (cb) {
        if (truthy(val))
            cfg_refuse(why, len, "%s %s: true (open_clip's custom attention block: %s), which "
                                 "clipcl does not implement", tower, key, cb);
        return 1;
    }
    if (strcmp(key, "block_type") == 0) {
        if (val && json_object_is_type(val, json_type_string) &&
            strcmp(json_object_get_string(val), "default") != 0)
            cfg_refuse(why, len, "%s block_type %s (open_clip's custom attention block), which "
                                 "clipcl does not implement", tower, js(val));
        return 1;
    }
    if (strcmp(key, "ls_init_value") == 0) {
        if (val && !json_object_is_type(val, json_type_null) && !layer_scale)
            cfg_refuse(why, len, "%s ls_init_value %s (open_clip layer scale: each residual "
                                 "branch scaled by the ls_1/ls_2 gamma tensors), which clipcl "
                                 "does not implement", tower, js(val));
        return 1;
    }
    if (strcmp(key, "mlp_ratio") == 0) {
        double r = cfg_is_num(val) ? json_object_get_double(val) : 4.0;
        if (fabs(r - 4.0) > 1e-9 && (mlp_width == 0 || mlp_width == 4 * width))
            cfg_refuse(why, len, "%s mlp_ratio %s (open_clip: MLP hidden width int(width * "
                                 "mlp_ratio) instead of 4 x width), which clipcl does not "
                                 "implement", tower, js(val));
        return 1;
    }
    if (strcmp(key, "act_kwargs") == 0) {
        int plain = act == CLIP_ACT_GELU || act == CLIP_ACT_QUICKGELU;
        if (val && !json_object_is_type(val, json_type_null) &&
            !(json_object_is_type(val, json_type_object) && json_object_object_length(val) == 0) &&
            plain)
            cfg_refuse(why, len, "%s act_kwargs %s (arguments of open_clip's activation, e.g. "
                                 "tanh-approximated GELU), which clipcl does not implement",
                       tower, js(val));
        return 1;
    }
    return 0;
}

static void check_vision(clip_vision_cfg *v, struct json_object *vc)
{
    char *why = v->unsupported;
    size_t len = sizeof v->unsupported;
    if (!vc || !json_object_is_type(vc, json_type_object))
        return;
    json_object_object_foreach(vc, key, val) {
        if (in(key, HARMLESS_VISION, sizeof HARMLESS_VISION / sizeof HARMLESS_VISION[0]) ||
            check_common(key, val, v->layer_scale, v->mlp_width, v->width, v->act, why, len,
                         "vision_cfg"))
            continue;
        const char *s = val && json_object_is_type(val, json_type_string) ? json_object_get_string(val)
                                                                         : "";
        if (strcmp(key, "timm_model_name") == 0) {
            continue; /* clip_config_refuse_other_towers */
        } else if (strcmp(key, "pool_type") == 0) {
            if (strcmp(s, "tok") != 0 && !(strcmp(s, "avg") == 0 && v->pool == CLIP_VISION_POOL_AVG))
                cfg_refuse(why, len, "vision_cfg pool_type %s (open_clip: 'avg' is the mean of "
                                     "the patch tokens, 'none' no pooling), which clipcl does not "
                                     "implement", js(val));
        } else if (strcmp(key, "final_ln_after_pool") == 0) {
            if (truthy(val) && !v->final_ln_after_pool)
                cfg_refuse(why, len, "vision_cfg final_ln_after_pool: true (open_clip: ln_post "
                                     "after pooling), which clipcl does not implement");
        } else if (strcmp(key, "no_ln_pre") == 0) {
            if (truthy(val) && !v->no_ln_pre)
                cfg_refuse(why, len, "vision_cfg no_ln_pre: true (open_clip: no LayerNorm before "
                                     "the blocks), which clipcl does not implement");
        } else if (strcmp(key, "attentional_pool") == 0) {
            if (truthy(val) && !v->attn_pool_queries)
                cfg_refuse(why, len, "vision_cfg attentional_pool: true (open_clip: an attention "
                                     "pooler with learned queries instead of the class token), "
                                     "which clipcl does not implement");
        } else if (strcmp(key, "pos_embed_type") == 0) {
            if (strcmp(s, "learnable") != 0)
                cfg_refuse(why, len, "vision_cfg pos_embed_type %s (open_clip: a fixed 2-D "
                                     "sin-cos positional embedding), which clipcl does not "
                                     "implement", js(val));
        } else {
            cfg_refuse(why, len, "vision_cfg key '%s' (%s) is not an open_clip option clipcl "
                                 "knows: it may change the math, so the image tower is refused",
                       key, js(val));
        }
    }
}

static void check_text(clip_text_cfg *t, struct json_object *tc)
{
    char *why = t->unsupported;
    size_t len = sizeof t->unsupported;
    if (!tc || !json_object_is_type(tc, json_type_object))
        return;
    json_object_object_foreach(tc, key, val) {
        if (in(key, HARMLESS_TEXT, sizeof HARMLESS_TEXT / sizeof HARMLESS_TEXT[0]) ||
            check_common(key, val, t->layer_scale, t->mlp_width, t->width, t->act, why, len,
                         "text_cfg"))
            continue;
        if (strcmp(key, "hf_model_name") == 0 || strcmp(key, "embed_cls") == 0) {
            continue; /* clip_config_refuse_other_towers */
        } else {
            cfg_refuse(why, len, "text_cfg key '%s' (%s) is not an open_clip option clipcl knows: "
                                 "it may change the math, so the text tower is refused",
                       key, js(val));
        }
    }
}

void clip_config_refuse_other_towers(clip_config *c, struct json_object *mc)
{
    static const char coca[] = "multimodal_cfg: a CoCa model (open_clip: an image-text decoder "
                               "beside the towers, attentional pooling and a text class token), "
                               "which clipcl does not implement";
    if (cfg_get(mc, "multimodal_cfg")) {
        cfg_refuse(c->vision.unsupported, sizeof c->vision.unsupported, "%s", coca);
        cfg_refuse(c->text.unsupported, sizeof c->text.unsupported, "%s", coca);
    }
    struct json_object *vc = cfg_get(mc, "vision_cfg"), *tc = cfg_get(mc, "text_cfg");
    struct json_object *timm = cfg_get(vc, "timm_model_name"), *hf = cfg_get(tc, "hf_model_name");
    /* these say more than a tensor that stopped inference: they replace it */
    /* a SigLIP trunk in the weights with a name clipcl knows: built by
     * models/clip_siglip.c (clip_siglip_apply_timm checks the rest) */
    int siglip = timm && c->vision.map_head &&
                 clip_siglip_timm_known(json_object_get_string(timm));
    if (timm && json_object_is_type(timm, json_type_string) && json_object_get_string(timm)[0] &&
        !siglip)
        snprintf(c->vision.unsupported, sizeof c->vision.unsupported, "vision_cfg timm_model_name "
                 "\"%s\" (a timm image tower: ConvNeXt, EVA, ...; of SigLIP's ViTs clipcl knows the "
                 "vit_*_siglip_* models of open_clip's SigLIP configs), which clipcl does not "
                 "implement", json_object_get_string(timm));
    if (hf && json_object_is_type(hf, json_type_string) && json_object_get_string(hf)[0])
        snprintf(c->text.unsupported, sizeof c->text.unsupported, "text_cfg hf_model_name \"%s\" "
                 "(a Hugging Face transformer as the text tower), which clipcl does not implement",
                 json_object_get_string(hf));
    if (truthy(cfg_get(tc, "embed_cls")))
        cfg_refuse(c->text.unsupported, sizeof c->text.unsupported, "text_cfg embed_cls: true "
                   "(open_clip: a class token appended to the text, CoCa), which clipcl does not "
                   "implement");
}

int clip_config_check_open_clip_keys(clip_config *c, const char *path, struct json_object *mc,
                                     int mc_is_root)
{
    json_object_object_foreach(mc, key, val) {
        if (in(key, HARMLESS_TOP, sizeof HARMLESS_TOP / sizeof HARMLESS_TOP[0]))
            continue;
        if (mc_is_root && strcmp(key, "preprocess_cfg") == 0)
            continue;
        if (strcmp(key, "multimodal_cfg") == 0)
            continue; /* clip_config_refuse_other_towers */
        return cc_fail(CC_ERR_UNSUPPORTED, "clip config '%s': model key '%s' (%s) is not an "
                                           "open_clip option clipcl knows: it may change the "
                                           "math, so the model is refused", path, key, js(val));
    }
    check_vision(&c->vision, cfg_get(mc, "vision_cfg"));
    check_text(&c->text, cfg_get(mc, "text_cfg"));
    return CC_OK;
}
