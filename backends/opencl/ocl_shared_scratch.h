/* The plan-wide transient scratch (ocl_lower_shared_scratch): one buffer per
 * plan, sized to the largest total any single node asks for, reused by every
 * node. The queue is in order, so node i's launches have finished before node
 * i+1's start and their scratch bytes can overlap.
 *
 * The size is known only after every node is lowered, but lowerings bind
 * kernel arguments as they go. So a request returns a placeholder cl_mem (a
 * 4-byte buffer); ocl_set_args() reports every cl_mem argument it sets to
 * ocl_ss_note_arg(), which records (kernel, arg index) when the value is a
 * placeholder. After lowering, ocl_ss_finish() creates the real buffer, one
 * sub-buffer per request at its offset, re-binds each recorded argument to its
 * sub-buffer and releases the placeholders. Requests of one node stack (no
 * overlap between them); requests of different nodes start at offset 0.
 *
 * Rules for users: the contents live only within the node's own launches
 * (never a "static" launch's output, never read by a later node); the handle
 * goes to kernels through ocl_set_args() or a raw clSetKernelArg() followed
 * by ocl_ss_note_arg(), and into host-call data only with ocl_ss_note_slot()
 * on the field. A request that nothing ever took fails ocl_ss_finish(), so a
 * forgotten note is loud. */
#ifndef CLIPCL_OCL_SHARED_SCRATCH_H
#define CLIPCL_OCL_SHARED_SCRATCH_H

#include <stddef.h>

#include "runtime/rt.h"

typedef struct ocl_ss_req {
    cl_mem ph;            /* placeholder handed out; NULL once replaced */
    cl_mem sub;           /* the sub-buffer it became */
    size_t off, bytes;
    int bound;            /* arguments recorded for it */
} ocl_ss_req;

typedef struct ocl_ss_patch {
    cl_kernel k;          /* a kernel argument, or ... */
    cl_uint arg;
    cl_mem *slot;         /* ... a cl_mem inside plan-owned host-call data */
    int req;
} ocl_ss_patch;

/* Embedded in the plan, zero-initialised. */
typedef struct ocl_shared_scratch {
    ocl_ss_req *req;
    int n_req, cap_req;
    ocl_ss_patch *patch;
    int n_patch, cap_patch;
    int node;             /* the node being lowered (set by the plan) */
    int req_node;         /* the node of the latest request */
    size_t cursor;        /* end of the latest node's requests */
    size_t bytes;         /* size of the shared buffer: the largest cursor */
    cl_mem buf;
    int oom;              /* recording an argument ran out of memory */
} ocl_shared_scratch;

/* Between begin and end, this thread's ocl_ss_note_arg() calls record into ss. */
void ocl_ss_begin(ocl_shared_scratch *ss);
void ocl_ss_end(void);

/* A placeholder for `bytes` of shared scratch for node ss->node. */
int ocl_ss_request(ocl_shared_scratch *ss, rt_ctx *ctx, size_t bytes, cl_mem *out);

/* Argument `arg` of k was just set to v: recorded when v is a placeholder of
 * the plan being lowered on this thread, ignored otherwise. */
void ocl_ss_note_arg(cl_kernel k, cl_uint arg, cl_mem v);
/* *slot (a cl_mem inside host-call data the plan owns until it is freed)
 * may hold a placeholder: recorded, and overwritten with the sub-buffer. */
void ocl_ss_note_slot(cl_mem *slot);

/* Create the shared buffer and re-bind every recorded argument. */
int ocl_ss_finish(ocl_shared_scratch *ss, rt_ctx *ctx);

/* Release everything (sub-buffers, then the buffer, then any placeholder). */
void ocl_ss_free(ocl_shared_scratch *ss);

#endif
