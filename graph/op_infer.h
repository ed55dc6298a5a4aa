/* Output inference of the op table's rows (graph/op_infer.c): each derives a
 * node's output dtype and shape from its inputs and attrs. It is the one
 * place that says what shape an op makes: builders append through
 * g_op_append(), which infers, and g_append_node() compares what its caller
 * recorded with what the row infers, so nodes that passes (autodiff, fusion)
 * append get the same check. For the ops whose output shape is a parameter
 * (reshape, sum_to, broadcast_to and the backward ops that restore an input's
 * shape), out holds the requested shape on entry and the function validates
 * it against the inputs instead. Builders validate first, with messages of
 * their own; these messages name the op and what it expected. */
#ifndef CLIPCL_OP_INFER_H
#define CLIPCL_OP_INFER_H

#include "graph/op_table.h"

int g_infer_same_as_x(graph *g, const g_node *n, g_tensor *out); /* pointwise, norms */
int g_infer_pair(graph *g, const g_node *n, g_tensor *out);      /* (x or y, dy) derivatives */
int g_infer_binary(graph *g, const g_node *n, g_tensor *out);    /* numpy broadcasting */
int g_infer_reduce(graph *g, const g_node *n, g_tensor *out);    /* over the last dim */
int g_infer_argmax(graph *g, const g_node *n, g_tensor *out);
int g_infer_matmul(graph *g, const g_node *n, g_tensor *out);
int g_infer_conv2d(graph *g, const g_node *n, g_tensor *out);
int g_infer_avgpool2d(graph *g, const g_node *n, g_tensor *out);
int g_infer_embedding(graph *g, const g_node *n, g_tensor *out);
int g_infer_permute(graph *g, const g_node *n, g_tensor *out);
int g_infer_slice(graph *g, const g_node *n, g_tensor *out);
int g_infer_concat(graph *g, const g_node *n, g_tensor *out);
int g_infer_attention(graph *g, const g_node *n, g_tensor *out);
int g_infer_ln_grad_gamma(graph *g, const g_node *n, g_tensor *out);
int g_infer_bn_stats(graph *g, const g_node *n, g_tensor *out);  /* bn_stats, bn_grad_sums: [2, C] */
int g_infer_conv2d_grad_weight(graph *g, const g_node *n, g_tensor *out);
int g_infer_attention_grad(graph *g, const g_node *n, g_tensor *out);
/* Output shape given by the caller (out on entry), validated. */
int g_infer_reshape(graph *g, const g_node *n, g_tensor *out);
int g_infer_sum_to(graph *g, const g_node *n, g_tensor *out);
int g_infer_broadcast_to(graph *g, const g_node *n, g_tensor *out);
int g_infer_conv2d_grad_input(graph *g, const g_node *n, g_tensor *out);
int g_infer_avgpool2d_grad(graph *g, const g_node *n, g_tensor *out);
int g_infer_embedding_grad(graph *g, const g_node *n, g_tensor *out);
int g_infer_slice_grad(graph *g, const g_node *n, g_tensor *out);

#endif
