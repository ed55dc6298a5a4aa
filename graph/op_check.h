/* The output checks the op table's rows point to (graph/op_check.c): each
 * re-derives a node's output dtype and shape from its inputs and attrs and
 * compares them with what the appender recorded, so nodes appended by passes
 * (autodiff, fusion) get the same check as the builders' own. Builders check
 * first, with their own messages; these catch a pass's mistake. */
#ifndef CLIPCL_OP_CHECK_H
#define CLIPCL_OP_CHECK_H

#include "graph/op_table.h"

int g_check_same_as_x(graph *g, const g_node *n, const g_tensor *out);  /* pointwise, norms */
int g_check_pair(graph *g, const g_node *n, const g_tensor *out);       /* (x or y, dy) derivatives */
int g_check_binary(graph *g, const g_node *n, const g_tensor *out);     /* numpy broadcasting */
int g_check_reduce(graph *g, const g_node *n, const g_tensor *out);     /* over the last dim */
int g_check_argmax(graph *g, const g_node *n, const g_tensor *out);
int g_check_matmul(graph *g, const g_node *n, const g_tensor *out);
int g_check_conv2d(graph *g, const g_node *n, const g_tensor *out);
int g_check_avgpool2d(graph *g, const g_node *n, const g_tensor *out);
int g_check_embedding(graph *g, const g_node *n, const g_tensor *out);
int g_check_reshape(graph *g, const g_node *n, const g_tensor *out);
int g_check_permute(graph *g, const g_node *n, const g_tensor *out);
int g_check_slice(graph *g, const g_node *n, const g_tensor *out);
int g_check_concat(graph *g, const g_node *n, const g_tensor *out);
int g_check_attention(graph *g, const g_node *n, const g_tensor *out);
int g_check_sum_to(graph *g, const g_node *n, const g_tensor *out);
int g_check_broadcast_to(graph *g, const g_node *n, const g_tensor *out);
int g_check_ln_grad_gamma(graph *g, const g_node *n, const g_tensor *out);
int g_check_conv2d_grad_input(graph *g, const g_node *n, const g_tensor *out);
int g_check_conv2d_grad_weight(graph *g, const g_node *n, const g_tensor *out);
int g_check_avgpool2d_grad(graph *g, const g_node *n, const g_tensor *out);
int g_check_embedding_grad(graph *g, const g_node *n, const g_tensor *out);
int g_check_slice_grad(graph *g, const g_node *n, const g_tensor *out);
int g_check_attention_grad(graph *g, const g_node *n, const g_tensor *out);

#endif
