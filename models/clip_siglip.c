/* SigLIP's image tower: a ViT without a class token whose features come from
 * a multi-head attention "probe" (the MAP head), in both namings:
 *   open_clip's timm trunk (timm VisionTransformer, global_pool 'map'):
 *     visual.trunk.patch_embed.proj, pos_embed [1, N, W], blocks.N.*, norm,
 *     attn_pool.{latent, q, kv, proj, norm, mlp};
 *   transformers' SiglipVisionTransformer:
 *     vision_model.embeddings.{patch_embedding, position_embedding},
 *     encoder.layers.N.*, post_layernorm, head.{probe, attention, layernorm, mlp}.
 * Both compute: tokens = patches + pos; blocks; LayerNorm on every token;
 * q = Linear(latent); k, v = Linears(tokens); a = out(attention(q, k, v));
 * feature = a + MLP(LN(a)), the single query row (timm pool 'token'). */
#include "models/clip_internal.h"

#include <stdio.h>

#include "runtime/status.h"

typedef struct siglip_names {
    const char *patch_w, *patch_b, *pos, *block_fmt, *norm;
    const char *head;       /* prefix of the head's tensors */
    const char *latent;     /* [1, 1, W] learned query */
    const char *q_w, *q_b, *k_w, *k_b, *v_w, *v_b; /* with part numbers below */
    int q_part, k_part, v_part, qkv_parts, kv_parts;
    const char *out, *head_norm;
    const cb_block_keys *block;
} siglip_names;

static const siglip_names TIMM = {
    "visual.trunk.patch_embed.proj.weight", "visual.trunk.patch_embed.proj.bias",
    "visual.trunk.pos_embed", "visual.trunk.blocks.%d.", "visual.trunk.norm.",
    "visual.trunk.attn_pool.", "latent",
    "q.weight", "q.bias", "kv.weight", "kv.bias", "kv.weight", "kv.bias",
    0, 0, 1, 1, 2, /* q alone; k = rows [0, W) of kv, v = rows [W, 2W) */
    "proj.", "norm.", &CB_BLOCK_TIMM,
};

static const siglip_names HF = {
    "vision_model.embeddings.patch_embedding.weight",
    "vision_model.embeddings.patch_embedding.bias",
    "vision_model.embeddings.position_embedding.weight", "vision_model.encoder.layers.%d.",
    "vision_model.post_layernorm.", "vision_model.head.", "probe",
    "attention.in_proj_weight", "attention.in_proj_bias", "attention.in_proj_weight",
    "attention.in_proj_bias", "attention.in_proj_weight", "attention.in_proj_bias",
    0, 1, 2, 3, 3, /* nn.MultiheadAttention's packed in_proj: q, k, v */
    "attention.out_proj.", "layernorm.", &CB_BLOCK_HF,
};

static const char *hkey(const siglip_names *n, const char *suffix)
{
    return cb_key(n->head, suffix);
}

static const char *hmod(const siglip_names *n, const char *module, const char *what)
{
    char s[96];
    snprintf(s, sizeof s, "%s%s", module, what);
    return cb_key(n->head, s);
}

