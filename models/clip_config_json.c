/* Config files next to the weights: open_clip's `open_clip_config.json`
 * ({"model_cfg": {...}} or the bare model config) and Hugging Face's
 * `config.json` ({"text_config": {...}, "vision_config": {...}}).
 *
 * The weights fix every size; the file supplies what shapes cannot tell
 * (heads, activation, LayerNorm eps) and any size it states is checked
 * against the weights, so a config from another model is an error instead of
 * a silently wrong graph. A field the file omits takes that library's
 * default (open_clip: quick_gelu false, text heads 8, head_width 64; HF:
 * quick_gelu, text heads 8, vision heads 12, eps 1e-5). */
#include "models/clip.h"

#include <json-c/json.h>
#include <string.h>

#include "runtime/status.h"

static struct json_object *get(struct json_object *o, const char *key)
{
    struct json_object *v = NULL;
    if (o && json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, key, &v))
        return v;
    return NULL;
}

static int is_num(struct json_object *v)
{
    return v && (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double));
}

/* Checks an optional integer field against the value the weights imply. */
static int check(const char *path, const char *field, struct json_object *o, int from_weights)
{
    struct json_object *v = get(o, field);
    if (!v)
        return CC_OK;
    if (json_object_is_type(v, json_type_array) && json_object_array_length(v) > 0)
        v = json_object_array_get_idx(v, 0); /* image_size may be [h, w] */
    if (!is_num(v))
        return cc_fail(CC_ERR_INVALID, "clip config '%s': field '%s' is not a number", path, field);
    int cfg = json_object_get_int(v);
    if (cfg != from_weights)
        return cc_fail(CC_ERR_SHAPE, "clip config '%s': %s = %d, but the weights imply %d", path,
                       field, cfg, from_weights);
    return CC_OK;
}

static int int_or(struct json_object *o, const char *field, int dflt)
{
    struct json_object *v = get(o, field);
    return is_num(v) ? json_object_get_int(v) : dflt;
}

static int act_of(const char *path, struct json_object *o, clip_act *act)
{
    struct json_object *v = get(o, "hidden_act");
    const char *s = v ? json_object_get_string(v) : "quick_gelu";
    if (strcmp(s, "quick_gelu") == 0)
        *act = CLIP_ACT_QUICKGELU;
    else if (strcmp(s, "gelu") == 0)
        *act = CLIP_ACT_GELU;
    else
        return cc_fail(CC_ERR_UNSUPPORTED, "clip config '%s': hidden_act \"%s\": expected "
                                           "\"quick_gelu\" or \"gelu\"", path, s);
    return CC_OK;
}

static int heads_ok(const char *path, const char *what, int width, int heads)
{
    if (heads < 1 || width % heads != 0)
        return cc_fail(CC_ERR_SHAPE, "clip config '%s': %s: %d heads do not divide width %d", path,
                       what, heads, width);
    return CC_OK;
}

static int apply_open_clip(clip_config *c, const char *path, struct json_object *mc)
{
    struct json_object *vc = get(mc, "vision_cfg"), *tc = get(mc, "text_cfg");
    struct json_object *qg = get(mc, "quick_gelu");
    clip_act act = qg && json_object_get_boolean(qg) ? CLIP_ACT_QUICKGELU : CLIP_ACT_GELU;
    c->vision.act = c->text.act = act;
    c->vision.eps = c->text.eps = 1e-5f;
    int rc;
    if ((rc = check(path, "embed_dim", mc, c->embed_dim)))
        return rc;
    clip_vision_cfg *v = &c->vision;
    if ((rc = check(path, "width", vc, v->width)) ||
        (rc = check(path, "image_size", vc, v->resolution)))
        return rc;
    int hw = int_or(vc, "head_width", 64);
    if (hw < 1)
        return cc_fail(CC_ERR_INVALID, "clip config '%s': head_width %d", path, hw);
    if (v->is_vit) {
        if ((rc = check(path, "layers", vc, v->layers)) ||
            (rc = check(path, "patch_size", vc, v->patch)))
            return rc;
        v->heads = v->width / hw;
    } else {
        struct json_object *ls = get(vc, "layers");
        if (ls && json_object_is_type(ls, json_type_array)) {
            for (int b = 0; b < 4 && b < (int)json_object_array_length(ls); b++) {
                int n = json_object_get_int(json_object_array_get_idx(ls, (size_t)b));
                if (n != v->rn_layers[b])
                    return cc_fail(CC_ERR_SHAPE, "clip config '%s': layers[%d] = %d, but the "
                                                 "weights have %d blocks in visual.layer%d",
                                   path, b, n, v->rn_layers[b], b + 1);
            }
        }
        v->heads = v->width * 32 / hw;
    }
    if ((rc = heads_ok(path, "vision", v->width * (v->is_vit ? 1 : 32), v->heads)))
        return rc;
    clip_text_cfg *t = &c->text;
    if ((rc = check(path, "width", tc, t->width)) || (rc = check(path, "layers", tc, t->layers)) ||
        (rc = check(path, "context_length", tc, t->context)) ||
        (rc = check(path, "vocab_size", tc, t->vocab)))
        return rc;
    t->heads = int_or(tc, "heads", 8);
    if ((rc = heads_ok(path, "text", t->width, t->heads)))
        return rc;
    return clip_config_apply_tower_options(c, path, vc, tc);
}

