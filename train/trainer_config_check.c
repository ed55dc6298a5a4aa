/* What training implements of an open_clip model config: OpenAI's CLIP
 * architecture (ViT or ModifiedResNet image tower, CLIP's causal text tower
 * with argmax pooling and a [W, E] projection, CLIP's BPE tokenizer). Every
 * other option would train, and write into the checkpoint's config, a model
 * other than the one the config describes, so it is refused by name; an
 * option at its open_clip default is accepted. A config with a timm trunk is
 * SigLIP's architecture: its SigLIP keys are checked by train_config_siglip
 * (train/trainer_config_siglip.c). */
#include "train/trainer_internal.h"

#include <json-c/json.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/tok_files.h"
#include "runtime/status.h"

/* A key and the values training accepts for it: "*" any value, "size" one
 * of the sizes the config reader reads, else the JSON of open_clip's default
 * (null also accepted for it, and absent is always fine). */
typedef struct allowed {
    const char *key;
    const char *value;
} allowed;

static const allowed TOP[] = {
    {"embed_dim", "size"}, {"vision_cfg", "*"}, {"text_cfg", "*"}, {"quick_gelu", "*"},
    {"init_logit_scale", "*"}, {"init_logit_bias", "*"}, {"output_dict", "*"},
    {"cast_dtype", "*"}, {"custom_text", "false"}, {"nonscalar_logit_scale", "false"},
};

static const allowed VISION[] = {
    {"image_size", "size"}, {"layers", "size"}, {"width", "size"}, {"head_width", "size"},
    {"patch_size", "size"}, {"mlp_ratio", "4"}, {"ls_init_value", "null"},
    {"patch_dropout", "0"}, {"attentional_pool", "false"}, {"attn_pooler_queries", "*"},
    {"attn_pooler_heads", "*"}, {"no_ln_pre", "false"}, {"pos_embed_type", "\"learnable\""},
    {"final_ln_after_pool", "false"}, {"pool_type", "\"tok\""}, {"output_tokens", "*"},
    {"act_kwargs", "null"}, {"norm_kwargs", "null"}, {"block_type", "\"default\""},
    {"qk_norm", "false"}, {"scaled_cosine_attn", "false"}, {"scale_heads", "false"},
    {"scale_attn_inner", "false"}, {"scale_attn", "false"}, {"scale_fc", "false"},
    {"timm_model_name", "null"}, {"timm_model_pretrained", "*"}, {"timm_pool", "*"},
    {"timm_proj", "*"}, {"timm_proj_bias", "*"}, {"timm_drop", "*"}, {"timm_drop_path", "*"},
};

static const allowed TEXT[] = {
    {"context_length", "size"}, {"vocab_size", "size"}, {"width", "size"}, {"heads", "size"},
    {"layers", "size"}, {"mlp_ratio", "4"}, {"ls_init_value", "null"}, {"embed_cls", "false"},
    {"pad_id", "*"}, {"eos_id", "*"}, {"no_causal_mask", "false"}, {"final_ln_after_pool", "*"},
    {"pool_type", "\"argmax\""}, {"proj_bias", "false"}, {"proj_type", "\"linear\""},
    {"output_tokens", "*"}, {"act_kwargs", "null"}, {"norm_kwargs", "null"},
    {"block_type", "\"default\""}, {"qk_norm", "false"}, {"scaled_cosine_attn", "false"},
    {"scale_heads", "false"}, {"scale_attn_inner", "false"}, {"scale_attn", "false"},
    {"scale_fc", "false"}, {"hf_model_name", "null"}, {"hf_model_pretrained", "*"},
    {"hf_proj_type", "*"}, {"hf_pooler_type", "*"}, {"hf_tokenizer_name", "clip_bpe"},
    {"tokenizer_kwargs", "clip_bpe"}, {"tokenizer_mode", "null"},
};

/* What clipcl's checkpoints write for a learned vocabulary so that open_clip's
 * local-dir loader finds it (io/tok_files.h): still CLIP's BPE and cleaning. */
