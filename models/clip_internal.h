/* Helpers shared by the models/ graph builders only (not a public contract). */
#ifndef CLIPCL_MODELS_CLIP_INTERNAL_H
#define CLIPCL_MODELS_CLIP_INTERNAL_H

#include "models/clip.h"
#include "models/clip_train.h"

/* One tower being built. rc holds the first failure; every helper returns -1
 * once it is set, so a chain of calls is checked once at the end, like the
 * graph builders themselves. */
typedef struct cb_ctx {
    graph *g;
    const clip_wmap *m;
    const clip_config *cfg;
    clip_tower *t;
    int rc;
    /* Training mode: BatchNorm uses batch statistics, recorded here. */
    int training;
    int n_bn, cap_bn;
    clip_bn_stat *bn;
} cb_ctx;

int cb_begin(cb_ctx *c, const clip_wmap *m, const clip_config *cfg, int batch);
/* Finishes: on success marks out as the output and hands the tower over;
 * on failure frees it and returns the error code. */
int cb_end(cb_ctx *c, int out, clip_tower **result);
/* Records a failure of a graph builder (id < 0) that left its message. */
int cb_ok(cb_ctx *c, int id);

/* A weight as a graph param of the given shape. part/nparts select a block
 * of rows (packed in_proj: part 0..2 of 3); nparts 1 takes the whole tensor.
 * Missing key or wrong shape -> cc_fail naming the key, expected and found. */
int cb_param(cb_ctx *c, const char *key, int part, int nparts, int ndim, const int64_t *shape);
/* Records a graph param and the weight data it reads (not owned). */
int cb_push_param(cb_ctx *c, int id, const float *data);
int cb_param1(cb_ctx *c, const char *key, int64_t n);
int cb_param2(cb_ctx *c, const char *key, int64_t rows, int64_t cols);
/* x @ W^T + b with W [out, in] (PyTorch Linear), optional row block of W/b. */
int cb_linear(cb_ctx *c, int x, const char *wkey, const char *bkey, int part, int nparts,
              int64_t in, int64_t out);
int cb_layernorm(cb_ctx *c, int x, const char *wkey, const char *bkey, int64_t width, float eps);
/* Pre-LN residual attention block; prefix ends with '.', e.g.
 * "transformer.resblocks.3." or "text_model.encoder.layers.3.". mlp_width:
 * the MLP's hidden width (0 = 4 * width); layer_scale: each residual branch
 * times <prefix>ls_1.gamma / ls_2.gamma [width] (open_clip's LayerScale). */
int cb_block(cb_ctx *c, int x, const char *prefix, int64_t width, int heads, clip_act act,
             float eps, int causal, int64_t mlp_width, int layer_scale);
/* The tensor names of a pre-LN block, after the block prefix: LayerNorms
 * and Linears are modules ("ln_1." -> "ln_1.weight", "ln_1.bias"); q/k/v are
 * either one packed [3d, d] projection (qkv_w/qkv_b) or three (sep_w/sep_b). */
typedef struct cb_block_keys {
    const char *ln1, *qkv_w, *qkv_b, *sep_w[3], *sep_b[3], *out, *ln2, *fc1, *fc2;
} cb_block_keys;
extern const cb_block_keys CB_BLOCK_OPENAI, CB_BLOCK_HF, CB_BLOCK_TIMM;
int cb_block_named(cb_ctx *c, int x, const char *prefix, const cb_block_keys *k, int64_t width,
                   int heads, clip_act act, float eps, int causal, int64_t mlp_width,
                   int layer_scale);
/* The last block of a tower whose head reads one row per item: cb_block
 * computing only that row, [B, T, d] -> [B, 1, d]. onehot < 0: row 0 (the
 * class token; the block must not be causal); else a [B, 1, T] one-hot
 * input picking the row (the text tower's pooled token). */
int cb_block_pooled(cb_ctx *c, int x, const char *prefix, int64_t width, int heads, clip_act act,
                    float eps, int causal, int64_t mlp_width, int layer_scale, int onehot);
/* The MLP activation (GELU, its tanh form, or QuickGELU). */
int cb_activation(cb_ctx *c, int x, clip_act act);
/* A host-filled input tensor; its buffer lives in the tower. */
int cb_host_input(cb_ctx *c, const char *name, clip_host_kind kind, int ndim,
                  const int64_t *shape);
/* The towers' bodies: each declares its input and returns the features
 * tensor [B, E] (or -1 with c->rc set). */
int cb_vit(cb_ctx *c);
int cb_resnet(cb_ctx *c);
int cb_text(cb_ctx *c);
/* SigLIP's ViT with the MAP head, both namings (models/clip_siglip.c). */
int cb_siglip_vit(cb_ctx *c);

/* The first open_clip tower option in c that training does not implement
 * (train/init.c creates no tensors for it), as a phrase; NULL when none. */
const char *clip_config_untrainable_option(const clip_config *c);

/* Joins prefix and suffix into one of a few rotating static buffers. */
const char *cb_key(const char *prefix, const char *suffix);

#endif
