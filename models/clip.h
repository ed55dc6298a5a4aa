/* CLIP as graphs: the ViT and ModifiedResNet image towers, the text tower and
 * the logits, built with the graph/ builders from an in-memory weight map.
 *
 * models/ does not read files itself except through clip_load.c (safetensors
 * + config JSON); everything else works on a clip_wmap, so tests and tools can
 * fill the map from anywhere. Both checkpoint namings are understood:
 * OpenAI/open_clip (`visual.*`, `transformer.resblocks.N.*`) and Hugging Face
 * CLIPModel (`vision_model.*`, `text_model.*`); the naming is detected from the
 * keys and the graphs read the tensors in place (packed in_proj rows are
 * addressed by offset, HF projections by a transposed matmul), so no weight is
 * copied or rearranged. See docs/models.md. */
#ifndef CLIPCL_MODELS_CLIP_H
#define CLIPCL_MODELS_CLIP_H

#include <stddef.h>
#include <stdint.h>

#include "graph/graph.h"
#include "io/preprocess_cfg.h"

/* ---- weight map: name -> f32 data + shape ---- */
#define CLIP_MAX_DIMS 8

typedef struct clip_weight {
    char *name;
    int ndim;                        /* 0 for a scalar */
    int64_t shape[CLIP_MAX_DIMS];
    int64_t numel;
    float *data;
    int owned;                       /* freed with the map */
    int used;                        /* read by a built graph (strict loading) */
} clip_weight;

typedef struct clip_wmap {
    clip_weight *w;
    int n, cap;
    /* The checkpoint's file mapping when weights (owned 0) point into it:
     * unmapped by clip_wmap_free through unmap. */
    void *map;
    size_t map_len;
    void (*unmap)(void *map, size_t len);
} clip_wmap;

clip_wmap *clip_wmap_new(void);
void clip_wmap_free(clip_wmap *m);
/* Adds name -> data (numel from shape). owned: the map frees data. A name
 * added twice is CC_ERR_INVALID. */
int clip_wmap_add(clip_wmap *m, const char *name, int ndim, const int64_t *shape, float *data,
                  int owned);
const clip_weight *clip_wmap_find(const clip_wmap *m, const char *name);
/* The host copy of [data, data + bytes) is no longer needed (it is on the
 * device): where it lies in the map's file mapping and was not written, its
 * pages are given back to the kernel (whole pages inside the range); a later
 * read faults them in from the file again, so nothing changes but the
 * resident memory. Anywhere else (owned or caller buffers): nothing. */
void clip_wmap_drop_pages(const clip_wmap *m, const void *data, size_t bytes);

/* ---- configuration ---- */
typedef enum clip_naming { CLIP_NAMING_OPENAI = 0, CLIP_NAMING_HF = 1 } clip_naming;
/* GELU_TANH: GELU's tanh approximation (open_clip act_kwargs {"approximate": "tanh"}). */
typedef enum clip_act { CLIP_ACT_QUICKGELU = 0, CLIP_ACT_GELU = 1, CLIP_ACT_GELU_TANH = 2 } clip_act;
/* How a tower turns its token rows into one feature row (open_clip pool_type). */
typedef enum clip_vision_pool { CLIP_VISION_POOL_TOK = 0, CLIP_VISION_POOL_AVG = 1 } clip_vision_pool;
typedef enum clip_text_pool {
    CLIP_TEXT_POOL_ARGMAX = 0, /* the row at argmax(ids): CLIP's end-of-text token */
    CLIP_TEXT_POOL_FIRST = 1,
    CLIP_TEXT_POOL_LAST = 2,
    CLIP_TEXT_POOL_EOS = 3,    /* the first row whose id is eos_id */
} clip_text_pool;

