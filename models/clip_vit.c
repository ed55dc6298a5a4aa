/* The ViT image tower (OpenAI's VisionTransformer, clip/model.py), with
 * open_clip's options (transformer.py VisionTransformer): layer scale, MLP
 * width, no ln_pre, pool_type tok / avg, final_ln_after_pool and the
 * attentional pooler. */
#include "models/clip_internal.h"

#include <stdio.h>

#include "runtime/status.h"

/* x [B, T, D] -> token 0 [B, 1, D] (pool_type "tok") or the mean of tokens
 * 1..T-1 [B, D] ("avg", open_clip's x[:, 1:].mean(dim=1)). */
static int pool_tokens(cb_ctx *c, int x)
{
    graph *g = c->g;
    int64_t T = x >= 0 ? g->tensors[x].shape[1] : 0;
    if (c->cfg->vision.pool == CLIP_VISION_POOL_TOK)
        return cb_ok(c, g_slice(g, x, 1, 0, 1, 1));
    int perm[3] = {0, 2, 1};
    x = cb_ok(c, g_slice(g, x, 1, 1, T, 1));           /* [B, T-1, D] */
    return cb_ok(c, g_mean(g, cb_ok(c, g_permute(g, x, perm)))); /* mean of [B, D, T-1] rows */
}

static int ln_post(cb_ctx *c, int x, int64_t D)
{
    int hf = c->cfg->naming == CLIP_NAMING_HF;
    return cb_layernorm(c, x, hf ? "vision_model.post_layernorm.weight" : "visual.ln_post.weight",
                        hf ? "vision_model.post_layernorm.bias" : "visual.ln_post.bias", D,
                        c->cfg->vision.eps);
}

/* One projection of open_clip's AttentionalPooler (nn.MultiheadAttention
 * with kdim = vdim = the token width): rows [i*E, (i+1)*E) of the packed
 * in_proj_weight when every input is E wide, else the separate
 * q/k/v_proj_weight; the bias is always part i of in_proj_bias. */
static int pooler_proj(cb_ctx *c, int x, int i, int64_t in, int64_t E)
{
    static const char *const sep[3] = {"visual.attn_pool.attn.q_proj_weight",
                                       "visual.attn_pool.attn.k_proj_weight",
                                       "visual.attn_pool.attn.v_proj_weight"};
    const char *packed = "visual.attn_pool.attn.in_proj_weight";
    int is_packed = clip_wmap_find(c->m, packed) != NULL;
    int64_t ws[2] = {E, in};
    int w = cb_param(c, is_packed ? packed : sep[i], is_packed ? i : 0, is_packed ? 3 : 1, 2, ws);
    int b = cb_param(c, "visual.attn_pool.attn.in_proj_bias", i, 3, 1, &E);
    if (w < 0 || b < 0)
        return -1;
    return cb_ok(c, g_matmul(c->g, x, w, b, 0, 1));
}

/* open_clip's AttentionalPooler (CoCa): Q learned queries, ln_q, attend to
 * ln_k(tokens) [B, T, W] -> [B, Q, E]. */
static int attentional_pool(cb_ctx *c, int x)
{
    const clip_vision_cfg *v = &c->cfg->vision;
    graph *g = c->g;
    int64_t B = c->t->batch, Q = v->attn_pool_queries, W = v->width, E = c->cfg->embed_dim;
    int q = cb_param2(c, "visual.attn_pool.query", Q, E);
    q = cb_layernorm(c, q, "visual.attn_pool.ln_q.weight", "visual.attn_pool.ln_q.bias", E, v->eps);
    q = pooler_proj(c, q, 0, E, E); /* [Q, E]: the same for every image */
    int64_t bqe[3] = {B, Q, E}, one_qe[3] = {1, Q, E};
    q = cb_ok(c, g_broadcast_to(g, cb_ok(c, g_reshape(g, q, 3, one_qe)), 3, bqe));
    x = cb_layernorm(c, x, "visual.attn_pool.ln_k.weight", "visual.attn_pool.ln_k.bias", W, v->eps);
    int k = pooler_proj(c, x, 1, W, E), val = pooler_proj(c, x, 2, W, E);
    int a = cb_ok(c, g_attention(g, q, k, val, v->attn_pool_heads, 0));
    return cb_linear(c, a, "visual.attn_pool.attn.out_proj.weight",
                     "visual.attn_pool.attn.out_proj.bias", 0, 1, E, E);
}

/* The transformer's output [B, T, W] -> the pooled row [B, D] before the
 * projection, in open_clip's VisionTransformer._pool order: the attentional
 * pooler then ln_post then pool_type (final_ln_after_pool is ignored there,
 * as in open_clip); else ln_post after pooling (final_ln_after_pool) or
 * before it. For "tok" the order does not matter (LayerNorm is per row), so
 * the one row is normalised, as OpenAI's CLIP does. */
static int vit_head(cb_ctx *c, int x, int64_t D)
{
    const clip_vision_cfg *v = &c->cfg->vision;
    if (v->attn_pool_queries)
        x = pool_tokens(c, ln_post(c, attentional_pool(c, x), D));
    else if (v->final_ln_after_pool || v->pool == CLIP_VISION_POOL_TOK)
        x = ln_post(c, pool_tokens(c, x), D);
    else
        x = pool_tokens(c, ln_post(c, x, D));
    int64_t bd[2] = {c->t->batch, D};
    return cb_ok(c, g_reshape(c->g, x, 2, bd));
}

int cb_vit(cb_ctx *c)
{
    const clip_vision_cfg *v = &c->cfg->vision;
    int hf = c->cfg->naming == CLIP_NAMING_HF;
    int64_t B = c->t->batch, W = v->width, P = v->patch, R = v->resolution, G = R / P;
    int64_t E = c->cfg->embed_dim;
    graph *g = c->g;
    if (v->unsupported[0]) {
        c->rc = cc_fail(CC_ERR_UNSUPPORTED, "%s", v->unsupported);
        return -1;
    }

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
    if (!v->no_ln_pre)
        x = cb_layernorm(c, x, hf ? "vision_model.pre_layrnorm.weight" : "visual.ln_pre.weight",
                         hf ? "vision_model.pre_layrnorm.bias" : "visual.ln_pre.bias", W, v->eps);
    for (int i = 0; i < v->layers; i++) {
        char p[96];
        snprintf(p, sizeof p, hf ? "vision_model.encoder.layers.%d." : "visual.transformer.resblocks.%d.",
                 i);
        /* the head of a class-token tower reads row 0 alone: the last
         * block computes only that row */
        if (i == v->layers - 1 && !v->attn_pool_queries && v->pool == CLIP_VISION_POOL_TOK)
            x = cb_block_pooled(c, x, p, W, v->heads, v->act, v->eps, 0, v->mlp_width, v->layer_scale, -1);
        else
            x = cb_block(c, x, p, W, v->heads, v->act, v->eps, 0, v->mlp_width, v->layer_scale);
    }
    int64_t D = v->attn_pool_queries ? E : W; /* the pooled row's width */
    x = vit_head(c, x, D);
    /* OpenAI stores proj [D, E] (x @ P); HF stores a Linear weight [E, D]. */
    int proj = hf ? cb_param2(c, "visual_projection.weight", E, D) : cb_param2(c, "visual.proj", D, E);
    return cb_ok(c, g_matmul(g, x, proj, -1, 0, hf));
}