static int apply_hf(clip_config *c, const char *path, struct json_object *root)
{
    struct json_object *vc = get(root, "vision_config"), *tc = get(root, "text_config");
    int rc;
    if ((rc = check(path, "projection_dim", root, c->embed_dim)))
        return rc;
    clip_vision_cfg *v = &c->vision;
    if (!v->is_vit)
        return cc_fail(CC_ERR_INVALID, "clip config '%s': a Hugging Face config describes a ViT, "
                                       "but the weights hold a ResNet image tower", path);
    if ((rc = check(path, "hidden_size", vc, v->width)) ||
        (rc = check(path, "num_hidden_layers", vc, v->layers)) ||
        (rc = check(path, "patch_size", vc, v->patch)) ||
        (rc = check(path, "image_size", vc, v->resolution)) || (rc = act_of(path, vc, &v->act)))
        return rc;
    v->heads = int_or(vc, "num_attention_heads", 12);
    struct json_object *e = get(vc, "layer_norm_eps");
    v->eps = is_num(e) ? (float)json_object_get_double(e) : 1e-5f;
    if ((rc = heads_ok(path, "vision", v->width, v->heads)))
        return rc;
    clip_text_cfg *t = &c->text;
    if ((rc = check(path, "hidden_size", tc, t->width)) ||
        (rc = check(path, "num_hidden_layers", tc, t->layers)) ||
        (rc = check(path, "max_position_embeddings", tc, t->context)) ||
        (rc = check(path, "vocab_size", tc, t->vocab)) || (rc = act_of(path, tc, &t->act)))
        return rc;
    t->heads = int_or(tc, "num_attention_heads", 8);
    e = get(tc, "layer_norm_eps");
    t->eps = is_num(e) ? (float)json_object_get_double(e) : 1e-5f;
    return heads_ok(path, "text", t->width, t->heads);
}

int clip_config_apply_json(clip_config *c, const char *path)
{
    if (!c || !path)
        return cc_fail(CC_ERR_INVALID, "clip_config_apply_json: NULL argument");
    struct json_object *root = json_object_from_file(path);
    if (!root)
        return cc_fail(CC_ERR_IO, "clip config '%s': cannot read or parse JSON (%s)", path,
                       cc_line(json_util_get_last_err(), "unknown"));
    int rc;
    if (get(root, "text_config") || get(root, "vision_config")) {
        rc = apply_hf(c, path, root);
    } else {
        struct json_object *mc = get(root, "model_cfg");
        if (!mc)
            mc = root;
        if (!get(mc, "vision_cfg") && !get(mc, "text_cfg"))
            rc = cc_fail(CC_ERR_INVALID, "clip config '%s': expected 'model_cfg', 'vision_cfg'/"
                                         "'text_cfg' (open_clip) or 'text_config'/'vision_config' "
                                         "(Hugging Face)", path);
        else
            rc = apply_open_clip(c, path, mc);
    }
    json_object_put(root);
    return rc;
}
