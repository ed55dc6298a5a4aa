/* Config files next to the weights: open_clip's `open_clip_config.json`
 * ({"model_cfg": {...}} or the bare model config; models/clip_config_open_clip.c)
 * and Hugging Face's `config.json` ({"text_config": {...}, "vision_config":
 * {...}}; models/clip_config_hf.c).
 *
 * The weights fix every size; the file supplies what shapes cannot tell
 * (heads, activation, LayerNorm eps, the tower options) and any size it
 * states is checked against the weights, so a config from another model is
 * an error instead of a silently wrong graph. A key that changes the math
 * and that clipcl does not implement marks its tower unsupported, naming it
 * (docs/models.md, "Strict loading"). */
#include "models/clip_config_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "runtime/status.h"

struct json_object *cfg_get(struct json_object *o, const char *key)
{
    struct json_object *v = NULL;
    if (o && json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, key, &v))
        return v;
    return NULL;
}

int cfg_is_num(struct json_object *v)
{
    return v && (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double));
}

int cfg_check(const char *path, const char *field, struct json_object *o, int from_weights)
{
    struct json_object *v = cfg_get(o, field);
    if (!v)
        return CC_OK;
    if (json_object_is_type(v, json_type_array) && json_object_array_length(v) > 0)
        v = json_object_array_get_idx(v, 0); /* image_size may be [h, w] */
    if (!cfg_is_num(v))
        return cc_fail(CC_ERR_INVALID, "clip config '%s': field '%s' is not a number", path, field);
    int cfg = json_object_get_int(v);
    if (cfg != from_weights)
        return cc_fail(CC_ERR_SHAPE, "clip config '%s': %s = %d, but the weights imply %d", path,
                       field, cfg, from_weights);
    return CC_OK;
}

int cfg_int_or(struct json_object *o, const char *field, int dflt)
{
    struct json_object *v = cfg_get(o, field);
    return cfg_is_num(v) ? json_object_get_int(v) : dflt;
}

int cfg_heads_ok(const char *path, const char *what, int width, int heads)
{
    if (heads < 1 || width % heads != 0)
        return cc_fail(CC_ERR_SHAPE, "clip config '%s': %s: %d heads do not divide width %d", path,
                       what, heads, width);
    return CC_OK;
}

void cfg_refuse(char *why, size_t len, const char *fmt, ...)
{
    if (why[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, len, fmt, ap);
    va_end(ap);
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
    if (cfg_get(root, "text_config") || cfg_get(root, "vision_config") ||
        cfg_get(root, "model_type")) {
        rc = clip_config_apply_hf(c, path, root);
    } else {
        struct json_object *mc = cfg_get(root, "model_cfg");
        int is_root = !mc;
        if (!mc)
            mc = root;
        if (!cfg_get(mc, "vision_cfg") && !cfg_get(mc, "text_cfg"))
            rc = cc_fail(CC_ERR_INVALID, "clip config '%s': expected 'model_cfg', 'vision_cfg'/"
                                         "'text_cfg' (open_clip) or 'text_config'/'vision_config' "
                                         "(Hugging Face)", path);
        else
            rc = clip_config_apply_open_clip(c, path, mc, is_root);
    }
    json_object_put(root);
    return rc;
}
