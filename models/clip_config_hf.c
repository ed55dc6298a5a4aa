/* Hugging Face `config.json` (transformers' CLIPConfig: text_config,
 * vision_config) applied to the config inferred from the weights. Absent
 * fields take transformers' defaults (quick_gelu, text heads 8, vision heads
 * 12, eps 1e-5, eos_token_id 49407). Keys that change the math and that
 * clipcl does not implement refuse their tower by name; the many generic
 * PretrainedConfig keys (dropout, initializer_*, token ids, ...) do not
 * change inference. */
#include "models/clip_config_internal.h"

#include <stdio.h>
#include <string.h>

#include "runtime/status.h"

static int act_of(const char *path, struct json_object *o, clip_act *act, char *why, size_t len,
                  const char *tower)
{
    struct json_object *v = cfg_get(o, "hidden_act");
    const char *s = v ? json_object_get_string(v) : "quick_gelu";
    if (strcmp(s, "quick_gelu") == 0)
        *act = CLIP_ACT_QUICKGELU;
    else if (strcmp(s, "gelu") == 0)
        *act = CLIP_ACT_GELU;
    else if (strcmp(s, "gelu_new") == 0 || strcmp(s, "gelu_pytorch_tanh") == 0 ||
             strcmp(s, "gelu_fast") == 0) /* three spellings of the tanh approximation */
        *act = CLIP_ACT_GELU_TANH;
    else if (strcmp(s, "relu") == 0 || strcmp(s, "silu") == 0)
        cfg_refuse(why, len, "%s hidden_act \"%s\" (transformers: an activation other than gelu "
                             "or quick_gelu), which clipcl does not implement", tower, s);
    else
        return cc_fail(CC_ERR_UNSUPPORTED, "clip config '%s': %s hidden_act \"%s\": expected "
                                           "\"quick_gelu\" or \"gelu\"", path, tower, s);
    return CC_OK;
}

/* The MLP width: transformers' intermediate_size. */
static void mlp_of(struct json_object *o, int width, int *mlp_width, char *why, size_t len,
                   const char *tower)
{
    /* The weights' fc1 rows set mlp_width (0: 4 x width); the config must agree. */
    int inter = cfg_int_or(o, "intermediate_size", 4 * width);
    int weights = *mlp_width ? *mlp_width : 4 * width;
    if (inter != weights)
        cfg_refuse(why, len, "%s intermediate_size %d (the MLP hidden width), but the weights' "
                             "fc1 has %d rows", tower, inter, weights);
}

static int apply_vision(clip_config *c, const char *path, struct json_object *vc)
{
    clip_vision_cfg *v = &c->vision;
    int rc;
    if (v->unsupported[0])
        return CC_OK;
    if (!v->is_vit)
        return cc_fail(CC_ERR_INVALID, "clip config '%s': a Hugging Face config describes a ViT, "
                                       "but the weights hold a ResNet image tower", path);
    if ((rc = cfg_check(path, "hidden_size", vc, v->width)) ||
        (rc = cfg_check(path, "num_hidden_layers", vc, v->layers)) ||
        (rc = cfg_check(path, "patch_size", vc, v->patch)) ||
        (rc = cfg_check(path, "image_size", vc, v->resolution)) ||
        (rc = act_of(path, vc, &v->act, v->unsupported, sizeof v->unsupported, "vision_config")))
        return rc;
    v->heads = cfg_int_or(vc, "num_attention_heads", 12);
    struct json_object *e = cfg_get(vc, "layer_norm_eps");
    v->eps = cfg_is_num(e) ? (float)json_object_get_double(e) : 1e-5f;
    mlp_of(vc, v->width, &v->mlp_width, v->unsupported, sizeof v->unsupported, "vision_config");
    if (cfg_int_or(vc, "num_channels", 3) != 3)
        cfg_refuse(v->unsupported, sizeof v->unsupported, "vision_config num_channels %d: clipcl "
                   "feeds RGB images (3 channels)", cfg_int_or(vc, "num_channels", 3));
    return cfg_heads_ok(path, "vision", v->width, v->heads);
}

static int apply_text(clip_config *c, const char *path, struct json_object *tc)
{
    clip_text_cfg *t = &c->text;
    int rc;
    if (t->unsupported[0])
        return CC_OK;
    if ((rc = cfg_check(path, "hidden_size", tc, t->width)) ||
        (rc = cfg_check(path, "num_hidden_layers", tc, t->layers)) ||
        (rc = cfg_check(path, "max_position_embeddings", tc, t->context)) ||
        (rc = cfg_check(path, "vocab_size", tc, t->vocab)) ||
        (rc = act_of(path, tc, &t->act, t->unsupported, sizeof t->unsupported, "text_config")))
        return rc;
    t->heads = cfg_int_or(tc, "num_attention_heads", 8);
    struct json_object *e = cfg_get(tc, "layer_norm_eps");
    t->eps = cfg_is_num(e) ? (float)json_object_get_double(e) : 1e-5f;
    mlp_of(tc, t->width, &t->mlp_width, t->unsupported, sizeof t->unsupported, "text_config");
    /* CLIPTextTransformer: eos_token_id 2 (configs before transformers
     * 4.31) pools at argmax(ids); any other id at its first position. */
    int eos = cfg_int_or(tc, "eos_token_id", 49407);
    t->pool = eos == 2 ? CLIP_TEXT_POOL_ARGMAX : CLIP_TEXT_POOL_EOS;
    t->eos_id = eos;
    return cfg_heads_ok(path, "text", t->width, t->heads);
}

int clip_config_apply_hf(clip_config *c, const char *path, struct json_object *root)
{
    const char *type = cfg_get(root, "model_type") ? json_object_get_string(cfg_get(root, "model_type"))
                                                   : "clip";
    if (strcmp(type, "siglip") == 0)
        return clip_siglip_apply_hf(c, path, root);
    if (strcmp(type, "clip") != 0)
        return cc_fail(CC_ERR_UNSUPPORTED, "clip config '%s': model_type \"%s\" (transformers %s): "
                                           "clipcl implements CLIPModel (model_type \"clip\") and SiglipModel (\"siglip\") only",
                       path, type, strcmp(type, "siglip2") == 0
                                       ? "Siglip2Model: variable-resolution NaFlex patches"
                                       : "another architecture");
    int rc;
    if ((rc = cfg_check(path, "projection_dim", root, c->embed_dim)) ||
        (rc = apply_vision(c, path, cfg_get(root, "vision_config"))) ||
        (rc = apply_text(c, path, cfg_get(root, "text_config"))))
        return rc;
    return CC_OK;
}