/* tokens x [B, N, W] (already normalised) -> the head's row [B, W]. */
static int map_head(cb_ctx *c, const siglip_names *n, int x)
{
    const clip_vision_cfg *v = &c->cfg->vision;
    graph *g = c->g;
    int64_t B = c->t->batch, W = v->width, hidden = v->mlp_width > 0 ? v->mlp_width : 4 * W;
    int64_t lat_shape[3] = {1, 1, W}, row[2] = {1, W};
    int q = cb_param(c, hkey(n, n->latent), 0, 1, 3, lat_shape);
    q = cb_ok(c, g_reshape(g, q, 2, row));
    /* The query is the same for every image: project it once, then broadcast. */
    q = cb_linear(c, q, hkey(n, n->q_w), hkey(n, n->q_b), n->q_part, n->qkv_parts, W, W);
    int64_t one[3] = {1, 1, W}, b1w[3] = {B, 1, W};
    q = cb_ok(c, g_broadcast_to(g, cb_ok(c, g_reshape(g, q, 3, one)), 3, b1w));
    int k = cb_linear(c, x, hkey(n, n->k_w), hkey(n, n->k_b), n->k_part, n->kv_parts, W, W);
    int val = cb_linear(c, x, hkey(n, n->v_w), hkey(n, n->v_b), n->v_part, n->kv_parts, W, W);
    int a = cb_ok(c, g_attention(g, q, k, val, v->heads, 0)); /* [B, 1, W] */
    a = cb_linear(c, a, hmod(n, n->out, "weight"), hmod(n, n->out, "bias"), 0, 1, W, W);
    int h = cb_layernorm(c, a, hmod(n, n->head_norm, "weight"), hmod(n, n->head_norm, "bias"), W,
                         v->eps);
    h = cb_linear(c, h, hkey(n, "mlp.fc1.weight"), hkey(n, "mlp.fc1.bias"), 0, 1, W, hidden);
    h = cb_activation(c, h, v->act);
    h = cb_linear(c, h, hkey(n, "mlp.fc2.weight"), hkey(n, "mlp.fc2.bias"), 0, 1, hidden, W);
    int64_t bw[2] = {B, W};
    return cb_ok(c, g_reshape(g, cb_ok(c, g_add(g, a, h)), 2, bw));
}

int cb_siglip_vit(cb_ctx *c)
{
    const clip_vision_cfg *v = &c->cfg->vision;
    const siglip_names *n = c->cfg->naming == CLIP_NAMING_HF ? &HF : &TIMM;
    int64_t B = c->t->batch, W = v->width, P = v->patch, R = v->resolution, G = R / P;
    graph *g = c->g;
    if (v->unsupported[0]) {
        c->rc = cc_fail(CC_ERR_UNSUPPORTED, "%s", v->unsupported);
        return -1;
    }
    if (c->cfg->embed_dim != W) {
        c->rc = cc_fail(CC_ERR_SHAPE, "SigLIP image tower: features are the head's %lld-wide "
                        "rows, but embed_dim is %d", (long long)W, c->cfg->embed_dim);
        return -1;
    }
    int64_t px_shape[4] = {B, 3, R, R};
    int x = cb_ok(c, g_input(g, "pixels", G_F32, 4, px_shape));
    c->t->input = x;
    int64_t cw[4] = {W, 3, P, P};
    int w = cb_param(c, n->patch_w, 0, 1, 4, cw);
    int bias = cb_param1(c, n->patch_b, W);
    x = cb_ok(c, g_conv2d(g, x, w, bias, (int)P, (int)P, 0, 0)); /* [B, W, G, G] */
    int64_t flat[3] = {B, W, G * G};
    x = cb_ok(c, g_reshape(g, x, 3, flat));
    int perm[3] = {0, 2, 1};
    x = cb_ok(c, g_permute(g, x, perm)); /* [B, G*G, W], token = row*G + col */
    int pos;
    if (c->cfg->naming == CLIP_NAMING_HF) {
        pos = cb_param2(c, n->pos, G * G, W);
    } else { /* timm keeps a leading batch dim of 1 */
        int64_t ps[3] = {1, G * G, W}, p2[2] = {G * G, W};
        pos = cb_ok(c, g_reshape(g, cb_param(c, n->pos, 0, 1, 3, ps), 2, p2));
    }
    x = cb_ok(c, g_add(g, x, pos));
    for (int i = 0; i < v->layers; i++) {
        char p[96];
        snprintf(p, sizeof p, n->block_fmt, i);
        x = cb_block_named(c, x, p, n->block, W, v->heads, v->act, v->eps, 0, v->mlp_width, 0);
    }
    char nw[96], nb[96];
    snprintf(nw, sizeof nw, "%sweight", n->norm);
    snprintf(nb, sizeof nb, "%sbias", n->norm);
    x = cb_layernorm(c, x, nw, nb, W, v->eps);
    return map_head(c, n, x);
}
