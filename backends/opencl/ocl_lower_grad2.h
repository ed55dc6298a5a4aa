/* Lowerings of the spatial and attention backward ops:
 * G_OP_CONV2D_GRAD_INPUT, G_OP_CONV2D_GRAD_WEIGHT, G_OP_AVGPOOL2D_GRAD
 * (ocl_lower_conv_grad.c, kernels/conv_grad.cl) and G_OP_ATTENTION_GRAD
 * (ocl_lower_attention_grad.c, kernels/attention_grad.cl). Same contract as
 * the lowering functions of ocl_backend.h: 0 or a cc_code. */
#ifndef CLIPCL_OCL_LOWER_GRAD2_H
#define CLIPCL_OCL_LOWER_GRAD2_H

#include "backends/opencl/ocl_backend.h"

int ocl_lower_conv_grad(ocl_lower *lc, int node);      /* conv2d_grad_input/_weight, avgpool2d_grad */
int ocl_lower_attention_grad(ocl_lower *lc, int node); /* attention_grad (dq, dk or dv) */

#endif
