/* The text tower (OpenAI's CLIP.encode_text): token + positional embedding, causal
 * pre-LN blocks, ln_final, the row at argmax(ids), text_projection. */
#include "models/clip_internal.h"

#include <stdio.h>

#include "runtime/status.h"

int cb_text(cb_ctx *c)
{
    const clip_text_cfg *t = &c->cfg->text;
    int hf = c->cfg->naming == CLIP_NAMING_HF;
    int64_t B = c->t->batch, T = t->context, W = t->width, E = c->cfg->embed_dim;
    graph *g = c->g;
    c->t->text_ctx = (int)T;

    int64_t ids_shape[2] = {B, T};
    int ids = cb_ok(c, g_input(g, "token_ids", G_I32, 2, ids_shape));
    c->t->input = ids;
    int tab = cb_param2(c, hf ? "text_model.embeddings.token_embedding.weight"
                              : "token_embedding.weight", t->vocab, W);
    int x = cb_ok(c, g_embedding(g, tab, ids)); /* [B, T, W] */
    int pos = cb_param2(c, hf ? "text_model.embeddings.position_embedding.weight"
                              : "positional_embedding", T, W);
    x = cb_ok(c, g_add(g, x, pos));
    for (int i = 0; i < t->layers; i++) {
        char p[96];
        snprintf(p, sizeof p, hf ? "text_model.encoder.layers.%d." : "transformer.resblocks.%d.", i);
        x = cb_block(c, x, p, W, t->heads, t->act, t->eps, 1, t->mlp_width, t->layer_scale);
    }
    x = cb_layernorm(c, x, hf ? "text_model.final_layer_norm.weight" : "ln_final.weight",
                     hf ? "text_model.final_layer_norm.bias" : "ln_final.bias", W, t->eps);
    /* The IR has no gather: select the EOT row with a host-built one-hot
     * [B, 1, T] @ x [B, T, W]; exact, since every product is with 1.0 or 0.0
     * and the other terms are exact zeros. */
    int64_t oh_shape[3] = {B, 1, T};
    int oh = cb_host_input(c, "eot_onehot", CLIP_HOST_EOT_ONEHOT, 3, oh_shape);
    x = cb_ok(c, g_matmul(g, oh, x, -1, 0, 0));
    int64_t bw[2] = {B, W};
    x = cb_ok(c, g_reshape(g, x, 2, bw));
    /* OpenAI stores text_projection [W, E] (x @ P); HF a Linear weight [E, W]. */
    int proj = hf ? cb_param2(c, "text_projection.weight", E, W) : cb_param2(c, "text_projection", W, E);
    return cb_ok(c, g_matmul(g, x, proj, -1, 0, hf));
}
