/* Backward rules of the data-movement ops (reshape, permute, slice, concat),
 * the normalisations and the network ops (conv2d, avgpool2d, embedding,
 * attention). Most map onto one dedicated *_GRAD op per input. */
#include "graph/autodiff_internal.h"

#include <string.h>

int ad_rule_reshape(ad_ctx *c, const g_node *n, int dy)
{
    return ad_accum(c, n->in[0], ad_reshape_like(c, dy, n->in[0]));
}

int ad_rule_permute(ad_ctx *c, const g_node *n, int dy)
{
    int inv[G_MAX_DIMS];
    for (int i = 0; i < c->g->tensors[n->in[0]].ndim; i++)
        inv[n->attr.perm[i]] = i;
    return ad_accum(c, n->in[0], g_permute(c->g, dy, inv));
}

int ad_rule_slice(ad_ctx *c, const g_node *n, int dy)
{
    const g_tensor *X = &c->g->tensors[n->in[0]];
    int64_t xs[G_MAX_DIMS];
    memcpy(xs, X->shape, sizeof xs);
    return ad_accum(c, n->in[0],
                    g_slice_grad(c->g, dy, n->attr.axis, n->attr.start, n->attr.end, n->attr.step, X->ndim, xs));
}

int ad_rule_concat(ad_ctx *c, const g_node *n, int dy)
{
    graph *g = c->g;
    int64_t off = 0;
    int rc;
    for (int i = 0; i < n->n_in; i++) {
        int xi = n->in[i];
        int64_t len = g->tensors[xi].shape[n->attr.axis];
        if (ad_wants(c, xi) && (rc = ad_accum(c, xi, g_slice(g, dy, n->attr.axis, off, off + len, 1))))
            return rc;
        off += len;
    }
    return 0;
}

/* A per-channel [C] vector viewed so it broadcasts against [N, C, H, W]
 * ([C, 1, 1]) or [N, C] (as is). */
static int per_channel(graph *g, int v, int x_ndim)
{
    if (x_ndim != 4)
        return v;
    int64_t s[3] = {g->tensors[v].shape[0], 1, 1};
    return g_reshape(g, v, 3, s);
}

/* d/dx, d/dgamma, d/dbeta of inference BatchNorm. The running statistics are
 * buffers (PyTorch gives them no gradient); statistics computed from the
 * wrt tensors would need their own rule, so they are refused. */
int ad_rule_batchnorm(ad_ctx *c, const g_node *n, int dy)
{
    graph *g = c->g;
    int x = n->in[0], gamma = n->in[1], beta = n->in[2], mean = n->in[3], var = n->in[4], rc;
    for (int k = 3; k < 5; k++)
        if (ad_wants(c, n->in[k]) && g->tensors[n->in[k]].producer >= 0)
            return cc_fail(CC_ERR_UNSUPPORTED,
                           "g_backward: batchnorm '%s' takes computed statistics ('%s'); use "
                           "g_batchnorm_train for batch statistics",
                           n->name, g->tensors[n->in[k]].name);
    int nd = g->tensors[x].ndim;
    if (!ad_wants(c, x) && !ad_wants(c, gamma))
        return ad_accum(c, beta, ad_reshape_like(c, g_sum_to(g, dy, nd == 4 ? 3 : 1,
                                                              (int64_t[3]){g->tensors[beta].shape[0], 1, 1}),
                                                 beta));
    int rstd = g_exp(g, g_scale(g, g_log(g, g_add(g, var, ad_const_like(g, var, n->attr.eps))), -0.5f));
    if (ad_wants(c, x) && (rc = ad_accum(c, x, g_mul(g, dy, per_channel(g, g_mul(g, gamma, rstd), nd)))))
        return rc;
    int64_t cs[3] = {g->tensors[gamma].shape[0], 1, 1};
    int cnd = nd == 4 ? 3 : 1;
    if (ad_wants(c, gamma)) {
        int xhat = g_mul(g, g_sub(g, x, per_channel(g, mean, nd)), per_channel(g, rstd, nd));
        int s = g_sum_to(g, g_mul(g, dy, xhat), cnd, cs);
        if ((rc = ad_accum(c, gamma, ad_reshape_like(c, s, gamma))))
            return rc;
    }
    if (ad_wants(c, beta))
        return ad_accum(c, beta, ad_reshape_like(c, g_sum_to(g, dy, cnd, cs), beta));
    return 0;
}

/* causal too: masked entries have y = 0, hence no gradient */
int ad_rule_softmax(ad_ctx *c, const g_node *n, int dy)
{
    return ad_accum(c, n->in[0], g_softmax_grad(c->g, n->out, dy));
}

int ad_rule_l2norm(ad_ctx *c, const g_node *n, int dy)
{
    return ad_accum(c, n->in[0], g_l2norm_grad(c->g, n->in[0], dy, n->attr.eps));
}

int ad_rule_layernorm(ad_ctx *c, const g_node *n, int dy)
{
    graph *g = c->g;
    int x = n->in[0], gamma = n->in[1], beta = n->in[2], rc;
    if (ad_wants(c, x) && (rc = ad_accum(c, x, g_layernorm_grad_x(g, x, gamma, dy, n->attr.eps))))
        return rc;
    if (ad_wants(c, gamma) && (rc = ad_accum(c, gamma, g_layernorm_grad_gamma(g, x, dy, n->attr.eps))))
        return rc;
    if (ad_wants(c, beta))
        return ad_accum(c, beta, ad_sum_to_like(c, dy, beta));
    return 0;
}

