/* open_clip model configs (model_configs/NAME.json, or the "model_cfg" of an
 * open_clip_config.json) read into a clip_config, without any weights: the
 * trainer builds the model from this alone. Defaults are open_clip's
 * CLIPVisionCfg / CLIPTextCfg ones, so a config may state only what differs. */
#include "train/trainer_internal.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/status.h"

static struct json_object *get(struct json_object *o, const char *key)
{
    struct json_object *v = NULL;
    if (o && json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, key, &v))
        return v;
    return NULL;
}

static int is_int(struct json_object *v)
{
    return v && json_object_is_type(v, json_type_int);
}

/* Upper bounds on a config's integers. A config is read from a file the user
 * may not have written (a checkpoint's open_clip_config.json); each bound is
 * far above any open_clip model and keeps every product and sum computed
 * from these fields (width * 32, the sum of four stage depths, patches per
 * side squared) inside an int. */
enum {
    /* ViT-bigG-14 has 48 layers, RN50x64's deepest stage 36. */
    CFG_MAX_LAYERS = 1024,
    /* widest open_clip tower: 1664 (ViT-bigG); x32 for a ResNet's features. */
    CFG_MAX_WIDTH = 65536,
    /* largest open_clip image_size: 448; patches per side squared fits. */
    CFG_MAX_IMAGE = 16384,
    /* text context (77 in CLIP, 256 in SigLIP) and vocabulary (250k in mSigLIP). */
    CFG_MAX_CONTEXT = 65536,
    CFG_MAX_VOCAB = 1 << 24,
};

/* An optional integer field in [1, max]; image_size may be [h, w] with h == w. */
static int get_int(const char *what, struct json_object *o, const char *field, int dflt, int max,
                   int *out)
{
    struct json_object *v = get(o, field);
    if (!v) {
        *out = dflt;
        return CC_OK;
    }
    if (json_object_is_type(v, json_type_array) && json_object_array_length(v) == 2) {
        struct json_object *a = json_object_array_get_idx(v, 0), *b = json_object_array_get_idx(v, 1);
        if (is_int(a) && is_int(b) && json_object_get_int(a) == json_object_get_int(b))
            v = a;
    }
    if (!is_int(v) || json_object_get_int64(v) < 1 || json_object_get_int64(v) > max)
        return cc_fail(CC_ERR_INVALID, "model config %s: '%s' must be an integer in [1, %d], "
                       "found %s", what, field, max, json_object_to_json_string(v));
    *out = json_object_get_int(v);
    return CC_OK;
}

static int vision_from_json(const char *what, struct json_object *vc, clip_vision_cfg *v)
{
    int rc, hw;
    struct json_object *layers = get(vc, "layers");
    v->is_vit = !(layers && json_object_is_type(layers, json_type_array));
    if ((rc = get_int(what, vc, "width", v->is_vit ? 768 : 64, CFG_MAX_WIDTH, &v->width)) ||
        (rc = get_int(what, vc, "image_size", 224, CFG_MAX_IMAGE, &v->resolution)) ||
        (rc = get_int(what, vc, "head_width", 64, CFG_MAX_WIDTH, &hw)))
        return rc;
    if (v->is_vit) {
        if ((rc = get_int(what, vc, "layers", 12, CFG_MAX_LAYERS, &v->layers)) ||
            (rc = get_int(what, vc, "patch_size", 16, CFG_MAX_IMAGE, &v->patch)))
            return rc;
        if (v->resolution % v->patch)
            return cc_fail(CC_ERR_SHAPE, "model config %s: image_size %d is not a multiple of "
                           "patch_size %d", what, v->resolution, v->patch);
        v->heads = v->width / hw;
        if (v->heads < 1 || v->width % hw)
            return cc_fail(CC_ERR_SHAPE, "model config %s: vision width %d is not a multiple of "
                           "head_width %d", what, v->width, hw);
        return CC_OK;
    }
    if (json_object_array_length(layers) != 4)
        return cc_fail(CC_ERR_INVALID, "model config %s: ResNet 'layers' must list 4 stages, found %s",
                       what, json_object_to_json_string(layers));
    v->layers = 0;
    for (int b = 0; b < 4; b++) {
        struct json_object *n = json_object_array_get_idx(layers, (size_t)b);
        /* Each depth bounded before it is added: four stages of at most
         * CFG_MAX_LAYERS cannot overflow the sum. */
        if (!is_int(n) || json_object_get_int64(n) < 1 || json_object_get_int64(n) > CFG_MAX_LAYERS)
            return cc_fail(CC_ERR_INVALID, "model config %s: layers[%d] must be an integer in "
                           "[1, %d], found %s", what, b, CFG_MAX_LAYERS,
                           json_object_to_json_string(n));
        v->rn_layers[b] = (int)json_object_get_int64(n);
        v->layers += v->rn_layers[b];
    }
    if (v->layers > CFG_MAX_LAYERS)
        return cc_fail(CC_ERR_INVALID, "model config %s: ResNet stage depths sum to %d, at most "
                       "%d allowed", what, v->layers, CFG_MAX_LAYERS);
    if (v->resolution % 32 || v->width % 2)
        return cc_fail(CC_ERR_SHAPE, "model config %s: a ResNet needs image_size a multiple of 32 "
                       "and an even width, found %d and %d", what, v->resolution, v->width);
    v->heads = v->width * 32 / hw;
    if (v->heads < 1 || (v->width * 32) % hw)
        return cc_fail(CC_ERR_SHAPE, "model config %s: ResNet features %d not a multiple of "
                       "head_width %d", what, v->width * 32, hw);
    v->patch = 0;
    return CC_OK;
}

