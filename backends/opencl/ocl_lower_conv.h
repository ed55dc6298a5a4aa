/* What the conv2d lowerings share (ocl_lower_conv.c: im2col + GEMM and the
 * choice; ocl_lower_conv_direct.c: the implicit GEMMs on the input in place). */
#ifndef CLIPCL_OCL_LOWER_CONV_H
#define CLIPCL_OCL_LOWER_CONV_H

#include "backends/opencl/ocl_backend.h"
#include "backends/opencl/ocl_gemm.h"

typedef struct conv_geom {
    int N, C, H, W, O, KH, KW, SH, SW, PH, PW, OH, OW;
} conv_geom;

/* The buffers a conv2d reads and writes: the node's own, or a folded weight
 * and bias and the output of a fused run (ocl_fusion_conv.c). */
typedef struct conv_io {
    cl_mem w, bias, y; /* bias NULL: none */
    ocl_gemm_act act;  /* GEMM epilogue activation */
    int w_static;      /* w derives from params only: packed once by a static launch */
    cl_mem res;        /* added before the activation (shaped like y); NULL: none */
} conv_io;

/* 1 when the policy's conv variant (direct on CPU-style devices, local on
 * GPU-style ones) covers the shape: direct stride 1, local any stride; any
 * kernel size and padding; an activation of none or ReLU. Only these take a
 * residual (io->res). */
int ocl_conv_direct_applies(ocl_lower *lc, const conv_geom *c, const conv_io *io);
/* The node as one implicit GEMM over the batch: the input zero-padded into
 * scratch (in chunks of images under the policy's conv scratch cap) unless
 * the conv has no padding, the weight packed into row panels. */
int ocl_lower_conv2d_direct(ocl_lower *lc, int node, const conv_geom *c, const conv_io *io);

/* The geometry of conv node `node` (its tensors must be 4-D). */
conv_geom ocl_conv_geom(const graph *g, int node);

#endif
