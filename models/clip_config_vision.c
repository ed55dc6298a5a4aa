/* open_clip's tower options (CLIPVisionCfg / CLIPTextCfg in open_clip's
 * model.py), read from the weights and from an open_clip config: layer scale,
 * the MLP width, the vision tower's pooling and LayerNorm placement, the
 * attentional pooler and the GELU variant.
 *
 * The weights tell what their tensors show (ls_1.gamma, c_fc rows, a missing
 * ln_pre, attn_pool.query); the config tells the rest (pool_type,
 * final_ln_after_pool, the pooler's heads, act_kwargs) and must agree with
 * the weights where both speak, so a config from another model is an error
 * rather than a silently different graph. open_clip builds a ModifiedResNet
 * without any of these options, so for a ResNet image tower the vision keys
 * are ignored, as open_clip ignores them. */
#include "models/clip_internal.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "runtime/status.h"

/* open_clip's defaults (CLIPVisionCfg). */
#define OC_MLP_RATIO 4.0
#define OC_ATTN_POOL_QUERIES 256
#define OC_ATTN_POOL_HEADS 8

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

/* ---- from the weights ---- */

/* MLP hidden width (rows of the first MLP Linear) and layer scale of one
 * block; the builder then requires the same of every block. */
static void infer_block(const clip_wmap *m, const char *prefix, int hf, int width, int *mlp_width,
                        int *layer_scale)
{
    char key[160];
    snprintf(key, sizeof key, "%s%s", prefix, hf ? "mlp.fc1.weight" : "mlp.c_fc.weight");
    const clip_weight *w = clip_wmap_find(m, key);
    /* 0 keeps the all-zero config of OpenAI's models (ratio 4). */
    *mlp_width = w && w->ndim == 2 && w->shape[0] != 4 * (int64_t)width ? (int)w->shape[0] : 0;
    snprintf(key, sizeof key, "%sls_1.gamma", prefix);
    *layer_scale = !hf && clip_wmap_find(m, key) != NULL;
}

int clip_config_infer_tower_options(const clip_wmap *m, clip_config *c)
{
    if (!m || !c)
        return cc_fail(CC_ERR_INVALID, "clip_config_infer_tower_options: NULL argument");
    int hf = c->naming == CLIP_NAMING_HF;
    clip_vision_cfg *v = &c->vision;
    if (v->is_vit && !v->map_head) { /* SigLIP's trunk: models/clip_config_siglip.c */
        infer_block(m, hf ? "vision_model.encoder.layers.0." : "visual.transformer.resblocks.0.", hf,
                    v->width, &v->mlp_width, &v->layer_scale);
        v->no_ln_pre = !hf && !clip_wmap_find(m, "visual.ln_pre.weight");
        const clip_weight *q = hf ? NULL : clip_wmap_find(m, "visual.attn_pool.query");
        if (q && q->ndim == 2) {
            v->attn_pool_queries = (int)q->shape[0];
            v->attn_pool_heads = OC_ATTN_POOL_HEADS; /* not in the weights: a config may say */
        }
    }
    char tb[64]; /* open_clip's CustomTextCLIP keeps the text tower under "text." */
    snprintf(tb, sizeof tb, "%stransformer.resblocks.0.", clip_text_prefix(m, c->naming));
    infer_block(m, hf ? "text_model.encoder.layers.0." : tb, hf, c->text.width,
                &c->text.mlp_width, &c->text.layer_scale);
    return CC_OK;
}

/* ---- from an open_clip config ---- */

static int bool_field(const char *path, const char *tower, struct json_object *o,
                      const char *field, int *out)
{
    struct json_object *v = get(o, field);
    if (!v) {
        *out = 0;
        return CC_OK;
    }
    if (!json_object_is_type(v, json_type_boolean) && !json_object_is_type(v, json_type_int))
        return cc_fail(CC_ERR_INVALID, "clip config '%s': %s %s is %s: expected true or false", path,
                       tower, field, json_object_to_json_string(v));
    *out = json_object_get_boolean(v);
    return CC_OK;
}

static void set_unsupported(char *dst, size_t len, const char *path, const char *tower,
                            const char *what)
{
    if (!dst[0]) /* the first reason found is the one reported */
        snprintf(dst, len, "clip config '%s': %s %s; clipcl does not implement it", path, tower,
                 what);
}

/* ls_init_value: open_clip builds ls_1 / ls_2 (LayerScale, a learned gain
 * per channel on each residual branch) when it is not null. */
static int apply_layer_scale(const char *path, const char *tower, const char *prefix,
                             struct json_object *o, int from_weights)
{
    struct json_object *v = get(o, "ls_init_value");
    if (v && !is_num(v))
        return cc_fail(CC_ERR_INVALID, "clip config '%s': %s ls_init_value is %s: expected a number "
                       "or null", path, tower, json_object_to_json_string(v));
    int cfg = v != NULL;
    if (cfg != from_weights)
        return cc_fail(CC_ERR_SHAPE, "clip config '%s': %s ls_init_value is %s, but the weights %s "
                       "layer-scale tensors ('%sls_1.gamma')", path, tower, cfg ? "set" : "not set",
                       from_weights ? "hold" : "have no", prefix);
    return CC_OK;
}

