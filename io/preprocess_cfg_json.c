/* Preprocessing settings from a model's config files (io/preprocess_cfg.h):
 * open_clip's `preprocess_cfg` object and Hugging Face's
 * preprocessor_config.json. A value the reference would use differently
 * from what clipcl computes is refused with the key and the value named;
 * keys the reference itself ignores are ignored. */
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "io/preprocess_cfg.h"
#include "runtime/status.h"

/* mean / std: three numbers, or one number for all channels (open_clip
 * expands a scalar the same way). */
static int read_triple(const char *path, const char *key, struct json_object *v, float out[3])
{
    if (json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int)) {
        out[0] = out[1] = out[2] = (float)json_object_get_double(v);
        return CC_OK;
    }
    if (!json_object_is_type(v, json_type_array) || json_object_array_length(v) != 3)
        return cc_fail(CC_ERR_UNSUPPORTED, "%s: %s must be 3 numbers (one per RGB channel)", path,
                       key);
    for (size_t i = 0; i < 3; i++) {
        struct json_object *e = json_object_array_get_idx(v, i);
        if (!json_object_is_type(e, json_type_double) && !json_object_is_type(e, json_type_int))
            return cc_fail(CC_ERR_INVALID, "%s: %s[%zu] is not a number", path, key, i);
        out[i] = (float)json_object_get_double(e);
    }
    return CC_OK;
}

static int check_std(const char *path, const char *key, const float s[3])
{
    for (int i = 0; i < 3; i++)
        if (!(s[i] != 0.0f))
            return cc_fail(CC_ERR_INVALID, "%s: %s[%d] is %g: a standard deviation cannot be 0",
                           path, key, i, (double)s[i]);
    return CC_OK;
}

static int is_null(struct json_object *v) { return v == NULL || json_object_is_type(v, json_type_null); }

int img_prep_from_open_clip(img_prep *p, int size, const char *path, struct json_object *cfg)
{
    img_prep_default(p, size);
    if (is_null(cfg))
        return CC_OK;
    if (!json_object_is_type(cfg, json_type_object))
        return cc_fail(CC_ERR_INVALID, "%s: preprocess_cfg is not an object", path);
    snprintf(p->source, sizeof p->source, "preprocess_cfg of %s", path);
    struct json_object *v;
    int rc = CC_OK;
    /* `size` is not read: open_clip replaces it with the vision tower's
     * image_size before building the transform. */
    if (json_object_object_get_ex(cfg, "mode", &v) && !is_null(v) &&
        strcmp(json_object_get_string(v), "RGB") != 0)
        return cc_fail(CC_ERR_UNSUPPORTED, "%s: preprocess_cfg.mode '%s': open_clip and clipcl "
                       "only feed RGB", path, json_object_get_string(v));
    if (json_object_object_get_ex(cfg, "mean", &v) && !is_null(v) &&
        (rc = read_triple(path, "preprocess_cfg.mean", v, p->mean)) != CC_OK)
        return rc;
    if (json_object_object_get_ex(cfg, "std", &v) && !is_null(v) &&
        ((rc = read_triple(path, "preprocess_cfg.std", v, p->std)) != CC_OK ||
         (rc = check_std(path, "preprocess_cfg.std", p->std)) != CC_OK))
        return rc;
    if (json_object_object_get_ex(cfg, "interpolation", &v) && !is_null(v)) {
        const char *s = json_object_get_string(v);
        if (strcmp(s, "bilinear") == 0)
            p->filter = IMG_FILTER_BILINEAR;
        else if (strcmp(s, "bicubic") == 0 || strcmp(s, "random") == 0)
            p->filter = IMG_FILTER_BICUBIC; /* open_clip evaluates "random" as bicubic */
        else
            return cc_fail(CC_ERR_UNSUPPORTED, "%s: preprocess_cfg.interpolation '%s': open_clip "
                           "takes bicubic, bilinear or random", path, s);
    }
    if (json_object_object_get_ex(cfg, "resize_mode", &v) && !is_null(v)) {
        const char *s = json_object_get_string(v);
        if (strcmp(s, "shortest") == 0)
            p->resize_mode = IMG_RESIZE_SHORTEST;
        else if (strcmp(s, "longest") == 0)
            p->resize_mode = IMG_RESIZE_LONGEST;
        else if (strcmp(s, "squash") == 0)
            p->resize_mode = IMG_RESIZE_SQUASH;
        else
            return cc_fail(CC_ERR_UNSUPPORTED, "%s: preprocess_cfg.resize_mode '%s': open_clip "
                           "takes shortest, longest or squash", path, s);
        p->center_crop = p->resize_mode != IMG_RESIZE_SQUASH;
    }
    if (json_object_object_get_ex(cfg, "fill_color", &v) && !is_null(v)) {
        if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0 ||
            json_object_get_int64(v) > 255)
            return cc_fail(CC_ERR_UNSUPPORTED, "%s: preprocess_cfg.fill_color %s: expected an "
                           "integer 0 to 255 (one grey level for every band)", path,
                           json_object_to_json_string(v));
        p->fill = (int)json_object_get_int64(v);
    }
    return CC_OK;
}

