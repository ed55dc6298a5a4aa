/* The ModifiedResNet image tower (OpenAI's clip/model.py): three-conv stem with
 * avgpool, anti-aliased bottlenecks (stride as an avgpool after conv2, and
 * avgpool + 1x1 conv + BN on the shortcut), attention pooling whose only
 * query is the mean token. OpenAI naming only: HF has no ResNet CLIP. */
#include "models/clip_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/grow.h"
#include "runtime/status.h"

#define BN_EPS 1e-5f

/* Training mode: batch statistics, recorded so the trainer can update the
 * running buffers (which are then not params at all). */
static int bn_train(cb_ctx *c, int x, const char *bn, int ga, int be, int64_t cout)
{
    if (c->rc)
        return -1;
    if (cc_grow((void **)&c->bn, &c->cap_bn, c->n_bn + 1, sizeof *c->bn, "BatchNorm statistics"))
        return c->rc = cc_fail(CC_ERR_NOMEM, "clip build: out of memory"), -1;
    clip_bn_stat *s = &c->bn[c->n_bn];
    memset(s, 0, sizeof *s);
    snprintf(s->prefix, sizeof s->prefix, "%s", bn);
    const g_tensor *X = &c->g->tensors[x];
    s->channels = cout;
    s->count = X->shape[0] * X->shape[2] * X->shape[3];
    int y = cb_ok(c, g_batchnorm_train(c->g, x, ga, be, BN_EPS, &s->mean, &s->var));
    if (y >= 0)
        c->n_bn++;
    return y;
}

/* conv (no bias) -> BatchNorm; prefixes end with '.'. */
static int conv_bn(cb_ctx *c, int x, const char *conv, const char *bn, int64_t cin, int64_t cout,
                   int k, int stride, int pad)
{
    int64_t ws[4] = {cout, cin, k, k};
    int w = cb_param(c, cb_key(conv, "weight"), 0, 1, 4, ws);
    x = cb_ok(c, g_conv2d(c->g, x, w, -1, stride, stride, pad, pad));
    int ga = cb_param1(c, cb_key(bn, "weight"), cout), be = cb_param1(c, cb_key(bn, "bias"), cout);
    if (c->training)
        return x < 0 || ga < 0 || be < 0 ? -1 : bn_train(c, x, bn, ga, be, cout);
    int mu = cb_param1(c, cb_key(bn, "running_mean"), cout);
    int va = cb_param1(c, cb_key(bn, "running_var"), cout);
    return cb_ok(c, g_batchnorm(c->g, x, ga, be, mu, va, BN_EPS));
}

static int relu(cb_ctx *c, int x)
{
    return cb_ok(c, g_relu(c->g, x));
}

static int bottleneck(cb_ctx *c, int x, const char *p, int64_t inplanes, int64_t planes,
                      int stride)
{
    int out = relu(c, conv_bn(c, x, cb_key(p, "conv1."), cb_key(p, "bn1."), inplanes, planes, 1, 1,
                              0));
    out = relu(c, conv_bn(c, out, cb_key(p, "conv2."), cb_key(p, "bn2."), planes, planes, 3, 1, 1));
    if (stride > 1)
        out = cb_ok(c, g_avgpool2d(c->g, out, stride, stride, 0));
    out = conv_bn(c, out, cb_key(p, "conv3."), cb_key(p, "bn3."), planes, 4 * planes, 1, 1, 0);
    int idt = x;
    if (stride > 1 || inplanes != 4 * planes) {
        if (stride > 1)
            idt = cb_ok(c, g_avgpool2d(c->g, idt, stride, stride, 0));
        idt = conv_bn(c, idt, cb_key(p, "downsample.0."), cb_key(p, "downsample.1."), inplanes,
                      4 * planes, 1, 1, 0);
    }
    return relu(c, cb_ok(c, g_add(c->g, out, idt)));
}