/* mlp_ratio: open_clip's hidden width is int(width * mlp_ratio), e.g.
 * ViT-bigG-14's 4.9231 x 1664 = 8192. */
static int apply_mlp_ratio(const char *path, const char *tower, struct json_object *o, int width,
                           int *mlp_width)
{
    struct json_object *v = get(o, "mlp_ratio");
    if (v && !is_num(v))
        return cc_fail(CC_ERR_INVALID, "clip config '%s': %s mlp_ratio is %s: expected a number",
                       path, tower, json_object_to_json_string(v));
    double ratio = v ? json_object_get_double(v) : OC_MLP_RATIO;
    double hidden = (double)width * ratio; /* Python's int() truncates the same double */
    if (!(hidden >= 1.0 && hidden < 1e9))
        return cc_fail(CC_ERR_INVALID, "clip config '%s': %s mlp_ratio %g gives MLP width %g", path,
                       tower, ratio, hidden);
    int cfg = (int)hidden, weights = *mlp_width ? *mlp_width : 4 * width;
    if (cfg != weights)
        return cc_fail(CC_ERR_SHAPE, "clip config '%s': %s mlp_ratio %g gives MLP width int(%d * %g) "
                       "= %d, but the weights have %d", path, tower, ratio, width, ratio, cfg,
                       weights);
    *mlp_width = cfg == 4 * width ? 0 : cfg;
    return CC_OK;
}

/* act_kwargs: keyword arguments of the activation; open_clip passes them to
 * nn.GELU (or to QuickGELU, which takes none). Only "approximate" exists. */
static int apply_act_kwargs(const char *path, const char *tower, struct json_object *o,
                            clip_act *act, char *unsupported, size_t len)
{
    struct json_object *v = get(o, "act_kwargs");
    if (!v || json_object_is_type(v, json_type_null))
        return CC_OK;
    if (!json_object_is_type(v, json_type_object))
        return cc_fail(CC_ERR_INVALID, "clip config '%s': %s act_kwargs is %s: expected an object",
                       path, tower, json_object_to_json_string(v));
    json_object_object_foreach(v, key, val) {
        const char *s = json_object_is_type(val, json_type_string) ? json_object_get_string(val) : "";
        if (strcmp(key, "approximate") == 0 && *act != CLIP_ACT_QUICKGELU &&
            (strcmp(s, "tanh") == 0 || strcmp(s, "none") == 0)) {
            *act = strcmp(s, "tanh") == 0 ? CLIP_ACT_GELU_TANH : CLIP_ACT_GELU;
            continue;
        }
        char what[200];
        snprintf(what, sizeof what, "act_kwargs {\"%.40s\": %.60s} (keyword arguments of the %s "
                 "activation)", key, json_object_to_json_string(val),
                 *act == CLIP_ACT_QUICKGELU ? "QuickGELU" : "GELU");
        set_unsupported(unsupported, len, path, tower, what);
    }
    return CC_OK;
}

static int apply_pool(const char *path, struct json_object *vc, clip_vision_cfg *v)
{
    struct json_object *pt = get(vc, "pool_type");
    const char *s = pt && json_object_is_type(pt, json_type_string) ? json_object_get_string(pt)
                                                                    : pt ? "" : "tok";
    if (strcmp(s, "tok") == 0)
        v->pool = CLIP_VISION_POOL_TOK;
    else if (strcmp(s, "avg") == 0)
        v->pool = CLIP_VISION_POOL_AVG;
    else if (strcmp(s, "none") == 0)
        set_unsupported(v->unsupported, sizeof v->unsupported, path, "vision",
                        "pool_type \"none\" (every token returned unpooled: no image embedding)");
    else
        return cc_fail(CC_ERR_INVALID, "clip config '%s': vision pool_type %s: expected \"tok\", "
                       "\"avg\" or \"none\"", path, json_object_to_json_string(pt));
    return bool_field(path, "vision", vc, "final_ln_after_pool", &v->final_ln_after_pool);
}

/* attentional_pool: true is open_clip's CoCa pooler (attn_pool: learned
 * queries cross-attending to the tokens, then ln_post and pool_type); the
 * strings "parallel" / "cascade" add a second, contrastive pooler. */