static int from_object(struct json_object *root, const char *what, clip_config *cfg)
{
    struct json_object *mc = get(root, "model_cfg");
    if (!mc)
        mc = root;
    struct json_object *vc = get(mc, "vision_cfg"), *tc = get(mc, "text_cfg");
    if (!vc || !tc)
        return cc_fail(CC_ERR_INVALID, "model config %s: expected open_clip's 'vision_cfg' and "
                       "'text_cfg' objects (optionally inside 'model_cfg')", what);
    memset(cfg, 0, sizeof *cfg);
    cfg->naming = CLIP_NAMING_OPENAI;
    int rc = train_config_check_options(what, mc);
    if (rc)
        return rc;
    struct json_object *qg = get(mc, "quick_gelu");
    clip_act act = qg && json_object_get_boolean(qg) ? CLIP_ACT_QUICKGELU : CLIP_ACT_GELU;
    cfg->vision.act = cfg->text.act = act;
    cfg->vision.eps = cfg->text.eps = 1e-5f;
    if ((rc = get_int(what, mc, "embed_dim", 512, CFG_MAX_WIDTH, &cfg->embed_dim)) ||
        (rc = vision_from_json(what, vc, &cfg->vision)))
        return rc;
    clip_text_cfg *t = &cfg->text;
    if ((rc = get_int(what, tc, "context_length", 77, CFG_MAX_CONTEXT, &t->context)) ||
        (rc = get_int(what, tc, "vocab_size", 49408, CFG_MAX_VOCAB, &t->vocab)) ||
        (rc = get_int(what, tc, "width", 512, CFG_MAX_WIDTH, &t->width)) ||
        (rc = get_int(what, tc, "heads", 8, CFG_MAX_WIDTH, &t->heads)) ||
        (rc = get_int(what, tc, "layers", 12, CFG_MAX_LAYERS, &t->layers)))
        return rc;
    if (t->width % t->heads)
        return cc_fail(CC_ERR_SHAPE, "model config %s: text width %d not divisible by %d heads",
                       what, t->width, t->heads);
    if (t->context < 2)
        return cc_fail(CC_ERR_INVALID, "model config %s: context_length %d < 2", what, t->context);
    return train_config_is_siglip(mc) ? train_config_siglip(what, mc, cfg) : CC_OK;
}

int train_config_from_json_text(const char *text, const char *what, clip_config *cfg)
{
    if (!text || !cfg)
        return cc_fail(CC_ERR_INVALID, "train_config_from_json_text: NULL argument");
    struct json_tokener *tk = json_tokener_new();
    if (!tk)
        return cc_fail(CC_ERR_NOMEM, "model config %s: out of memory", what);
    struct json_object *root = json_tokener_parse_ex(tk, text, (int)strlen(text));
    enum json_tokener_error e = json_tokener_get_error(tk);
    json_tokener_free(tk);
    if (!root || e != json_tokener_success) {
        json_object_put(root);
        return cc_fail(CC_ERR_INVALID, "model config %s: not valid JSON (%s)", what,
                       json_tokener_error_desc(e));
    }
    int rc = from_object(root, what, cfg);
    json_object_put(root);
    return rc;
}

int train_config_model_text(const char *path, char **text)
{
    *text = NULL;
    struct json_object *root = json_object_from_file(path);
    if (!root)
        return cc_fail(CC_ERR_IO, "model config '%s': cannot read or parse JSON (%s)", path,
                       cc_line(json_util_get_last_err(), "unknown"));
    struct json_object *mc = get(root, "model_cfg");
    const char *s = json_object_to_json_string_ext(mc ? mc : root, JSON_C_TO_STRING_PLAIN);
    *text = s ? strdup(s) : NULL;
    json_object_put(root);
    return *text ? CC_OK : cc_fail(CC_ERR_NOMEM, "model config '%s': out of memory", path);
}

int train_config_read(const char *path, clip_config *cfg)
{
    char *text = NULL;
    int rc = train_config_model_text(path, &text);
    if (!rc) {
        char what[600];
        snprintf(what, sizeof what, "'%s'", path);
        rc = train_config_from_json_text(text, what, cfg);
    }
    free(text);
    return rc;
}

int train_config_add_siglip(char **text)
{
    struct json_object *o = json_tokener_parse(*text);
    if (!o || !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return cc_fail(CC_ERR_INVALID, "model config: not a JSON object");
    }
    /* open_clip builds logit_bias only when the config asks for it */
    if (!get(o, "init_logit_scale"))
        json_object_object_add(o, "init_logit_scale",
                               json_object_new_double(clip_loss_init_scale(CLIP_LOSS_SIGLIP)));
    if (!get(o, "init_logit_bias"))
        json_object_object_add(o, "init_logit_bias", json_object_new_double(clip_loss_init_bias()));
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    char *copy = s ? strdup(s) : NULL;
    json_object_put(o);
    if (!copy)
        return cc_fail(CC_ERR_NOMEM, "model config: out of memory");
    free(*text);
    *text = copy;
    return CC_OK;
}

int train_config_write_open_clip(const char *model_cfg_text, char **out)
{
    static const char pre[] = "{\"model_cfg\": ";
    static const char post[] =
        ", \"preprocess_cfg\": {\"mean\": [0.48145466, 0.4578275, 0.40821073], "
        "\"std\": [0.26862954, 0.26130258, 0.27577711]}}\n";
    size_t n = strlen(pre) + strlen(model_cfg_text) + strlen(post) + 1;
    *out = malloc(n);
    if (!*out)
        return cc_fail(CC_ERR_NOMEM, "open_clip_config.json: out of memory");
    snprintf(*out, n, "%s%s%s", pre, model_cfg_text, post);
    return CC_OK;
}