static int read_bool(const char *path, struct json_object *o, const char *key, int *out)
{
    struct json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || is_null(v))
        return CC_OK;
    if (!json_object_is_type(v, json_type_boolean))
        return cc_fail(CC_ERR_INVALID, "%s: %s is not true or false", path, key);
    *out = json_object_get_boolean(v);
    return CC_OK;
}

static int read_dim(const char *path, const char *key, struct json_object *d, const char *sub,
                    int *out)
{
    struct json_object *v;
    if (!json_object_object_get_ex(d, sub, &v) || is_null(v))
        return CC_OK;
    if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 1 ||
        json_object_get_int64(v) > 16384)
        return cc_fail(CC_ERR_INVALID, "%s: %s.%s is not a size in pixels", path, key, sub);
    *out = (int)json_object_get_int64(v);
    return CC_OK;
}

/* `size`: {"shortest_edge": N} or {"height": H, "width": W} (an integer is
 * the legacy form of shortest_edge). */
static int hf_size(img_prep *p, const char *path, struct json_object *v)
{
    p->resize = p->resize_h = p->resize_w = 0;
    if (json_object_is_type(v, json_type_int)) {
        p->resize = (int)json_object_get_int64(v);
        return p->resize >= 1 ? CC_OK : cc_fail(CC_ERR_INVALID, "%s: size %d", path, p->resize);
    }
    if (!json_object_is_type(v, json_type_object))
        return cc_fail(CC_ERR_INVALID, "%s: size is neither a number nor an object", path);
    json_object_object_foreach(v, k, e) {
        (void)e;
        if (strcmp(k, "shortest_edge") != 0 && strcmp(k, "height") != 0 && strcmp(k, "width") != 0)
            return cc_fail(CC_ERR_UNSUPPORTED, "%s: size.%s: clipcl resizes by shortest_edge or "
                           "by height and width only", path, k);
    }
    int rc = read_dim(path, "size", v, "shortest_edge", &p->resize);
    if (rc == CC_OK)
        rc = read_dim(path, "size", v, "height", &p->resize_h);
    if (rc == CC_OK)
        rc = read_dim(path, "size", v, "width", &p->resize_w);
    if (rc != CC_OK)
        return rc;
    if (p->resize && !p->resize_h && !p->resize_w)
        p->resize_mode = IMG_RESIZE_SHORTEST;
    else if (!p->resize && p->resize_h && p->resize_w)
        p->resize_mode = IMG_RESIZE_SQUASH;
    else
        return cc_fail(CC_ERR_UNSUPPORTED, "%s: size %s: expected {\"shortest_edge\": N} or "
                       "{\"height\": H, \"width\": W}", path, json_object_to_json_string(v));
    return CC_OK;
}