/* Attention pooling over the final [B, D, H, W] map. */
static int attnpool(cb_ctx *c, int x, int64_t D, int heads, int64_t E)
{
    graph *g = c->g;
    if (c->rc)
        return -1;
    const g_tensor *t = &g->tensors[x];
    int64_t B = t->shape[0], HW = t->shape[2] * t->shape[3];
    int64_t flat[3] = {B, D, HW};
    x = cb_ok(c, g_reshape(g, x, 3, flat));
    /* Mean over HW before the positional embedding: the reduction runs over
     * the last dim, which is HW in this [B, D, HW] layout. */
    int64_t m3[3] = {B, 1, D};
    int mean = cb_ok(c, g_reshape(g, cb_ok(c, g_mean(g, x)), 3, m3));
    int perm[3] = {0, 2, 1};
    int tok = cb_ok(c, g_permute(g, x, perm)); /* [B, HW, D] */
    int parts[2] = {mean, tok};
    int seq = mean < 0 || tok < 0 ? -1 : cb_ok(c, g_concat(g, 2, parts, 1));
    int pos = cb_param2(c, "visual.attnpool.positional_embedding", HW + 1, D);
    seq = cb_ok(c, g_add(g, seq, pos));
    /* Only the mean token is a query (T = 1); keys and values see all HW+1. */
    int q0 = cb_ok(c, g_slice(g, seq, 1, 0, 1, 1));
    int q = cb_linear(c, q0, "visual.attnpool.q_proj.weight", "visual.attnpool.q_proj.bias", 0, 1,
                      D, D);
    int k = cb_linear(c, seq, "visual.attnpool.k_proj.weight", "visual.attnpool.k_proj.bias", 0, 1,
                      D, D);
    int v = cb_linear(c, seq, "visual.attnpool.v_proj.weight", "visual.attnpool.v_proj.bias", 0, 1,
                      D, D);
    int a = cb_ok(c, g_attention(g, q, k, v, heads, 0));
    a = cb_linear(c, a, "visual.attnpool.c_proj.weight", "visual.attnpool.c_proj.bias", 0, 1, D, E);
    int64_t be[2] = {B, E};
    return cb_ok(c, g_reshape(g, a, 2, be));
}

int cb_resnet(cb_ctx *c)
{
    const clip_vision_cfg *v = &c->cfg->vision;
    if (c->cfg->naming != CLIP_NAMING_OPENAI) {
        c->rc = cc_fail(CC_ERR_UNSUPPORTED, "clip: a ResNet image tower needs OpenAI/open_clip "
                                            "key names");
        return -1;
    }
    int64_t B = c->t->batch, w = v->width, R = v->resolution;
    int64_t px_shape[4] = {B, 3, R, R};
    int x = cb_ok(c, g_input(c->g, "pixels", G_F32, 4, px_shape));
    c->t->input = x;
    x = relu(c, conv_bn(c, x, "visual.conv1.", "visual.bn1.", 3, w / 2, 3, 2, 1));
    x = relu(c, conv_bn(c, x, "visual.conv2.", "visual.bn2.", w / 2, w / 2, 3, 1, 1));
    x = relu(c, conv_bn(c, x, "visual.conv3.", "visual.bn3.", w / 2, w, 3, 1, 1));
    x = cb_ok(c, g_avgpool2d(c->g, x, 2, 2, 0));
    int64_t inplanes = w;
    for (int s = 0; s < 4; s++) {
        int64_t planes = w << s;
        for (int b = 0; b < v->rn_layers[s]; b++) {
            char p[64];
            snprintf(p, sizeof p, "visual.layer%d.%d.", s + 1, b);
            x = bottleneck(c, x, p, inplanes, planes, b == 0 && s > 0 ? 2 : 1);
            inplanes = 4 * planes;
        }
    }
    return attnpool(c, x, 32 * w, v->heads, c->cfg->embed_dim);
}
