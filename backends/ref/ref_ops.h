/* Private to backends/ref: the per-op entry points ref_eval_node()
 * dispatches to, and small helpers they share. Every entry point reads its
 * shapes from g->tensors (the builders decided them) and its storage from
 * data[tensor id]; storage is contiguous row-major, 4 bytes per element. */
#ifndef CLIPCL_REF_OPS_H
#define CLIPCL_REF_OPS_H

#include <stdint.h>

#include "graph/graph.h"
#include "runtime/status.h"

/* One entry point per op kind (named ref_<op name>), each listed in
 * ref_op_table.c. Elementwise ops pair a scalar function with a shared loop
 * (ref_elementwise.c, ref_grad_elem.c). */
typedef int (*ref_op_fn)(const graph *g, const g_node *n, void **data);

/* The table row of op, or NULL where the backend has no function for it. */
ref_op_fn ref_op_function(g_op op);

int ref_matmul(const graph *g, const g_node *n, void **data);
int ref_add(const graph *g, const g_node *n, void **data);
int ref_sub(const graph *g, const g_node *n, void **data);
int ref_mul(const graph *g, const g_node *n, void **data);
int ref_div(const graph *g, const g_node *n, void **data);
int ref_scale(const graph *g, const g_node *n, void **data);
int ref_gelu(const graph *g, const g_node *n, void **data);
int ref_quickgelu(const graph *g, const g_node *n, void **data);
int ref_relu(const graph *g, const g_node *n, void **data);
int ref_sigmoid(const graph *g, const g_node *n, void **data);
int ref_exp(const graph *g, const g_node *n, void **data);
int ref_softmax(const graph *g, const g_node *n, void **data);
int ref_layernorm(const graph *g, const g_node *n, void **data);
int ref_batchnorm(const graph *g, const g_node *n, void **data);
int ref_bn_stats(const graph *g, const g_node *n, void **data);
int ref_bn_train(const graph *g, const g_node *n, void **data);
int ref_bn_grad_sums(const graph *g, const g_node *n, void **data);
int ref_bn_grad_x(const graph *g, const g_node *n, void **data);
int ref_conv2d(const graph *g, const g_node *n, void **data);
int ref_avgpool2d(const graph *g, const g_node *n, void **data);
int ref_embedding(const graph *g, const g_node *n, void **data);
int ref_reshape(const graph *g, const g_node *n, void **data);
int ref_permute(const graph *g, const g_node *n, void **data);
int ref_slice(const graph *g, const g_node *n, void **data);
int ref_concat(const graph *g, const g_node *n, void **data);
int ref_sum(const graph *g, const g_node *n, void **data);
int ref_mean(const graph *g, const g_node *n, void **data);
int ref_max(const graph *g, const g_node *n, void **data);
int ref_argmax(const graph *g, const g_node *n, void **data);
int ref_l2norm(const graph *g, const g_node *n, void **data);
int ref_attention(const graph *g, const g_node *n, void **data);
int ref_silu(const graph *g, const g_node *n, void **data);
int ref_log(const graph *g, const g_node *n, void **data);
int ref_sum_to(const graph *g, const g_node *n, void **data);
int ref_broadcast_to(const graph *g, const g_node *n, void **data);
int ref_gelu_grad(const graph *g, const g_node *n, void **data);
int ref_quickgelu_grad(const graph *g, const g_node *n, void **data);
int ref_relu_grad(const graph *g, const g_node *n, void **data);
int ref_sigmoid_grad(const graph *g, const g_node *n, void **data);
int ref_softmax_grad(const graph *g, const g_node *n, void **data);
int ref_layernorm_grad_x(const graph *g, const g_node *n, void **data);
int ref_layernorm_grad_gamma(const graph *g, const g_node *n, void **data);
int ref_conv2d_grad_input(const graph *g, const g_node *n, void **data);
int ref_conv2d_grad_weight(const graph *g, const g_node *n, void **data);
int ref_avgpool2d_grad(const graph *g, const g_node *n, void **data);
int ref_embedding_grad(const graph *g, const g_node *n, void **data);
int ref_slice_grad(const graph *g, const g_node *n, void **data);
int ref_l2norm_grad(const graph *g, const g_node *n, void **data);
int ref_attention_grad(const graph *g, const g_node *n, void **data);

/* One query row's attention probabilities, shared by forward and backward:
 * p[s] = softmax over s < lim of scale * (qr . k row s), k rows `ldk` floats
 * apart, d channels; lim = t + 1 (at most S) when causal, else S, and p[s] = 0
 * for the masked s < S. Returns lim. */
int64_t ref_attn_probs(const float *qr, const float *k, int64_t ldk, int64_t d, int64_t S,
                       int causal, int64_t t, double scale, double *p);

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