typedef struct clip_vision_cfg {
    int is_vit;
    int width;        /* ViT: token width; RN: stem width w (features 32w) */
    int layers;       /* ViT blocks; RN: sum of rn_layers */
    int rn_layers[4];
    int heads;        /* ViT blocks, or the RN attention pool */
    int patch;        /* ViT only */
    int resolution;
    clip_act act;     /* ViT MLP activation (the RN tower uses ReLU) */
    float eps;        /* LayerNorm; BatchNorm always 1e-5 */
    /* open_clip VisionTransformer options (docs/models.md); zero = OpenAI's. */
    int mlp_width;    /* MLP hidden width; 0 = 4 * width (mlp_ratio 4) */
    int layer_scale;  /* ls_1.gamma / ls_2.gamma scale each residual branch */
    clip_vision_pool pool;  /* token 0 or the mean of the patch tokens */
    int final_ln_after_pool;/* ln_post on the pooled row instead of before pooling */
    int no_ln_pre;    /* no ln_pre after the positional embedding */
    int attn_pool_queries, attn_pool_heads; /* attentional_pool; 0 = none */
    /* SigLIP's ViT (open_clip's timm trunk `visual.trunk.*`, transformers'
     * SiglipVisionTransformer): no class token, a patch embedding with bias,
     * the final LayerNorm on every token, then the MAP head (one learned
     * query attending to the tokens, out projection, x + MLP(LN(x))); the
     * features are the head's row (embed_dim = width). models/clip_siglip.c */
    int map_head;
    /* Non-empty: this tower cannot be built, and this says why (one line
     * naming the option or tensor and what it means in open_clip or
     * transformers). The other tower still works. */
    char unsupported[256];
} clip_vision_cfg;

typedef struct clip_text_cfg {
    int width, layers, heads, context, vocab;
    clip_act act;
    float eps;
    /* open_clip TextTransformer options (docs/models.md); zero = OpenAI's. */
    int mlp_width;    /* MLP hidden width; 0 = 4 * width */
    int layer_scale;  /* ls_1.gamma / ls_2.gamma */
    clip_text_pool pool;
    int eos_id;       /* CLIP_TEXT_POOL_EOS: the first position holding this id */
    int no_causal_mask;
    int proj_bias;    /* text_projection is a Linear with bias ([E, W] + [E]) */
    int no_proj;      /* proj_type "none": features are the pooled rows, E = width */
    char tokenizer[128]; /* hf_tokenizer_name: "" = CLIP BPE; else only token ids work */
    char unsupported[256]; /* as clip_vision_cfg.unsupported */
} clip_text_cfg;

typedef struct clip_config {
    clip_naming naming;
    int embed_dim;
    clip_vision_cfg vision;
    clip_text_cfg text;
    /* 1: a SigLIP architecture (models/clip_config_siglip.c): open_clip's
     * timm trunk under the OpenAI naming, transformers' SiglipModel (heads
     * `vision_model.head.*`, `text_model.head`) under the HF naming. */
    int siglip;
} clip_config;

/* Detects the naming and infers the architecture from tensor shapes the way
 * OpenAI's build_model does (heads = width/64, QuickGELU, eps 1e-5). */
int clip_config_infer(const clip_wmap *m, clip_config *cfg);
/* Applies an open_clip `open_clip_config.json` or HF `config.json` on top of
 * an inferred config: heads, activation and eps come from the file; sizes it
 * states must agree with the weights (else CC_ERR_SHAPE naming both). */
int clip_config_apply_json(clip_config *cfg, const char *path);
/* open_clip's tower options (models/clip_config_vision.c, docs/models.md).
 * From the weights alone: layer scale (ls_1.gamma present), the MLP width
 * (c_fc / fc1 rows), no_ln_pre (no ln_pre tensors) and the attentional
 * pooler's query count. From an open_clip config's vision_cfg / text_cfg
 * (either may be NULL): ls_init_value, mlp_ratio, pool_type,
 * final_ln_after_pool, no_ln_pre, attentional_pool (+ attn_pooler_queries /
 * attn_pooler_heads) and act_kwargs; what the weights also tell must agree
 * (else CC_ERR_SHAPE naming both), values clipcl does not implement fill the
 * tower's `unsupported`. */
struct json_object;
int clip_config_infer_tower_options(const clip_wmap *m, clip_config *cfg);
int clip_config_apply_tower_options(clip_config *c, const char *path,
                                    struct json_object *vision_cfg, struct json_object *text_cfg);
const char *clip_naming_name(clip_naming n);
const char *clip_act_name(clip_act a);

/* ---- towers ---- */
/* A host-filled input: data the IR cannot compute with its ops, supplied per
 * batch by clip_tower_bind (docs/models.md, "Workarounds"). */
typedef enum clip_host_kind {
    CLIP_HOST_ZEROS = 0,      /* [B, 1, W] zeros: class token = zeros + class_embedding */
    CLIP_HOST_EOT_ONEHOT = 1, /* [B, 1, T]: 1.0 at the pooled row of ids[b] (text_pool), else 0 */
} clip_host_kind;

