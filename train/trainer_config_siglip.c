/* SigLIP's architecture for training from scratch: open_clip's ViT-*-SigLIP
 * configs (a timm vit_*_siglip_* trunk with the MAP head, no projection; the
 * CustomTextCLIP text tower without causal mask, pooling the last token,
 * projection with bias). open_clip passes timm no sizes, so a config states
 * the trunk's sizes in vision_cfg's own keys (width, layers, patch_size,
 * image_size; absent = the base model's 768, 12, 16, 224) and the trunk's
 * head width and activation come from the timm name, as when loading
 * (models/clip_config_siglip.c). To load such a scaled-down checkpoint in
 * open_clip, hand timm.create_model these sizes (the check in
 * tests/reference/check_train_siglip.py does). */
#include "train/trainer_internal.h"

#include <json-c/json.h>
#include <string.h>

#include "models/clip_config_internal.h"
#include "runtime/status.h"

static int is_true(struct json_object *v)
{
    return v && json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v);
}

static int is_string(struct json_object *v, const char *s)
{
    return v && json_object_is_type(v, json_type_string) &&
           strcmp(json_object_get_string(v), s) == 0;
}

/* The text norm_kwargs: {} or {"eps": number}. */
static int text_eps(const char *what, struct json_object *nk, float *eps)
{
    if (!nk || json_object_is_type(nk, json_type_null))
        return CC_OK;
    if (!json_object_is_type(nk, json_type_object))
        return cc_fail(CC_ERR_INVALID, "model config %s: text_cfg norm_kwargs must be an object",
                       what);
    json_object_object_foreach(nk, key, val) {
        if (strcmp(key, "eps") != 0 || !cfg_is_num(val) || json_object_get_double(val) <= 0)
            return cc_fail(CC_ERR_UNSUPPORTED, "model config %s: text_cfg norm_kwargs '%s': "
                           "training implements a positive LayerNorm eps only", what, key);
        *eps = (float)json_object_get_double(val);
    }
    return CC_OK;
}

int train_config_siglip(const char *what, struct json_object *mc, clip_config *cfg)
{
    struct json_object *vc = cfg_get(mc, "vision_cfg"), *tc = cfg_get(mc, "text_cfg");
    const char *name = json_object_get_string(cfg_get(vc, "timm_model_name"));
    if (!clip_siglip_timm_known(name))
        return cc_fail(CC_ERR_UNSUPPORTED, "model config %s: vision_cfg timm_model_name \"%s\": "
                       "training implements the timm trunks of open_clip's SigLIP configs "
                       "(vit_*_siglip_*) only", what, name);
    if (!cfg->vision.is_vit)
        return cc_fail(CC_ERR_INVALID, "model config %s: a timm trunk's 'layers' is one depth, "
                       "not a list", what);
    struct json_object *pre = cfg_get(vc, "timm_model_pretrained");
    if (is_true(pre))
        return cc_fail(CC_ERR_UNSUPPORTED, "model config %s: vision_cfg timm_model_pretrained "
                       "true: training starts from random weights", what);
    if (!is_true(cfg_get(mc, "custom_text")))
        return cc_fail(CC_ERR_UNSUPPORTED, "model config %s: a SigLIP config needs custom_text "
                       "true (open_clip's CustomTextCLIP, tensors 'text.*'), as open_clip's "
                       "ViT-*-SigLIP configs say", what);
    if (!is_true(cfg_get(tc, "no_causal_mask")) || !is_true(cfg_get(tc, "proj_bias")) ||
        !is_string(cfg_get(tc, "pool_type"), "last"))
        return cc_fail(CC_ERR_UNSUPPORTED, "model config %s: training implements SigLIP's text "
                       "tower only: text_cfg no_causal_mask true, proj_bias true and pool_type "
                       "\"last\", as open_clip's ViT-*-SigLIP configs say", what);
    struct json_object *bias = cfg_get(mc, "init_logit_bias");
    if (bias && !cfg_is_num(bias))
        return cc_fail(CC_ERR_INVALID, "model config %s: init_logit_bias must be a number", what);
    cfg->siglip = 1;
    cfg->vision.map_head = 1;
    cfg->text.no_causal_mask = 1;
    cfg->text.proj_bias = 1;
    cfg->text.pool = CLIP_TEXT_POOL_LAST;
    int rc = text_eps(what, cfg_get(tc, "norm_kwargs"), &cfg->text.eps);
    if (rc)
        return rc;
    if (cfg->embed_dim != cfg->vision.width)
        return cc_fail(CC_ERR_SHAPE, "model config %s: embed_dim %d, but a SigLIP trunk's "
                       "features are its %d-wide MAP-head rows (vision_cfg width)", what,
                       cfg->embed_dim, cfg->vision.width);
    /* heads from the timm name's head width, timm's activation and eps 1e-6;
     * timm_pool "map" and timm_proj "none" checked (refused: the reason) */
    if ((rc = clip_siglip_apply_timm(cfg, what, vc)))
        return rc;
    if (cfg->vision.unsupported[0])
        return cc_fail(CC_ERR_UNSUPPORTED, "model config %s: %s", what, cfg->vision.unsupported);
    return CC_OK;
}
