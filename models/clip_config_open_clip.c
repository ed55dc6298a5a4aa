/* open_clip model configs (`model_cfg` of open_clip_config.json, or the bare
 * model_configs/NAME.json) applied to the config inferred from the weights:
 * sizes checked, heads / activation / eps and the text tower's options
 * (CLIPTextCfg in open_clip's model.py) read. Absent fields take open_clip's
 * defaults (quick_gelu false, head_width 64, text heads 8). */
#include "models/clip_config_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/tok_files.h"
#include "runtime/fs.h"
#include "runtime/status.h"

static int apply_vision_sizes(clip_config *c, const char *path, struct json_object *vc)
{
    clip_vision_cfg *v = &c->vision;
    int rc;
    if (v->unsupported[0])
        return CC_OK; /* nothing was inferred to check against */
    /* timm's SigLIP trunks take image sizes the patch does not divide
     * (ViT-SO400M-14-SigLIP-384: 27 patches of 14 on 384 px, the last 6 px
     * unused): the config's size stands when it gives the weights' grid. */
    struct json_object *is = cfg_get(vc, "image_size");
    if (is && json_object_is_type(is, json_type_array) && json_object_array_length(is) > 0)
        is = json_object_array_get_idx(is, 0);
    if (v->map_head && cfg_is_num(is) && v->patch > 0 && json_object_get_int(is) > v->resolution &&
        json_object_get_int(is) / v->patch == v->resolution / v->patch)
        v->resolution = json_object_get_int(is);
    if ((rc = cfg_check(path, "width", vc, v->width)) ||
        (rc = cfg_check(path, "image_size", vc, v->resolution)))
        return rc;
    int hw = cfg_int_or(vc, "head_width", 64);
    if (hw < 1)
        return cc_fail(CC_ERR_INVALID, "clip config '%s': head_width %d", path, hw);
    if (v->is_vit) {
        if ((rc = cfg_check(path, "layers", vc, v->layers)) ||
            (rc = cfg_check(path, "patch_size", vc, v->patch)))
            return rc;
        v->heads = v->width / hw;
    } else {
        struct json_object *ls = cfg_get(vc, "layers");
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
    return cfg_heads_ok(path, "vision", v->width * (v->is_vit ? 1 : 32), v->heads);
}

/* norm_kwargs {"eps": x}: LayerNorm's eps; any other argument is refused. */
static void apply_norm_kwargs(struct json_object *o, float *eps, char *why, size_t len,
                              const char *tower)
{
    struct json_object *nk = cfg_get(o, "norm_kwargs");
    if (!nk || json_object_is_type(nk, json_type_null))
        return;
    if (!json_object_is_type(nk, json_type_object)) {
        cfg_refuse(why, len, "%s norm_kwargs %s: expected an object such as {\"eps\": 1e-6}",
                   tower, json_object_to_json_string(nk));
        return;
    }
    json_object_object_foreach(nk, key, val) {
        if (strcmp(key, "eps") == 0 && cfg_is_num(val) && json_object_get_double(val) > 0)
            *eps = (float)json_object_get_double(val);
        else
            cfg_refuse(why, len, "%s norm_kwargs '%s': %s (an argument of open_clip's LayerNorm "
                                 "other than eps), which clipcl does not implement",
                       tower, key, json_object_to_json_string(val));
    }
}

static const char *str_or(struct json_object *o, const char *key, const char *dflt)
{
    struct json_object *v = cfg_get(o, key);
    return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : dflt;
}

static int bool_of(struct json_object *o, const char *key, int dflt)
{
    struct json_object *v = cfg_get(o, key);
    return v && !json_object_is_type(v, json_type_null) ? json_object_get_boolean(v) : dflt;
}

/* CLIPTextCfg's options for open_clip's TextTransformer. */
/* tokenizer_kwargs {"clean": "lower"}: open_clip's default cleaning, CLIP's. */
static int default_cleaning(struct json_object *tk)
{
    if (!tk || !json_object_is_type(tk, json_type_object) || json_object_object_length(tk) != 1)
        return 0;
    struct json_object *v = cfg_get(tk, "clean");
    return v && json_object_is_type(v, json_type_string) &&
           strcmp(json_object_get_string(v), "lower") == 0;
}

/* clipcl's checkpoints name a learned vocabulary "CLIPTokenizer" so that
 * open_clip's local-dir loader reads it (io/tok_files.h): when the files
 * beside the config are that CLIP BPE vocabulary, clipcl's tokenizer is the
 * model's. */
static int learned_clip_bpe(const char *path, const char *hf_tok)
{
    if (strcmp(hf_tok, TOK_HF_TOKENIZER_NAME) != 0)
        return 0;
    char *dir = rt_path_dir(path);
    int yes = dir && tok_dir_is_clip_bpe(dir);
    free(dir);
    return yes;
}

static void apply_text_options(clip_config *c, const char *path, struct json_object *tc)
{
    clip_text_cfg *t = &c->text;
    char *why = t->unsupported;
    size_t len = sizeof t->unsupported;
    const char *pool = str_or(tc, "pool_type", "argmax");
    if (strcmp(pool, "argmax") == 0)
        t->pool = CLIP_TEXT_POOL_ARGMAX;
    else if (strcmp(pool, "first") == 0)
        t->pool = CLIP_TEXT_POOL_FIRST;
    else if (strcmp(pool, "last") == 0)
        t->pool = CLIP_TEXT_POOL_LAST;
    else if (strcmp(pool, "eos") == 0)
        t->pool = CLIP_TEXT_POOL_EOS;
    else
        cfg_refuse(why, len, "text_cfg pool_type \"%s\" (open_clip: %s), which clipcl does not "
                             "implement", pool, strcmp(pool, "none") == 0 ? "no pooling, every "
                             "token's features" : "not one of argmax, first, last, eos");
    t->eos_id = cfg_int_or(tc, "eos_id", 2);
    t->no_causal_mask = bool_of(tc, "no_causal_mask", 0);
    if (cfg_get(tc, "proj_bias"))
        t->proj_bias = bool_of(tc, "proj_bias", 0);
    const char *proj = str_or(tc, "proj_type", "linear");
    if (strcmp(proj, "none") == 0)
        t->no_proj = 1;
    else if (strcmp(proj, "linear") != 0)
        cfg_refuse(why, len, "text_cfg proj_type \"%s\" (open_clip: 'linear' or 'none'), which "
                             "clipcl does not implement", proj);
    apply_norm_kwargs(tc, &t->eps, why, len, "text_cfg");
    /* Another tokenizer than CLIP's BPE (open_clip's get_tokenizer: an HF
     * tokenizer, or SimpleTokenizer with other arguments such as
     * {"clean": "canonicalize"}): the tower still embeds token ids.
     * tokenizer_mode only applies to an HF tokenizer. */
    const char *hf_tok = str_or(tc, "hf_tokenizer_name", NULL);
    struct json_object *tk = cfg_get(tc, "tokenizer_kwargs");
    if (default_cleaning(tk))
        tk = NULL;
    if (hf_tok && hf_tok[0] && !(tk == NULL && learned_clip_bpe(path, hf_tok)))
        snprintf(t->tokenizer, sizeof t->tokenizer, "%s", hf_tok);
    else if (tk && json_object_is_type(tk, json_type_object) && json_object_object_length(tk) > 0)
        snprintf(t->tokenizer, sizeof t->tokenizer, "open_clip SimpleTokenizer with "
                 "tokenizer_kwargs %s", json_object_to_json_string_ext(tk, JSON_C_TO_STRING_PLAIN));
}

int clip_config_apply_open_clip(clip_config *c, const char *path, struct json_object *mc,
                                int mc_is_root)
{
    struct json_object *vc = cfg_get(mc, "vision_cfg"), *tc = cfg_get(mc, "text_cfg");
    struct json_object *qg = cfg_get(mc, "quick_gelu");
    clip_act act = qg && json_object_get_boolean(qg) ? CLIP_ACT_QUICKGELU : CLIP_ACT_GELU;
    c->vision.act = c->text.act = act;
    c->vision.eps = c->text.eps = 1e-5f;
    clip_config_refuse_other_towers(c, mc);
    int rc;
    if ((rc = cfg_check(path, "embed_dim", mc, c->embed_dim)) ||
        (rc = apply_vision_sizes(c, path, vc)))
        return rc;
    apply_norm_kwargs(vc, &c->vision.eps, c->vision.unsupported, sizeof c->vision.unsupported,
                      "vision_cfg");
    if ((rc = clip_siglip_apply_timm(c, path, vc)))
        return rc;
    clip_text_cfg *t = &c->text;
    if (!t->unsupported[0]) {
        if ((rc = cfg_check(path, "width", tc, t->width)) ||
            (rc = cfg_check(path, "layers", tc, t->layers)) ||
            (rc = cfg_check(path, "context_length", tc, t->context)) ||
            (rc = cfg_check(path, "vocab_size", tc, t->vocab)))
            return rc;
        t->heads = cfg_int_or(tc, "heads", 8);
        if ((rc = cfg_heads_ok(path, "text", t->width, t->heads)))
            return rc;
        apply_text_options(c, path, tc);
        if (t->no_proj && t->width != c->embed_dim)
            return cc_fail(CC_ERR_SHAPE, "clip config '%s': text_cfg proj_type \"none\" gives "
                                         "features of the text width %d, but embed_dim is %d",
                           path, t->width, c->embed_dim);
    }
    /* The graph options of both towers (layer scale, MLP ratio, vision
     * pooling, ...) are read here, before the key check, which refuses an
     * option whose field is still at OpenAI's default. */
    if ((rc = clip_config_apply_tower_options(c, path, vc, t->unsupported[0] ? NULL : tc)))
        return rc;
    return clip_config_check_open_clip_keys(c, path, mc, mc_is_root);
}