#define CLIP_MAX_HOST 4

typedef struct clip_tower {
    graph *g;
    int batch;
    int input;            /* pixels [B,3,R,R] f32, or ids [B,T] i32 */
    int out;              /* features [B, embed_dim], projected, not normalised */
    int n_params, cap_params;
    int *param_t;         /* graph tensor id of each param */
    const float **param_data; /* points into the weight map (never owned) */
    int n_host;
    int host_t[CLIP_MAX_HOST];
    clip_host_kind host_kind[CLIP_MAX_HOST];
    float *host_buf[CLIP_MAX_HOST];
    int text_ctx;         /* T, for the one-hot */
    clip_text_pool text_pool; /* which row the one-hot selects */
    int eos_id;               /* CLIP_TEXT_POOL_EOS */
} clip_tower;

/* Build a tower for a fixed batch. The weight map must outlive the tower. */
int clip_build_image(const clip_wmap *m, const clip_config *cfg, int batch, clip_tower **out);
int clip_build_text(const clip_wmap *m, const clip_config *cfg, int batch, clip_tower **out);
void clip_tower_free(clip_tower *t);
/* Fills slots (one per tensor id) with the params, the caller's input
 * (float pixels or int32 ids, batch rows) and the host inputs derived from it. */
int clip_tower_bind(clip_tower *t, void **slots, const void *input);

/* logits_per_image [N, M] = exp(logit_scale) * l2n(img) @ l2n(txt)^T, as a
 * graph with inputs img [N, E] and txt [M, E]. */
typedef struct clip_logits_graph {
    graph *g;
    int img, txt, out;
} clip_logits_graph;
int clip_build_logits(int n_img, int n_txt, int embed_dim, float logit_scale,
                      clip_logits_graph *out);
void clip_logits_free(clip_logits_graph *l);

/* ---- a loaded model ---- */
typedef struct clip_model {
    clip_wmap *w;
    clip_config cfg;
    float logit_scale;
    /* SigLIP's learned bias (tensor `logit_bias`): zero-shot probabilities
     * are then sigmoid(exp(logit_scale) * cos + logit_bias) per label. */
    int has_logit_bias;
    float logit_bias;
    char config_path[512];   /* "" when no config file was found */
    img_prep prep;           /* image preprocessing from the config (io/preprocess_cfg.h) */
} clip_model;

/* MODEL: a .safetensors file, or a directory holding one (model.safetensors,
 * open_clip_model.safetensors or the only *.safetensors) plus optionally
 * open_clip_config.json / config.json, which is applied. */
int clip_load(const char *path, clip_model **out);

/* tpl with every "{}" replaced by label (malloc'd; NULL when out of memory):
 * one prompt of CLIP's prompt ensembling ("a photo of a {}."). */
char *clip_fill_template(const char *tpl, const char *label);
/* Builds a model from an already filled map (taken over) and optional config. */
int clip_model_from_wmap(clip_wmap *w, const char *config_path, clip_model **out);
void clip_model_free(clip_model *m);

/* "text." for open_clip's CustomTextCLIP (custom_text: the same text tower
 * under "text."), else "". */
const char *clip_text_prefix(const clip_wmap *m, clip_naming naming);

/* ---- strict loading (models/clip_strict.c, docs/models.md "Strict loading") ---- */
/* Which tower a tensor name belongs to under a naming: 0 image, 1 text, -1
 * shared by both (logit_scale, logit_bias), -2 neither. */
int clip_tensor_tower(clip_naming naming, const char *name);
/* Marks a tower unsupported (its `unsupported` text) when the map holds a
 * tensor of an architecture clipcl does not implement (layer scale, an
 * attentional pooler, a Hugging Face text encoder, ...), naming the tensor.
 * only: 0 or 1 looks at that tower alone, -1 at both. */
void clip_refuse_foreign_tensors(const clip_wmap *m, clip_config *cfg, int only);
/* Builds every supported tower once (marking the tensors it reads), then
 * checks that each tensor of the file was read or belongs to an unsupported
 * tower. An unused tensor is CC_ERR_UNSUPPORTED naming it, or with
 * allow_unused a warning line appended to notes (may be NULL). Both towers
 * unsupported is CC_ERR_UNSUPPORTED with both reasons. */
int clip_model_check_tensors(clip_model *m, int allow_unused, char *notes, size_t notes_len);

#endif
