/* Private to backends/ref: the per-family entry points ref_eval_node()
 * dispatches to, and small helpers they share. Every entry point reads its
 * shapes from g->tensors (the builders decided them) and its storage from
 * data[tensor id]; storage is contiguous row-major, 4 bytes per element. */
#ifndef CLIPCL_REF_OPS_H
#define CLIPCL_REF_OPS_H

#include <stdint.h>

#include "graph/graph.h"
#include "runtime/status.h"

/* Unary (scale, gelu, quickgelu, relu, sigmoid, exp) and broadcasting binary
 * (add, sub, mul, div) ops. */
int ref_elementwise(const graph *g, const g_node *n, void **data);
int ref_matmul(const graph *g, const g_node *n, void **data);
/* softmax, layernorm, batchnorm, l2norm */
int ref_norm(const graph *g, const g_node *n, void **data);
/* conv2d, avgpool2d */
int ref_conv(const graph *g, const g_node *n, void **data);
/* sum, mean, max, argmax */
int ref_reduce(const graph *g, const g_node *n, void **data);
/* reshape, permute, slice, concat, embedding */
int ref_shape(const graph *g, const g_node *n, void **data);
int ref_attention(const graph *g, const g_node *n, void **data);
/* One query row's attention probabilities, shared by forward and backward:
 * p[s] = softmax over s < lim of scale * (qr . k row s), k rows `ldk` floats
 * apart, d channels; lim = t + 1 (at most S) when causal, else S, and p[s] = 0
 * for the masked s < S. Returns lim. */
int64_t ref_attn_probs(const float *qr, const float *k, int64_t ldk, int64_t d, int64_t S,
                       int causal, int64_t t, double scale, double *p);

/* Backward/loss ops (ref_grad_*.c). log, sum_to, broadcast_to and the
 * activation derivatives gelu/quickgelu/relu/sigmoid _grad. */
int ref_grad_elem(const graph *g, const g_node *n, void **data);
/* softmax_grad, layernorm_grad_x, layernorm_grad_gamma, l2norm_grad */
int ref_grad_norm(const graph *g, const g_node *n, void **data);
/* conv2d_grad_input, conv2d_grad_weight, avgpool2d_grad */
int ref_grad_conv(const graph *g, const g_node *n, void **data);
/* embedding_grad, slice_grad */
int ref_grad_shape(const graph *g, const g_node *n, void **data);
/* attention_grad: dq, dk or dv by attr which */
int ref_attention_grad(const graph *g, const g_node *n, void **data);

static inline const g_tensor *ref_t(const graph *g, int id) { return &g->tensors[id]; }

static inline int64_t ref_numel(const g_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->shape[i];
    return n;
}

/* Size of the last dim (1 for a scalar), and of everything before it. */
static inline int64_t ref_last_dim(const g_tensor *t) { return t->ndim ? t->shape[t->ndim - 1] : 1; }
static inline int64_t ref_rows(const g_tensor *t)
{
    int64_t d = ref_last_dim(t);
    return d ? ref_numel(t) / d : 0;
}

/* Optional input k of node n: its tensor id or -1. */
static inline int ref_opt_in(const g_node *n, int k) { return k < n->n_in ? n->in[k] : -1; }

#endif
