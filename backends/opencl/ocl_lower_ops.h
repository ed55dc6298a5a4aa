/* The OpenCL backend's per-op lowering functions, one per op kind it lowers
 * (named ocl_lower_<op name>), listed in ocl_op_table.c. Each appends the
 * launches of one node and returns 0 or a cc_code. */
#ifndef CLIPCL_OCL_LOWER_OPS_H
#define CLIPCL_OCL_LOWER_OPS_H

#include "backends/opencl/ocl_plan_internal.h"

typedef int (*ocl_lower_fn)(ocl_lower *lc, int node);

/* The table row of op: its lowering function, or NULL where the backend does
 * not lower it. */
ocl_lower_fn ocl_op_lowering(g_op op);

int ocl_lower_matmul(ocl_lower *lc, int node);
int ocl_lower_add(ocl_lower *lc, int node);
int ocl_lower_sub(ocl_lower *lc, int node);
int ocl_lower_mul(ocl_lower *lc, int node);
int ocl_lower_div(ocl_lower *lc, int node);
int ocl_lower_scale(ocl_lower *lc, int node);
int ocl_lower_gelu(ocl_lower *lc, int node);
int ocl_lower_quickgelu(ocl_lower *lc, int node);
int ocl_lower_relu(ocl_lower *lc, int node);
int ocl_lower_sigmoid(ocl_lower *lc, int node);
int ocl_lower_exp(ocl_lower *lc, int node);
int ocl_lower_softmax(ocl_lower *lc, int node);
int ocl_lower_layernorm(ocl_lower *lc, int node);
int ocl_lower_batchnorm(ocl_lower *lc, int node);
int ocl_lower_conv2d(ocl_lower *lc, int node);
int ocl_lower_avgpool2d(ocl_lower *lc, int node);
int ocl_lower_embedding(ocl_lower *lc, int node);
int ocl_lower_reshape(ocl_lower *lc, int node);
int ocl_lower_permute(ocl_lower *lc, int node);
int ocl_lower_slice(ocl_lower *lc, int node);
int ocl_lower_concat(ocl_lower *lc, int node);
int ocl_lower_sum(ocl_lower *lc, int node);
int ocl_lower_mean(ocl_lower *lc, int node);
int ocl_lower_max(ocl_lower *lc, int node);
int ocl_lower_argmax(ocl_lower *lc, int node);
int ocl_lower_l2norm(ocl_lower *lc, int node);
int ocl_lower_attention(ocl_lower *lc, int node);
int ocl_lower_silu(ocl_lower *lc, int node);
int ocl_lower_log(ocl_lower *lc, int node);
int ocl_lower_sum_to(ocl_lower *lc, int node);
int ocl_lower_broadcast_to(ocl_lower *lc, int node);
int ocl_lower_gelu_grad(ocl_lower *lc, int node);
int ocl_lower_quickgelu_grad(ocl_lower *lc, int node);
int ocl_lower_relu_grad(ocl_lower *lc, int node);
int ocl_lower_sigmoid_grad(ocl_lower *lc, int node);
int ocl_lower_softmax_grad(ocl_lower *lc, int node);
int ocl_lower_layernorm_grad_x(ocl_lower *lc, int node);
int ocl_lower_layernorm_grad_gamma(ocl_lower *lc, int node);
int ocl_lower_conv2d_grad_input(ocl_lower *lc, int node);
int ocl_lower_conv2d_grad_weight(ocl_lower *lc, int node);
int ocl_lower_avgpool2d_grad(ocl_lower *lc, int node);
int ocl_lower_embedding_grad(ocl_lower *lc, int node);
int ocl_lower_slice_grad(ocl_lower *lc, int node);
int ocl_lower_l2norm_grad(ocl_lower *lc, int node);
int ocl_lower_attention_grad(ocl_lower *lc, int node);
int ocl_lower_bn_stats(ocl_lower *lc, int node);       /* ocl_lower_bn_train.c */
int ocl_lower_bn_train(ocl_lower *lc, int node);
int ocl_lower_bn_grad_sums(ocl_lower *lc, int node);
int ocl_lower_bn_grad_x(ocl_lower *lc, int node);

#endif
