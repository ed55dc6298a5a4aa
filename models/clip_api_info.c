/* clipcl_get_info: what a loaded checkpoint holds, as `clipcl info` prints it
 * (include/clipcl.h). */
#include <stdio.h>
#include <string.h>

#include "clipcl.h"
#include "io/safetensors.h"
#include "models/clip_api_internal.h"
#include "runtime/status.h"

static void dtype_summary(const char *weights, char *out, size_t len)
{
    st_file *f = NULL;
    snprintf(out, len, "unknown");
    if (!weights[0] || st_open(weights, &f) != CC_OK) {
        cc_clear_error();
        return;
    }
    size_t count[ST_DTYPE_COUNT] = {0};
    for (size_t i = 0; i < st_count(f); i++)
        count[st_at(f, i)->dtype]++;
    st_close(f);
    size_t used = 0;
    out[0] = '\0';
    for (int d = 0; d < ST_DTYPE_COUNT; d++) {
        if (!count[d])
            continue;
        int k = snprintf(out + used, len - used, "%s%s (%zu)", used ? ", " : "",
                         st_dtype_name((st_dtype)d), count[d]);
        if (k < 0 || (size_t)k >= len - used)
            break;
        used += (size_t)k;
    }
}

static int is_bn_stat(const char *name)
{
    size_t n = strlen(name);
    return (n >= 12 && strcmp(name + n - 12, "running_mean") == 0) ||
           (n >= 11 && strcmp(name + n - 11, "running_var") == 0);
}

int clipcl_get_info(const clipcl_model *cm, clipcl_info *o)
{
    if (!cm || !o)
        return cc_fail(CC_ERR_INVALID, "clipcl_get_info: NULL argument");
    memset(o, 0, sizeof *o);
    const clip_config *c = &cm->m->cfg;
    snprintf(o->naming, sizeof o->naming, "%s", clip_naming_name(c->naming));
    o->is_vit = c->vision.is_vit;
    o->image_size = c->vision.resolution;
    o->patch_size = c->vision.is_vit ? c->vision.patch : 0;
    o->vision_width = c->vision.width;
    o->vision_layers = c->vision.layers;
    o->vision_heads = c->vision.heads;
    if (!c->vision.is_vit)
        memcpy(o->rn_layers, c->vision.rn_layers, sizeof o->rn_layers);
    snprintf(o->vision_act, sizeof o->vision_act, "%s",
             c->vision.is_vit ? clip_act_name(c->vision.act) : "relu");
    o->vision_eps = c->vision.eps;
    o->text_width = c->text.width;
    o->text_layers = c->text.layers;
    o->text_heads = c->text.heads;
    o->context_length = c->text.context;
    o->vocab_size = c->text.vocab;
    snprintf(o->text_act, sizeof o->text_act, "%s", clip_act_name(c->text.act));
    o->text_eps = c->text.eps;
    o->embed_dim = c->embed_dim;
    o->logit_scale = cm->m->logit_scale;
    o->vision_map_head = c->vision.map_head;
    o->has_logit_bias = cm->m->has_logit_bias;
    o->logit_bias = cm->m->logit_bias;
    const clip_wmap *w = cm->m->w;
    /* What the built towers read (clipcl_load marked it) and the weights of a
     * tower clipcl cannot build: a tensor loaded with CLIPCL_LOAD_ALLOW_UNUSED
     * is no weight of the model. */
    for (int i = 0; i < w->n; i++) {
        int tower = clip_tensor_tower(c->naming, w->w[i].name);
        int refused = (tower == 0 && c->vision.unsupported[0]) ||
                      (tower == 1 && c->text.unsupported[0]);
        if (!w->w[i].used && !refused)
            continue;
        o->n_tensors++;
        if (!is_bn_stat(w->w[i].name))
            o->n_params += w->w[i].numel;
    }
    dtype_summary(cm->weights, o->dtype, sizeof o->dtype);
    snprintf(o->weights_path, sizeof o->weights_path, "%s", cm->weights);
    snprintf(o->config_path, sizeof o->config_path, "%s", cm->m->config_path);
    clip_api_lock(cm);
    snprintf(o->tokenizer_path, sizeof o->tokenizer_path, "%s", cm->vocab);
    clip_api_unlock(cm);
    snprintf(o->device, sizeof o->device, "%s", backend_name(cm->be));
    return CC_OK;
}
