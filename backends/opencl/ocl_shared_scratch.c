/* The plan-wide transient scratch: placeholders while lowering, one buffer and
 * re-bound kernel arguments afterwards (design in ocl_shared_scratch.h). */
#include "backends/opencl/ocl_shared_scratch.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/grow.h"
#include "runtime/status.h"

static _Thread_local ocl_shared_scratch *tl_ss;

void ocl_ss_begin(ocl_shared_scratch *ss) { tl_ss = ss; }
void ocl_ss_end(void) { tl_ss = NULL; }

static size_t align_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

int ocl_ss_request(ocl_shared_scratch *ss, rt_ctx *ctx, size_t bytes, cl_mem *out)
{
    *out = NULL;
    if (cc_grow((void **)&ss->req, &ss->cap_req, ss->n_req + 1, sizeof(ocl_ss_req), "shared scratch requests"))
        return cc_fail(CC_ERR_NOMEM, "shared scratch: out of host memory for request %d", ss->n_req + 1);
    /* sub-buffer origins must meet the device's base-address alignment */
    size_t align = ctx->dev.mem_base_addr_align_bytes;
    if (align < 64)
        align = 64;
    if (bytes == 0)
        bytes = 4;
    if (ss->n_req == 0 || ss->req_node != ss->node) {
        ss->req_node = ss->node;
        ss->cursor = 0;
    }
    const size_t off = align_up(ss->cursor, align);
    cl_mem ph;
    int rc = rt_alloc(ctx, 4, &ph);
    if (rc)
        return rc;
    ocl_ss_req *r = &ss->req[ss->n_req++];
    memset(r, 0, sizeof *r);
    r->ph = ph;
    r->off = off;
    r->bytes = bytes;
    ss->cursor = off + bytes;
    if (ss->cursor > ss->bytes)
        ss->bytes = ss->cursor;
    *out = ph;
    return CC_OK;
}

static void note(cl_kernel k, cl_uint arg, cl_mem *slot, cl_mem v)
{
    ocl_shared_scratch *ss = tl_ss;
    if (!ss || !v)
        return;
    /* newest first: the request is almost always the node's own, just made */
    for (int i = ss->n_req - 1; i >= 0; i--) {
        if (ss->req[i].ph != v)
            continue;
        if (cc_grow((void **)&ss->patch, &ss->cap_patch, ss->n_patch + 1, sizeof(ocl_ss_patch), "shared scratch patches")) {
            ss->oom = 1;
            return;
        }
        ss->patch[ss->n_patch++] = (ocl_ss_patch){k, arg, slot, i};
        ss->req[i].bound++;
        return;
    }
}

void ocl_ss_note_arg(cl_kernel k, cl_uint arg, cl_mem v) { note(k, arg, NULL, v); }

void ocl_ss_note_slot(cl_mem *slot)
{
    if (slot)
        note(NULL, 0, slot, *slot);
}

int ocl_ss_finish(ocl_shared_scratch *ss, rt_ctx *ctx)
{
    if (ss->oom)
        return cc_fail(CC_ERR_NOMEM, "shared scratch: out of host memory recording kernel arguments");
    if (ss->n_req == 0)
        return CC_OK;
    for (int i = 0; i < ss->n_req; i++)
        if (!ss->req[i].bound)
            return cc_fail(CC_ERR_INVALID,
                           "shared scratch: request %d (%zu bytes) was never bound to a kernel argument "
                           "(use ocl_set_args, or ocl_ss_note_arg after clSetKernelArg)",
                           i, ss->req[i].bytes);
    int rc = rt_alloc(ctx, ss->bytes, &ss->buf);
    if (rc)
        return rc;
    for (int i = 0; i < ss->n_req; i++) {
        ocl_ss_req *r = &ss->req[i];
        cl_buffer_region reg = {r->off, r->bytes};
        cl_int err;
        r->sub = clCreateSubBuffer(ss->buf, CL_MEM_READ_WRITE, CL_BUFFER_CREATE_TYPE_REGION, &reg, &err);
        if (err != CL_SUCCESS) {
            r->sub = NULL;
            return cc_fail(CC_ERR_OPENCL, "shared scratch: clCreateSubBuffer(offset %zu, %zu bytes of %zu) failed: %s",
                           r->off, r->bytes, ss->bytes, rt_cl_error_string(err));
        }
    }
    for (int i = 0; i < ss->n_patch; i++) {
        const ocl_ss_patch *p = &ss->patch[i];
        cl_mem sub = ss->req[p->req].sub;
        if (p->slot) {
            *p->slot = sub;
            continue;
        }
        cl_int err = clSetKernelArg(p->k, p->arg, sizeof sub, &sub);
        if (err != CL_SUCCESS)
            return cc_fail(CC_ERR_OPENCL, "shared scratch: re-binding kernel argument %u failed: %s", p->arg,
                           rt_cl_error_string(err));
    }
    /* every argument and slot now names its sub-buffer: the placeholders can go */
    for (int i = 0; i < ss->n_req; i++) {
        clReleaseMemObject(ss->req[i].ph);
        ss->req[i].ph = NULL;
    }
    free(ss->patch);
    ss->patch = NULL;
    ss->n_patch = ss->cap_patch = 0;
    return CC_OK;
}

void ocl_ss_free(ocl_shared_scratch *ss)
{
    for (int i = 0; i < ss->n_req; i++) {
        if (ss->req[i].sub)
            clReleaseMemObject(ss->req[i].sub);
        if (ss->req[i].ph)
            clReleaseMemObject(ss->req[i].ph);
    }
    if (ss->buf)
        clReleaseMemObject(ss->buf);
    free(ss->req);
    free(ss->patch);
    memset(ss, 0, sizeof *ss);
}