static int hf_apply(img_prep *p, const char *path, struct json_object *o)
{
    struct json_object *v;
    int rc = CC_OK, siglip = 0;
    if (json_object_object_get_ex(o, "image_processor_type", &v) && !is_null(v)) {
        const char *t = json_object_get_string(v);
        /* SiglipImageProcessor (and its Pil/Fast variants): squash to
         * size {height, width}, bicubic, mean = std = 0.5, no crop */
        siglip = strncmp(t, "SiglipImageProcessor", 20) == 0;
        if (strncmp(t, "CLIPImageProcessor", 18) != 0 && strcmp(t, "CLIPFeatureExtractor") != 0 &&
            !siglip)
            return cc_fail(CC_ERR_UNSUPPORTED, "%s: image_processor_type '%s': clipcl implements "
                           "the transforms of CLIPImageProcessor and SiglipImageProcessor only",
                           path, t);
    }
    int do_resize = 1, do_crop = !siglip, do_rescale = 1, do_norm = 1, do_rgb = 1, do_pad = 0;
    if ((rc = read_bool(path, o, "do_resize", &do_resize)) || (rc = read_bool(path, o,
        "do_center_crop", &do_crop)) || (rc = read_bool(path, o, "do_rescale", &do_rescale)) ||
        (rc = read_bool(path, o, "do_normalize", &do_norm)) || (rc = read_bool(path, o,
        "do_convert_rgb", &do_rgb)) || (rc = read_bool(path, o, "do_pad", &do_pad)))
        return rc;
    if (!do_resize || !do_rescale || !do_rgb || do_pad)
        return cc_fail(CC_ERR_UNSUPPORTED, "%s: %s: clipcl always resizes, rescales and converts "
                       "to RGB, and never pads", path, !do_resize ? "do_resize false" :
                       !do_rescale ? "do_rescale false" : !do_rgb ? "do_convert_rgb false" :
                       "do_pad true");
    p->center_crop = do_crop;
    p->normalize = do_norm;
    p->resize = 224; /* CLIPImageProcessor's class defaults */
    if (siglip) {     /* SiglipImageProcessor's */
        p->resize = 0;
        p->resize_h = p->resize_w = 224;
        p->resize_mode = IMG_RESIZE_SQUASH;
        for (int c = 0; c < 3; c++)
            p->mean[c] = p->std[c] = 0.5f;
    }
    if (json_object_object_get_ex(o, "size", &v) && !is_null(v) && (rc = hf_size(p, path, v)))
        return rc;
    if (siglip && (p->resize_mode != IMG_RESIZE_SQUASH || p->resize_h != p->size ||
                   p->resize_w != p->size))
        return cc_fail(CC_ERR_UNSUPPORTED, "%s: SiglipImageProcessor size %dx%d: the model takes "
                       "%dx%d images (and SigLIP does not crop)", path, p->resize_h, p->resize_w,
                       p->size, p->size);
    if (json_object_object_get_ex(o, "crop_size", &v) && !is_null(v)) {
        int ch = 0, cw = 0;
        if (json_object_is_type(v, json_type_int))
            ch = cw = (int)json_object_get_int64(v);
        else if (json_object_is_type(v, json_type_object) &&
                 !(rc = read_dim(path, "crop_size", v, "height", &ch)))
            rc = read_dim(path, "crop_size", v, "width", &cw);
        if (rc)
            return rc;
        if (do_crop && (ch != p->size || cw != p->size))
            return cc_fail(CC_ERR_UNSUPPORTED, "%s: crop_size %s: the model takes %dx%d images",
                           path, json_object_to_json_string(v), p->size, p->size);
    } else if (do_crop && p->size != 224) {
        return cc_fail(CC_ERR_UNSUPPORTED, "%s: no crop_size (CLIPImageProcessor's default is "
                       "224x224) for a model that takes %dx%d images", path, p->size, p->size);
    }
    if (json_object_object_get_ex(o, "resample", &v) && !is_null(v)) {
        int r = json_object_get_int(v);
        if (!json_object_is_type(v, json_type_int) || (r != 2 && r != 3))
            return cc_fail(CC_ERR_UNSUPPORTED, "%s: resample %s: clipcl implements 2 (bilinear) "
                           "and 3 (bicubic)", path, json_object_to_json_string(v));
        p->filter = r == 2 ? IMG_FILTER_BILINEAR : IMG_FILTER_BICUBIC;
    }
    if (json_object_object_get_ex(o, "rescale_factor", &v) && !is_null(v)) {
        p->rescale = json_object_get_double(v);
        if (!(p->rescale > 0.0))
            return cc_fail(CC_ERR_INVALID, "%s: rescale_factor %g", path, p->rescale);
    }
    if (json_object_object_get_ex(o, "image_mean", &v) && !is_null(v) &&
        (rc = read_triple(path, "image_mean", v, p->mean)))
        return rc;
    if (json_object_object_get_ex(o, "image_std", &v) && !is_null(v) &&
        ((rc = read_triple(path, "image_std", v, p->std)) ||
         (rc = check_std(path, "image_std", p->std))))
        return rc;
    return CC_OK;
}

int img_prep_from_hf_json(img_prep *p, int size, const char *path, struct json_object *o)
{
    img_prep_default(p, size);
    p->style = IMG_PREP_HF;
    snprintf(p->source, sizeof p->source, "%s", path);
    if (!json_object_is_type(o, json_type_object))
        return cc_fail(CC_ERR_INVALID, "%s: expected a JSON object", path);
    return hf_apply(p, path, o);
}

int img_prep_from_hf_file(img_prep *p, int size, const char *path)
{
    struct json_object *o = json_object_from_file(path);
    if (!o) {
        img_prep_default(p, size);
        return cc_fail(CC_ERR_INVALID, "%s: not readable JSON (%s)", path,
                       json_util_get_last_err() ? json_util_get_last_err() : "?");
    }
    int rc = img_prep_from_hf_json(p, size, path, o);
    json_object_put(o);
    return rc;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

int img_prep_for_model(img_prep *p, int size, const char *config_path)
{
    img_prep_default(p, size);
    if (!config_path || !config_path[0])
        return CC_OK;
    if (ends_with(config_path, "open_clip_config.json")) {
        struct json_object *o = json_object_from_file(config_path), *v = NULL;
        if (!o)
            return cc_fail(CC_ERR_INVALID, "%s: not readable JSON", config_path);
        json_object_object_get_ex(o, "preprocess_cfg", &v);
        int rc = img_prep_from_open_clip(p, size, config_path, v);
        json_object_put(o);
        return rc;
    }
    /* A Hugging Face model: its image processor's settings sit beside config.json. */
    char hf[1200];
    const char *slash = strrchr(config_path, '/');
    int dir_len = slash ? (int)(slash - config_path) : 1;
    snprintf(hf, sizeof hf, "%.*s/preprocessor_config.json", dir_len, slash ? config_path : ".");
    FILE *f = fopen(hf, "rb");
    if (!f)
        return CC_OK;
    fclose(f);
    return img_prep_from_hf_file(p, size, hf);
}
