/* Random initialisation of a CLIP for training from scratch, as
 * OpenAI's initialize_parameters (clip/model.py) describes it (text tower,
 * attention pool, zero bn3 gains, embeddings, projections) with PyTorch's
 * module defaults everywhere else (Linear/Conv: U(+-1/sqrt(fan_in));
 * MultiheadAttention: Xavier-uniform in_proj, zero in_proj and out_proj
 * biases; LayerNorm/BatchNorm: gain 1, bias 0; running mean 0, var 1).
 *
 * Each tensor draws from its own stream keyed by (seed, hash of its name),
 * so a tensor's values do not depend on the order tensors are created in.
 * The key list doubles as the schema a checkpoint is validated against. */
#include "train/trainer_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/dataset.h"
#include "runtime/rng.h"
#include "runtime/status.h"

enum { I_ZERO, I_ONE, I_NORMAL, I_UNIFORM };

typedef struct init_ctx {
    clip_wmap *m;
    uint64_t seed;
    int shapes_only;
    int rc;
} init_ctx;

static float dummy_value;

static uint64_t name_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* Adds name with shape; fills with kind at scale (std or uniform bound). */
static void add(init_ctx *c, const char *name, int kind, double scale, int ndim, ...)
{
    if (c->rc)
        return;
    int64_t shape[CLIP_MAX_DIMS] = {0}, n = 1;
    va_list ap;
    va_start(ap, ndim);
    for (int i = 0; i < ndim; i++) {
        shape[i] = va_arg(ap, int64_t);
        n *= shape[i];
    }
    va_end(ap);
    if (c->shapes_only) {
        c->rc = clip_wmap_add(c->m, name, ndim, shape, &dummy_value, 0);
        return;
    }
    float *d = malloc((size_t)(n > 0 ? n : 1) * sizeof *d);
    if (!d) {
        c->rc = cc_fail(CC_ERR_NOMEM, "train init: out of memory for '%s'", name);
        return;
    }
    uint64_t s = cc_rng_init(c->seed, name_hash(name), 0x1417);
    for (int64_t i = 0; i < n; i++) {
        switch (kind) {
        case I_ZERO: d[i] = 0.0f; break;
        case I_ONE: d[i] = 1.0f; break;
        case I_UNIFORM: d[i] = (float)((2.0 * cc_rng_uniform(&s) - 1.0) * scale); break;
        default: {
            /* Box-Muller; u1 in (0, 1] so the log is finite */
            double u1 = 1.0 - cc_rng_uniform(&s), u2 = cc_rng_uniform(&s);
            d[i] = (float)(scale * sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
        }
        }
    }
    c->rc = clip_wmap_add(c->m, name, ndim, shape, d, 1);
    if (c->rc)
        free(d);
}

static const char *k(const char *a, const char *b, int i, const char *tail)
{
    static char buf[8][160];
    static int next;
    char *o = buf[next++ & 7], t[160];
    /* via t: a and b may be earlier results of k() */
    if (i >= 0)
        snprintf(t, sizeof t, "%s%s%d.%s", a, b, i, tail);
    else
        snprintf(t, sizeof t, "%s%s", a, b);
    memcpy(o, t, sizeof t);
    return o;
}

static void layernorm(init_ctx *c, const char *pfx, int64_t w)
{
    add(c, k(pfx, "weight", -1, ""), I_ONE, 0, 1, w);
    add(c, k(pfx, "bias", -1, ""), I_ZERO, 0, 1, w);
}

/* One residual attention block; text blocks get OpenAI's init, vision
 * blocks PyTorch's defaults (OpenAI leaves them so). */
static void block(init_ctx *c, const char *pfx, int i, int64_t w, int text, int layers)
{
    char p[128];
    snprintf(p, sizeof p, "%s%d.", pfx, i);
    layernorm(c, k(p, "ln_1.", -1, ""), w);
    layernorm(c, k(p, "ln_2.", -1, ""), w);
    double attn_std = pow((double)w, -0.5), proj_std = attn_std * pow(2.0 * layers, -0.5);
    double fc_std = pow(2.0 * (double)w, -0.5);
    double lin = 1.0 / sqrt((double)w), lin4 = 1.0 / sqrt(4.0 * (double)w);
    if (text)
        add(c, k(p, "attn.in_proj_weight", -1, ""), I_NORMAL, attn_std, 2, 3 * w, w);
    else
        add(c, k(p, "attn.in_proj_weight", -1, ""), I_UNIFORM, sqrt(6.0 / (4.0 * (double)w)), 2,
            3 * w, w);
    add(c, k(p, "attn.in_proj_bias", -1, ""), I_ZERO, 0, 1, 3 * w);
    add(c, k(p, "attn.out_proj.weight", -1, ""), text ? I_NORMAL : I_UNIFORM, text ? proj_std : lin,
        2, w, w);
    add(c, k(p, "attn.out_proj.bias", -1, ""), I_ZERO, 0, 1, w);
    add(c, k(p, "mlp.c_fc.weight", -1, ""), text ? I_NORMAL : I_UNIFORM, text ? fc_std : lin, 2,
        4 * w, w);
    add(c, k(p, "mlp.c_fc.bias", -1, ""), I_UNIFORM, lin, 1, 4 * w);
    add(c, k(p, "mlp.c_proj.weight", -1, ""), text ? I_NORMAL : I_UNIFORM, text ? proj_std : lin4,
        2, w, 4 * w);
    add(c, k(p, "mlp.c_proj.bias", -1, ""), I_UNIFORM, lin4, 1, w);
}

static void vit(init_ctx *c, const clip_config *cfg)
{
    const clip_vision_cfg *v = &cfg->vision;
    int64_t w = v->width, g = v->resolution / v->patch;
    double scale = pow((double)w, -0.5);
    add(c, "visual.conv1.weight", I_UNIFORM, 1.0 / sqrt(3.0 * v->patch * v->patch), 4, w,
        (int64_t)3, (int64_t)v->patch, (int64_t)v->patch);
    add(c, "visual.class_embedding", I_NORMAL, scale, 1, w);
    add(c, "visual.positional_embedding", I_NORMAL, scale, 2, g * g + 1, w);
    layernorm(c, "visual.ln_pre.", w);
    for (int i = 0; i < v->layers; i++)
        block(c, "visual.transformer.resblocks.", i, w, 0, v->layers);
    layernorm(c, "visual.ln_post.", w);
    add(c, "visual.proj", I_NORMAL, scale, 2, w, (int64_t)cfg->embed_dim);
}

static void bn(init_ctx *c, const char *pfx, int64_t ch, int zero_gain)
{
    add(c, k(pfx, "weight", -1, ""), zero_gain ? I_ZERO : I_ONE, 0, 1, ch);
    add(c, k(pfx, "bias", -1, ""), I_ZERO, 0, 1, ch);
    add(c, k(pfx, "running_mean", -1, ""), I_ZERO, 0, 1, ch);
    add(c, k(pfx, "running_var", -1, ""), I_ONE, 0, 1, ch);
}

static void conv(init_ctx *c, const char *name, int64_t o, int64_t i, int64_t kk)
{
    add(c, name, I_UNIFORM, 1.0 / sqrt((double)(i * kk * kk)), 4, o, i, kk, kk);
}

static void resnet(init_ctx *c, const clip_config *cfg)
{
    const clip_vision_cfg *v = &cfg->vision;
    int64_t w = v->width, h = w / 2;
    conv(c, "visual.conv1.weight", h, 3, 3);
    bn(c, "visual.bn1.", h, 0);
    conv(c, "visual.conv2.weight", h, h, 3);
    bn(c, "visual.bn2.", h, 0);
    conv(c, "visual.conv3.weight", w, h, 3);
    bn(c, "visual.bn3.", w, 0);
    int64_t inplanes = w;
    for (int s = 0; s < 4; s++) {
        int64_t planes = w << s;
        int stride = s ? 2 : 1;
        for (int b = 0; b < v->rn_layers[s]; b++) {
            char p[96];
            snprintf(p, sizeof p, "visual.layer%d.%d.", s + 1, b);
            conv(c, k(p, "conv1.weight", -1, ""), planes, inplanes, 1);
            bn(c, k(p, "bn1.", -1, ""), planes, 0);
            conv(c, k(p, "conv2.weight", -1, ""), planes, planes, 3);
            bn(c, k(p, "bn2.", -1, ""), planes, 0);
            conv(c, k(p, "conv3.weight", -1, ""), 4 * planes, planes, 1);
            bn(c, k(p, "bn3.", -1, ""), 4 * planes, 1);
            if (b == 0 && (stride > 1 || inplanes != 4 * planes)) {
                conv(c, k(p, "downsample.0.weight", -1, ""), 4 * planes, inplanes, 1);
                bn(c, k(p, "downsample.1.", -1, ""), 4 * planes, 0);
            }
            inplanes = 4 * planes;
        }
    }
    int64_t d = 32 * w, sp = v->resolution / 32, e = cfg->embed_dim;
    double std = pow((double)d, -0.5), lin = 1.0 / sqrt((double)d);
    add(c, "visual.attnpool.positional_embedding", I_NORMAL, std, 2, sp * sp + 1, d);
    static const char *const qkv[] = {"q_proj", "k_proj", "v_proj"};
    for (int i = 0; i < 3; i++) {
        char p[96];
        snprintf(p, sizeof p, "visual.attnpool.%s.", qkv[i]);
        add(c, k(p, "weight", -1, ""), I_NORMAL, std, 2, d, d);
        add(c, k(p, "bias", -1, ""), I_UNIFORM, lin, 1, d);
    }
    add(c, "visual.attnpool.c_proj.weight", I_NORMAL, std, 2, e, d);
    add(c, "visual.attnpool.c_proj.bias", I_UNIFORM, lin, 1, e);
}

static void text(init_ctx *c, const clip_config *cfg)
{
    const clip_text_cfg *t = &cfg->text;
    int64_t w = t->width;
    add(c, "token_embedding.weight", I_NORMAL, 0.02, 2, (int64_t)t->vocab, w);
    add(c, "positional_embedding", I_NORMAL, 0.01, 2, (int64_t)t->context, w);
    for (int i = 0; i < t->layers; i++)
        block(c, "transformer.resblocks.", i, w, 1, t->layers);
    layernorm(c, "ln_final.", w);
    add(c, "text_projection", I_NORMAL, pow((double)w, -0.5), 2, w, (int64_t)cfg->embed_dim);
}

/* SigLIP (open_clip's ViT-*-SigLIP): timm's VisionTransformer init
 * (init_weights_vit_timm: Linear weights N(0, 0.02), biases 0; pos_embed
 * N(0, 0.02); the MAP head's latent N(0, W^-0.5); the patch convolution
 * PyTorch's default) ... */
static void timm_linear(init_ctx *c, const char *pfx, int64_t out, int64_t in)
{
    add(c, k(pfx, "weight", -1, ""), I_NORMAL, 0.02, 2, out, in);
    add(c, k(pfx, "bias", -1, ""), I_ZERO, 0, 1, out);
}

static void siglip_trunk(init_ctx *c, const clip_config *cfg)
{
    const clip_vision_cfg *v = &cfg->vision;
    int64_t w = v->width, g = v->resolution / v->patch, p = v->patch;
    double conv_bound = 1.0 / sqrt(3.0 * (double)(p * p));
    add(c, "visual.trunk.patch_embed.proj.weight", I_UNIFORM, conv_bound, 4, w, (int64_t)3, p, p);
    add(c, "visual.trunk.patch_embed.proj.bias", I_UNIFORM, conv_bound, 1, w);
    add(c, "visual.trunk.pos_embed", I_NORMAL, 0.02, 3, (int64_t)1, g * g, w);
    for (int i = 0; i < v->layers; i++) {
        char b[96];
        snprintf(b, sizeof b, "visual.trunk.blocks.%d.", i);
        layernorm(c, k(b, "norm1.", -1, ""), w);
        timm_linear(c, k(b, "attn.qkv.", -1, ""), 3 * w, w);
        timm_linear(c, k(b, "attn.proj.", -1, ""), w, w);
        layernorm(c, k(b, "norm2.", -1, ""), w);
        timm_linear(c, k(b, "mlp.fc1.", -1, ""), 4 * w, w);
        timm_linear(c, k(b, "mlp.fc2.", -1, ""), w, 4 * w);
    }
    layernorm(c, "visual.trunk.norm.", w);
    add(c, "visual.trunk.attn_pool.latent", I_NORMAL, pow((double)w, -0.5), 3, (int64_t)1,
        (int64_t)1, w);
    timm_linear(c, "visual.trunk.attn_pool.q.", w, w);
    timm_linear(c, "visual.trunk.attn_pool.kv.", 2 * w, w);
    timm_linear(c, "visual.trunk.attn_pool.proj.", w, w);
    layernorm(c, "visual.trunk.attn_pool.norm.", w);
    timm_linear(c, "visual.trunk.attn_pool.mlp.fc1.", 4 * w, w);
    timm_linear(c, "visual.trunk.attn_pool.mlp.fc2.", w, 4 * w);
}

/* ... and open_clip's TextTransformer.init_parameters under CustomTextCLIP's
 * "text." prefix, the projection a Linear (weight N(0, W^-0.5), bias 0). */
static void siglip_text(init_ctx *c, const clip_config *cfg)
{
    const clip_text_cfg *t = &cfg->text;
    int64_t w = t->width;
    add(c, "text.token_embedding.weight", I_NORMAL, 0.02, 2, (int64_t)t->vocab, w);
    add(c, "text.positional_embedding", I_NORMAL, 0.01, 2, (int64_t)t->context, w);
    for (int i = 0; i < t->layers; i++)
        block(c, "text.transformer.resblocks.", i, w, 1, t->layers);
    layernorm(c, "text.ln_final.", w);
    add(c, "text.text_projection.weight", I_NORMAL, pow((double)w, -0.5), 2,
        (int64_t)cfg->embed_dim, w);
    add(c, "text.text_projection.bias", I_ZERO, 0, 1, (int64_t)cfg->embed_dim);
}

int train_key_is_buffer(const char *key)
{
    size_t n = strlen(key);
    return (n >= 12 && strcmp(key + n - 12, "running_mean") == 0) ||
           (n >= 11 && strcmp(key + n - 11, "running_var") == 0);
}

int train_init_weights(const clip_config *cfg, clip_loss_kind kind, uint64_t seed, clip_wmap **out)
{
    return train_init_weights_ex(cfg, kind, seed, 0, out);
}

int train_init_weights_ex(const clip_config *cfg, clip_loss_kind kind, uint64_t seed,
                          int shapes_only, clip_wmap **out)
{
    if (!cfg || !out)
        return cc_fail(CC_ERR_INVALID, "train_init_weights: NULL argument");
    *out = NULL;
    init_ctx c = {clip_wmap_new(), seed, shapes_only, CC_OK};
    if (!c.m)
        return cc_fail(CC_ERR_NOMEM, "train init: out of memory");
    if (cfg->siglip) {
        siglip_trunk(&c, cfg);
        siglip_text(&c, cfg);
    } else {
        if (cfg->vision.is_vit)
            vit(&c, cfg);
        else
            resnet(&c, cfg);
        text(&c, cfg);
    }
    /* 0-d scalars, as OpenAI and open_clip store them */
    add(&c, "logit_scale", I_ZERO, 0, 0);
    if (kind == CLIP_LOSS_SIGLIP)
        add(&c, "logit_bias", I_ZERO, 0, 0);
    if (c.rc) {
        clip_wmap_free(c.m);
        return c.rc;
    }
    if (shapes_only) {
        *out = c.m;
        return CC_OK;
    }
    clip_wmap_find(c.m, "logit_scale")->data[0] = clip_loss_init_scale(kind);
    if (kind == CLIP_LOSS_SIGLIP)
        clip_wmap_find(c.m, "logit_bias")->data[0] = clip_loss_init_bias();
    *out = c.m;
    return CC_OK;
}