static int clip_bpe_value(const char *key, struct json_object *v)
{
    if (!v || json_object_is_type(v, json_type_null))
        return 1;
    if (strcmp(key, "hf_tokenizer_name") == 0)
        return json_object_is_type(v, json_type_string) &&
               strcmp(json_object_get_string(v), TOK_HF_TOKENIZER_NAME) == 0;
    if (!json_object_is_type(v, json_type_object))
        return 0;
    json_object_object_foreach(v, k, x) {
        if (strcmp(k, "clean") != 0 || !json_object_is_type(x, json_type_string) ||
            strcmp(json_object_get_string(x), "lower") != 0) /* open_clip's default cleaning */
            return 0;
    }
    return 1;
}

static int same_value(struct json_object *v, const char *dflt)
{
    if (!v || json_object_is_type(v, json_type_null))
        return 1;
    if (strcmp(dflt, "false") == 0)
        return !json_object_get_boolean(v);
    if (strcmp(dflt, "null") == 0) /* an empty object means no arguments */
        return json_object_is_type(v, json_type_object) && json_object_object_length(v) == 0;
    if (dflt[0] == '"')
        return json_object_is_type(v, json_type_string) &&
               strncmp(json_object_get_string(v), dflt + 1, strlen(dflt) - 2) == 0 &&
               strlen(json_object_get_string(v)) == strlen(dflt) - 2;
    /* a number: 4 and 4.0 are the same */
    return (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)) &&
           fabs(json_object_get_double(v) - strtod(dflt, NULL)) < 1e-12;
}

/* Keys whose SigLIP values (open_clip's ViT-*-SigLIP configs) a SigLIP
 * config may hold: train/trainer_config.c:train_config_siglip checks them. */
static const char *const SIGLIP_KEYS[] = {
    "init_logit_bias", "custom_text", "timm_model_name", "timm_model_pretrained", "timm_pool",
    "timm_proj", "no_causal_mask", "proj_bias", "pool_type", "norm_kwargs",
};

static int siglip_key(const char *key)
{
    for (size_t i = 0; i < sizeof SIGLIP_KEYS / sizeof SIGLIP_KEYS[0]; i++)
        if (strcmp(key, SIGLIP_KEYS[i]) == 0)
            return 1;
    return 0;
}

static int check_object(const char *what, const char *section, struct json_object *o,
                        const allowed *list, size_t n, int siglip)
{
    if (!o || !json_object_is_type(o, json_type_object))
        return CC_OK;
    json_object_object_foreach(o, key, val) {
        if (siglip && siglip_key(key))
            continue;
        size_t i = 0;
        while (i < n && strcmp(list[i].key, key) != 0)
            i++;
        if (i == n)
            return cc_fail(CC_ERR_UNSUPPORTED, "model config %s: %s key '%s' is not an open_clip "
                           "option training knows", what, section, key);
        const char *v = list[i].value;
        if (strcmp(v, "*") == 0 || strcmp(v, "size") == 0 ||
            (strcmp(v, "clip_bpe") == 0 ? clip_bpe_value(key, val) : same_value(val, v)))
            continue;
        return cc_fail(CC_ERR_UNSUPPORTED, "model config %s: %s %s %s: training implements "
                       "OpenAI's CLIP architecture only (open_clip's default is %s)", what,
                       section, key, json_object_to_json_string_ext(val, JSON_C_TO_STRING_PLAIN),
                       v);
    }
    return CC_OK;
}

static struct json_object *member(struct json_object *o, const char *key)
{
    struct json_object *v = NULL;
    return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

int train_config_is_siglip(struct json_object *mc)
{
    struct json_object *name = member(member(mc, "vision_cfg"), "timm_model_name");
    return name && json_object_is_type(name, json_type_string);
}

int train_config_check_options(const char *what, struct json_object *mc)
{
    int rc, sl = train_config_is_siglip(mc);
    if ((rc = check_object(what, "model", mc, TOP, sizeof TOP / sizeof TOP[0], sl)) ||
        (rc = check_object(what, "vision_cfg", member(mc, "vision_cfg"), VISION,
                           sizeof VISION / sizeof VISION[0], sl)))
        return rc;
    return check_object(what, "text_cfg", member(mc, "text_cfg"), TEXT,
                        sizeof TEXT / sizeof TEXT[0], sl);
}
