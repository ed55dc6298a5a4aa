/* The ViT image tower (OpenAI's VisionTransformer, clip/model.py). */
#include "models/clip_internal.h"

#include <stdio.h>

#include "runtime/status.h"

int cb_vit(cb_ctx *c)
{
    const clip_vision_cfg *v = &c->cfg->vision;
    int hf = c->cfg->naming == CLIP_NAMING_HF;
    int64_t B = c->t->batch, W = v->width, P = v->patch, R = v->resolution, G = R / P;
    int64_t E = c->cfg->embed_dim;
    graph *g = c->g;

    int64_t px_shape[4] = {B, 3, R, R};
    int x = cb_ok(c, g_input(g, "pixels", G_F32, 4, px_shape));
    c->t->input = x;
    int64_t cw[4] = {W, 3, P, P};
    int w = cb_param(c, hf ? "vision_model.embeddings.patch_embedding.weight" : "visual.conv1.weight",
                     0, 1, 4, cw);
    x = cb_ok(c, g_conv2d(g, x, w, -1, (int)P, (int)P, 0, 0)); /* [B, W, G, G] */
    int64_t flat[3] = {B, W, G * G};
    x = cb_ok(c, g_reshape(g, x, 3, flat));
    int perm[3] = {0, 2, 1};
    x = cb_ok(c, g_permute(g, x, perm)); /* [B, G*G, W], token = row*G + col */

    /* Class token: the IR has no broadcast-to, so add the class embedding to
     * a host-supplied zeros [B, 1, W] (exact: x + 0). */
    int64_t zs[3] = {B, 1, W};
    int z = cb_host_input(c, "class_token_zeros", CLIP_HOST_ZEROS, 3, zs);
    int ce = cb_param1(c, hf ? "vision_model.embeddings.class_embedding" : "visual.class_embedding",
                       W);
    int cls = cb_ok(c, g_add(g, z, ce));
    int parts[2] = {cls, x};
    x = cls < 0 || x < 0 ? -1 : cb_ok(c, g_concat(g, 2, parts, 1));
    int pos = cb_param2(c, hf ? "vision_model.embeddings.position_embedding.weight"
                              : "visual.positional_embedding", G * G + 1, W);
    x = cb_ok(c, g_add(g, x, pos));
    x = cb_layernorm(c, x, hf ? "vision_model.pre_layrnorm.weight" : "visual.ln_pre.weight",
                     hf ? "vision_model.pre_layrnorm.bias" : "visual.ln_pre.bias", W, v->eps);
    for (int i = 0; i < v->layers; i++) {
        char p[96];
        snprintf(p, sizeof p, hf ? "vision_model.encoder.layers.%d." : "visual.transformer.resblocks.%d.",
                 i);
        x = cb_block(c, x, p, W, v->heads, v->act, v->eps, 0);
    }
    x = cb_ok(c, g_slice(g, x, 1, 0, 1, 1)); /* class token [B, 1, W] */
    x = cb_layernorm(c, x, hf ? "vision_model.post_layernorm.weight" : "visual.ln_post.weight",
                     hf ? "vision_model.post_layernorm.bias" : "visual.ln_post.bias", W, v->eps);
    int64_t bw[2] = {B, W};
    x = cb_ok(c, g_reshape(g, x, 2, bw));
    /* OpenAI stores proj [W, E] (x @ P); HF stores a Linear weight [E, W]. */
    int proj = hf ? cb_param2(c, "visual_projection.weight", E, W) : cb_param2(c, "visual.proj", W, E);
    return cb_ok(c, g_matmul(g, x, proj, -1, 0, hf));
}
