/* The device-memory budget of a plan: what its buffers need (params, inputs,
 * the activation arena, scratch) against what the device offers
 * (CL_DEVICE_GLOBAL_MEM_SIZE in all, CL_DEVICE_MAX_MEM_ALLOC_SIZE per
 * buffer, both lowered by CLIPCL_DEVICE_MEM_LIMIT). Checked before the big
 * allocations, so an oversized model or batch is one clear error naming both
 * numbers and the batch that would fit, not a failure inside clCreateBuffer. */
#ifndef CLIPCL_OCL_PLAN_MEM_H
#define CLIPCL_OCL_PLAN_MEM_H

#include <stddef.h>
#include <stdint.h>

#include "graph/graph.h"
#include "runtime/rt.h"

typedef struct ocl_mem_need {
    size_t params, inputs; /* own buffers */
    size_t arena;          /* the activation arena, one buffer */
    size_t scratch;        /* private plus shared scratch so far */
    size_t derived;        /* derived from params (packed weights, folded
                              BatchNorm): like params, the same at any batch */
    size_t largest;        /* the largest single buffer */
} ocl_mem_need;

/* The sizes of params and inputs (own buffers) of g; the rest 0. */
void ocl_mem_need_of(const graph *g, ocl_mem_need *need);

/* The device's limits: global bytes and bytes per buffer, each lowered by
 * CLIPCL_DEVICE_MEM_LIMIT when set. *limited: 1 when the variable lowered one. */
void ocl_mem_limits(const rt_ctx *ctx, uint64_t *global, uint64_t *per_buffer, int *limited);

/* CC_OK when need fits ctx's device; else CC_ERR_NOMEM with one line naming
 * what is needed, both device numbers, and the largest batch (leading dim of
 * g's inputs) that would fit. `extra`: a buffer about to be allocated on top
 * of need (its size also counts as a single buffer). */
int ocl_mem_check(const rt_ctx *ctx, const graph *g, const ocl_mem_need *need, size_t extra);

#endif