static int apply_attn_pool(const char *path, struct json_object *vc, clip_vision_cfg *v,
                           int64_t embed_dim)
{
    struct json_object *ap = get(vc, "attentional_pool");
    int from_weights = v->attn_pool_queries;
    if (ap && json_object_is_type(ap, json_type_string)) {
        char what[160];
        snprintf(what, sizeof what, "attentional_pool \"%.40s\" (two attention poolers, tokens "
                 "and a contrastive one)", json_object_get_string(ap));
        set_unsupported(v->unsupported, sizeof v->unsupported, path, "vision", what);
        return CC_OK;
    }
    int on = 0, rc;
    if ((rc = bool_field(path, "vision", vc, "attentional_pool", &on)))
        return rc;
    if (!on != !from_weights)
        return cc_fail(CC_ERR_SHAPE, "clip config '%s': vision attentional_pool is %s, but the "
                       "weights %s 'visual.attn_pool.query'", path, on ? "true" : "false",
                       from_weights ? "hold" : "have no");
    if (!on)
        return CC_OK;
    struct json_object *q = get(vc, "attn_pooler_queries"), *h = get(vc, "attn_pooler_heads");
    if ((q && !json_object_is_type(q, json_type_int)) || (h && !json_object_is_type(h, json_type_int)))
        return cc_fail(CC_ERR_INVALID, "clip config '%s': vision attn_pooler_queries / "
                       "attn_pooler_heads must be integers", path);
    int queries = q ? json_object_get_int(q) : OC_ATTN_POOL_QUERIES;
    int heads = h ? json_object_get_int(h) : OC_ATTN_POOL_HEADS;
    if (queries != from_weights)
        return cc_fail(CC_ERR_SHAPE, "clip config '%s': vision attn_pooler_queries = %d, but the "
                       "weights have %d rows in 'visual.attn_pool.query'", path, queries,
                       from_weights);
    if (heads < 1 || embed_dim % heads != 0)
        return cc_fail(CC_ERR_SHAPE, "clip config '%s': vision attn_pooler_heads = %d does not "
                       "divide embed_dim %lld", path, heads, (long long)embed_dim);
    v->attn_pool_heads = heads;
    return CC_OK;
}

static int apply_vision(clip_config *c, const char *path, struct json_object *vc)
{
    clip_vision_cfg *v = &c->vision;
    if (!v->is_vit)
        return CC_OK;
    int rc, no_ln_pre = 0;
    if ((rc = apply_layer_scale(path, "vision", "visual.transformer.resblocks.N.", vc,
                                v->layer_scale)) ||
        (rc = apply_mlp_ratio(path, "vision", vc, v->width, &v->mlp_width)) ||
        (rc = bool_field(path, "vision", vc, "no_ln_pre", &no_ln_pre)))
        return rc;
    if (no_ln_pre != v->no_ln_pre)
        return cc_fail(CC_ERR_SHAPE, "clip config '%s': vision no_ln_pre is %s, but the weights %s "
                       "'visual.ln_pre.weight'", path, no_ln_pre ? "true" : "false",
                       v->no_ln_pre ? "have no" : "hold");
    if ((rc = apply_pool(path, vc, v)) || (rc = apply_attn_pool(path, vc, v, c->embed_dim)))
        return rc;
    return apply_act_kwargs(path, "vision", vc, &v->act, v->unsupported, sizeof v->unsupported);
}

static int apply_text(clip_config *c, const char *path, struct json_object *tc)
{
    clip_text_cfg *t = &c->text;
    int rc;
    if ((rc = apply_layer_scale(path, "text", "transformer.resblocks.N.", tc, t->layer_scale)) ||
        (rc = apply_mlp_ratio(path, "text", tc, t->width, &t->mlp_width)))
        return rc;
    return apply_act_kwargs(path, "text", tc, &t->act, t->unsupported, sizeof t->unsupported);
}

int clip_config_apply_tower_options(clip_config *c, const char *path, struct json_object *vision_cfg,
                                    struct json_object *text_cfg)
{
    if (!c || !path)
        return cc_fail(CC_ERR_INVALID, "clip_config_apply_tower_options: NULL argument");
    if (c->naming != CLIP_NAMING_OPENAI)
        return CC_OK; /* Hugging Face's CLIPModel has none of these options */
    /* A tower refused already (another architecture) has no options to read. */
    /* SigLIP's timm trunk takes none of them: its timm model name decides. */
    int rc = c->vision.unsupported[0] || c->vision.map_head ? CC_OK
                                                            : apply_vision(c, path, vision_cfg);
    if (rc || c->text.unsupported[0] || c->text.width == 0)
        return rc;
    return apply_text(c, path, text_cfg);
}

const char *clip_config_untrainable_option(const clip_config *c)
{
    const clip_vision_cfg *v = &c->vision;
    const clip_text_cfg *t = &c->text;
    if (v->layer_scale || t->layer_scale)
        return "layer scale (ls_init_value)";
    if (v->mlp_width || t->mlp_width)
        return "mlp_ratio other than 4";
    if (v->pool != CLIP_VISION_POOL_TOK || v->final_ln_after_pool)
        return "vision pool_type / final_ln_after_pool";
    if (v->no_ln_pre)
        return "no_ln_pre";
    if (v->attn_pool_queries)
        return "attentional_pool";
    if (v->act == CLIP_ACT_GELU_TANH || t->act == CLIP_ACT_GELU_TANH)
        return "act_kwargs approximate \"tanh\"";
    return NULL;
}
