/* The text tower (OpenAI's CLIP.encode_text, open_clip's TextTransformer):
 * token + positional embedding, pre-LN blocks (causal unless no_causal_mask),
 * ln_final, one row per text (pool_type argmax / first / last / eos), then
 * text_projection (a [W, E] matrix, a Linear with bias, or none). */
#include "models/clip_internal.h"

#include <stdio.h>

#include "runtime/status.h"

/* The projection of the pooled rows x [B, W] to [B, E]. */
static int project(cb_ctx *c, int x, const char *tp, int64_t W, int64_t E)
{
    const clip_text_cfg *t = &c->cfg->text;
    if (t->no_proj)
        return x;
    if (c->cfg->naming == CLIP_NAMING_HF && c->cfg->siglip) /* SiglipTextModel.head */
        return cb_linear(c, x, "text_model.head.weight", "text_model.head.bias", 0, 1, W, E);
    if (c->cfg->naming == CLIP_NAMING_HF) /* a Linear weight [E, W], no bias */
        return cb_ok(c, g_matmul(c->g, x, cb_param2(c, "text_projection.weight", E, W), -1, 0, 1));
    if (t->proj_bias)
        return cb_linear(c, x, cb_key(tp, "text_projection.weight"),
                         cb_key(tp, "text_projection.bias"), 0, 1, W, E);
    /* OpenAI: a [W, E] parameter (x @ P). */
    return cb_ok(c, g_matmul(c->g, x, cb_param2(c, cb_key(tp, "text_projection"), W, E), -1, 0, 0));
}

int cb_text(cb_ctx *c)
{
    const clip_text_cfg *t = &c->cfg->text;
    int hf = c->cfg->naming == CLIP_NAMING_HF;
    const char *tp = clip_text_prefix(c->m, c->cfg->naming);
    int64_t B = c->t->batch, T = t->context, W = t->width, E = t->no_proj ? W : c->cfg->embed_dim;
    graph *g = c->g;
    c->t->text_ctx = (int)T;
    c->t->text_pool = t->pool;
    c->t->eos_id = t->eos_id;

    int64_t ids_shape[2] = {B, T};
    int ids = cb_ok(c, g_input(g, "token_ids", G_I32, 2, ids_shape));
    c->t->input = ids;
    int tab = cb_param2(c, hf ? "text_model.embeddings.token_embedding.weight"
                              : cb_key(tp, "token_embedding.weight"), t->vocab, W);
    int x = cb_ok(c, g_embedding(g, tab, ids)); /* [B, T, W] */
    int pos = cb_param2(c, hf ? "text_model.embeddings.position_embedding.weight"
                              : cb_key(tp, "positional_embedding"), T, W);
    x = cb_ok(c, g_add(g, x, pos));
    /* The IR has no gather: the pooled row is picked with a host-built
     * one-hot [B, 1, T] @ x [B, T, W]; exact, since every product is with
     * 1.0 or 0.0 and the other terms are exact zeros. The last block picks
     * it right after its attention and computes the rest of that row only
     * (the head reads nothing else); ln_final is per row. */
    int64_t oh_shape[3] = {B, 1, T};
    int oh = cb_host_input(c, "eot_onehot", CLIP_HOST_EOT_ONEHOT, 3, oh_shape);
    for (int i = 0; i < t->layers; i++) {
        char p[96];
        if (hf)
            snprintf(p, sizeof p, "text_model.encoder.layers.%d.", i);
        else
            snprintf(p, sizeof p, "%stransformer.resblocks.%d.", tp, i);
        if (i == t->layers - 1)
            x = cb_block_pooled(c, x, p, W, t->heads, t->act, t->eps, !t->no_causal_mask,
                                t->mlp_width, t->layer_scale, oh);
        else
            x = cb_block(c, x, p, W, t->heads, t->act, t->eps, !t->no_causal_mask,
                         t->mlp_width, t->layer_scale);
    }
    x = cb_layernorm(c, x, hf ? "text_model.final_layer_norm.weight" : cb_key(tp, "ln_final.weight"),
                     hf ? "text_model.final_layer_norm.bias" : cb_key(tp, "ln_final.bias"), W,
                     t->eps);
    if (t->layers < 1) /* no block picked the row */
        x = cb_ok(c, g_matmul(g, oh, x, -1, 0, 0));
    int64_t bw[2] = {B, W};
    x = cb_ok(c, g_reshape(g, x, 2, bw));
    return project(c, x, tp, W, E);
}
