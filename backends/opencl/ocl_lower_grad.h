/* Lowering of the backward/loss ops (kernels/grad.cl), split by kind:
 * ocl_lower_grad.c the elementwise and data-movement ops, ocl_lower_grad_rows.c
 * the row ops and reductions. Their per-op entry points are declared in
 * ocl_lower_ops.h; this header shares a helper between the two files. */
#ifndef CLIPCL_OCL_LOWER_GRAD_H
#define CLIPCL_OCL_LOWER_GRAD_H

#include "backends/opencl/ocl_lower_ops.h"

/* How many chunks to cut a reduction into so that n_out * chunks work-items
 * fill the device: len is the length of the dim that is cut, per_step the
 * elements summed per index of it. Each chunk keeps >= 256 elements; a CPU
 * class device wants few work-items, a GPU many. *chunk gets the chunk
 * length along the cut dim. Returns the chunk count (>= 1). */
int ocl_grad_split(ocl_lower *lc, int64_t n_out, int64_t len, int64_t per_step, int64_t *chunk);

#endif
