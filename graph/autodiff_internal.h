/* Shared by the autodiff pass (autodiff.c) and its rule files
 * (autodiff_rules_*.c); not part of the contract. */
#ifndef CLIPCL_AUTODIFF_INTERNAL_H
#define CLIPCL_AUTODIFF_INTERNAL_H

#include "graph/graph_internal.h"

typedef struct ad_ctx {
    graph *g;
    int n0;     /* tensors before the pass: req/acc cover ids [0, n0) */
    char *req;  /* 1 where the tensor depends on some wrt tensor */
    int *acc;   /* gradient accumulated so far, -1 for none */
} ad_ctx;

/* A rule reads the forward node n (a copy: appending may move g->nodes) and
 * dy, the finished gradient of n's output, and adds one contribution per
 * input that needs one. Returns 0; -1 when a builder failed (its message is
 * in cc_last_error()); or a positive cc_code it recorded itself. */
typedef int (*ad_rule)(ad_ctx *c, const g_node *n, int dy);

/* 1 when input tensor t needs a gradient. */
static inline int ad_wants(const ad_ctx *c, int t) { return t >= 0 && t < c->n0 && c->req[t]; }

/* Adds grad to t's accumulated gradient (g_add when one is already there).
 * A grad of -1 (a failed builder) is passed on as -1. */
int ad_accum(ad_ctx *c, int t, int grad);

/* dy summed down to t's shape (SUM_TO), or dy itself when the shapes match. */
int ad_sum_to_like(ad_ctx *c, int dy, int t);

/* x reshaped to t's shape (a view), or x itself when the shapes match. */
int ad_reshape_like(ad_ctx *c, int x, int t);

/* A [C] f32 tensor of `value` built from ref (any finite [C] tensor) by
 * exp(0 * ref) * value; SCALE by 0 stops autodiff, so it is a constant. */
int ad_const_like(graph *g, int ref, float value);

/* Row `row` (0 or 1) of a [2, C] tensor (bn_stats, bn_grad_sums) as [C]. */
int g_bn_row(graph *g, int pair, int row);

/* One rule per differentiable op kind (named ad_rule_<op name>), listed in
 * graph/op_table.c: autodiff_rules_math.c (matmul, pointwise, reductions)
 * and autodiff_rules_nn.c (data movement, normalisations, network ops). */
int ad_rule_matmul(ad_ctx *c, const g_node *n, int dy);
int ad_rule_add(ad_ctx *c, const g_node *n, int dy);
int ad_rule_sub(ad_ctx *c, const g_node *n, int dy);
int ad_rule_mul(ad_ctx *c, const g_node *n, int dy);
int ad_rule_div(ad_ctx *c, const g_node *n, int dy);
int ad_rule_scale(ad_ctx *c, const g_node *n, int dy);
int ad_rule_gelu(ad_ctx *c, const g_node *n, int dy);
int ad_rule_quickgelu(ad_ctx *c, const g_node *n, int dy);
int ad_rule_relu(ad_ctx *c, const g_node *n, int dy);
int ad_rule_sigmoid(ad_ctx *c, const g_node *n, int dy);
int ad_rule_exp(ad_ctx *c, const g_node *n, int dy);
int ad_rule_silu(ad_ctx *c, const g_node *n, int dy);
int ad_rule_log(ad_ctx *c, const g_node *n, int dy);
int ad_rule_sum(ad_ctx *c, const g_node *n, int dy);
int ad_rule_mean(ad_ctx *c, const g_node *n, int dy);
int ad_rule_sum_to(ad_ctx *c, const g_node *n, int dy);
int ad_rule_broadcast_to(ad_ctx *c, const g_node *n, int dy);
int ad_rule_reshape(ad_ctx *c, const g_node *n, int dy);
int ad_rule_permute(ad_ctx *c, const g_node *n, int dy);
int ad_rule_slice(ad_ctx *c, const g_node *n, int dy);
int ad_rule_concat(ad_ctx *c, const g_node *n, int dy);
int ad_rule_softmax(ad_ctx *c, const g_node *n, int dy);
int ad_rule_layernorm(ad_ctx *c, const g_node *n, int dy);
int ad_rule_batchnorm(ad_ctx *c, const g_node *n, int dy);
int ad_rule_l2norm(ad_ctx *c, const g_node *n, int dy);
int ad_rule_conv2d(ad_ctx *c, const g_node *n, int dy);
int ad_rule_avgpool2d(ad_ctx *c, const g_node *n, int dy);
int ad_rule_embedding(ad_ctx *c, const g_node *n, int dy);
int ad_rule_attention(ad_ctx *c, const g_node *n, int dy);
int ad_rule_bn_stats(ad_ctx *c, const g_node *n, int dy);
int ad_rule_bn_train(ad_ctx *c, const g_node *n, int dy);

#endif
