/* Helpers shared by the config-file readers (models/clip_config_json.c,
 * clip_config_open_clip.c, clip_config_hf.c); not a public contract. */
#ifndef CLIPCL_MODELS_CLIP_CONFIG_INTERNAL_H
#define CLIPCL_MODELS_CLIP_CONFIG_INTERNAL_H

#include <json-c/json.h>

#include "models/clip.h"

struct json_object *cfg_get(struct json_object *o, const char *key);
int cfg_is_num(struct json_object *v);
/* An optional integer field checked against the value the weights imply. */
int cfg_check(const char *path, const char *field, struct json_object *o, int from_weights);
int cfg_int_or(struct json_object *o, const char *field, int dflt);
int cfg_heads_ok(const char *path, const char *what, int width, int heads);
/* 1 + the largest N among tensor names "<prefix>N.<...>"; 0 when none (gaps
 * are left to the graph builder, which names the first missing tensor). */
int cfg_count_indexed(const clip_wmap *m, const char *prefix);
/* The tensor key, checked to have ndim dims (else an error saying it was
 * needed to infer `what`); shape parts are the caller's to read. */
int cfg_need_tensor(const clip_wmap *m, const char *key, int ndim, const char *what,
                    const clip_weight **out);
/* Sets a tower's unsupported reason once (the first reason is kept). */
void cfg_refuse(char *why, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

int clip_config_apply_open_clip(clip_config *c, const char *path, struct json_object *mc,
                                int mc_is_root);
int clip_config_apply_hf(clip_config *c, const char *path, struct json_object *root);
/* Marks the towers open_clip builds from another architecture (timm_model_name,
 * hf_model_name, embed_cls, CoCa's multimodal_cfg) unsupported, before any
 * size is checked: their tensors are not CLIP's. */
void clip_config_refuse_other_towers(clip_config *c, struct json_object *mc);
/* open_clip's model config keys: each understood, harmless for inference, or
 * refused by name (the tower's unsupported reason, or an error for the
 * model). Runs after every option has been parsed into c. */
int clip_config_check_open_clip_keys(clip_config *c, const char *path, struct json_object *mc,
                                     int mc_is_root);

/* SigLIP (models/clip_config_siglip.c). */
int clip_siglip_in_weights(const clip_wmap *m, int hf);
int clip_siglip_timm_known(const char *timm_model_name);
int clip_siglip_infer_vision(const clip_wmap *m, int hf, clip_config *c);
void clip_siglip_infer_text(const clip_wmap *m, clip_config *c);
void clip_siglip_defaults(clip_config *c);
int clip_siglip_apply_timm(clip_config *c, const char *path, struct json_object *vision_cfg);
int clip_siglip_apply_hf(clip_config *c, const char *path, struct json_object *root);

#endif