int ad_rule_conv2d(ad_ctx *c, const g_node *n, int dy)
{
    graph *g = c->g;
    const g_attr *at = &n->attr;
    int x = n->in[0], w = n->in[1], bias = n->n_in > 2 ? n->in[2] : -1, rc;
    int64_t xs[G_MAX_DIMS];
    memcpy(xs, g->tensors[x].shape, sizeof xs);
    if (ad_wants(c, x) &&
        (rc = ad_accum(c, x, g_conv2d_grad_input(g, dy, w, at->stride[0], at->stride[1], at->pad[0], at->pad[1], 4,
                                                 xs))))
        return rc;
    if (ad_wants(c, w) &&
        (rc = ad_accum(c, w, g_conv2d_grad_weight(g, x, dy, at->stride[0], at->stride[1], at->pad[0], at->pad[1],
                                                  at->kernel[0], at->kernel[1]))))
        return rc;
    if (bias >= 0 && ad_wants(c, bias)) {
        int64_t cs[3] = {g->tensors[bias].shape[0], 1, 1};
        return ad_accum(c, bias, ad_reshape_like(c, g_sum_to(g, dy, 3, cs), bias));
    }
    return 0;
}

int ad_rule_avgpool2d(ad_ctx *c, const g_node *n, int dy)
{
    const g_attr *at = &n->attr;
    int64_t xs[G_MAX_DIMS];
    memcpy(xs, c->g->tensors[n->in[0]].shape, sizeof xs);
    return ad_accum(c, n->in[0], g_avgpool2d_grad(c->g, dy, at->kernel[0], at->stride[0], at->pad[0], 4, xs));
}

/* in[0] is the table; the ids are integers */
int ad_rule_embedding(ad_ctx *c, const g_node *n, int dy)
{
    int x = n->in[0];
    return ad_accum(c, x, g_embedding_grad(c->g, n->in[1], dy, c->g->tensors[x].shape[0]));
}

int ad_rule_attention(ad_ctx *c, const g_node *n, int dy)
{
    int rc;
    for (int which = 0; which < 3; which++)
        if (ad_wants(c, n->in[which]) &&
            (rc = ad_accum(c, n->in[which], g_attention_grad(c->g, n->in[0], n->in[1], n->in[2], dy, n->attr.heads,
                                                             n->attr.causal, which))))
            return rc;
    return 0;
}

/* Training BatchNorm, y = gamma (x - mean) rstd + beta with mean and var the
 * batch moments of x (stats = bn_stats(x)). The rule gives x its whole
 * gradient, through the statistics included, in closed form:
 * dx = gamma rstd (dy - (sum(dy) + xhat sum(dy xhat)) / count), where the two
 * per-channel sums (also dbeta and dgamma) come from one pass (bn_grad_sums)
 * and dx from a second (bn_grad_x). stats therefore gets nothing here. */
int ad_rule_bn_train(ad_ctx *c, const g_node *n, int dy)
{
    graph *g = c->g;
    int x = n->in[0], gamma = n->in[1], beta = n->in[2], stats = n->in[3], rc;
    int sp = g->tensors[stats].producer;
    if (sp < 0 || g->nodes[sp].op != G_OP_BN_STATS || g->nodes[sp].in[0] != x)
        return cc_fail(CC_ERR_UNSUPPORTED,
                       "g_backward: bn_train '%s' takes statistics '%s' that are not bn_stats of its x '%s'",
                       n->name, g->tensors[stats].name, g->tensors[x].name);
    int sums = g_bn_grad_sums(g, x, stats, dy, n->attr.eps);
    if (ad_wants(c, x) && (rc = ad_accum(c, x, g_bn_grad_x(g, x, gamma, stats, dy, sums, n->attr.eps))))
        return rc;
    if (ad_wants(c, gamma) && (rc = ad_accum(c, gamma, ad_reshape_like(c, g_bn_row(g, sums, 1), gamma))))
        return rc;
    if (ad_wants(c, beta))
        return ad_accum(c, beta, ad_reshape_like(c, g_bn_row(g, sums, 0), beta));
    return 0;
}

/* The batch moments' own gradient, for a loss that reads them (the
 * bn_train rule already covers the path through y): with count = N*H*W,
 * dx = (dmean + 2 dvar (x - mean)) / count per channel. */
int ad_rule_bn_stats(ad_ctx *c, const g_node *n, int dy)
{
    graph *g = c->g;
    int x = n->in[0], stats = n->out, nd = g->tensors[x].ndim;
    double count = (double)g_numel(g, x) / (double)g->tensors[x].shape[1];
    int dmean = per_channel(g, g_bn_row(g, dy, 0), nd), dvar = per_channel(g, g_bn_row(g, dy, 1), nd);
    int xc = g_sub(g, x, per_channel(g, g_bn_row(g, stats, 0), nd));
    int dx = g_add(g, g_mul(g, xc, g_scale(g, dvar, 2.0f)), dmean);
    return ad_accum(c, x, g_scale(g, dx, (float)(1.0 / count)));
}
