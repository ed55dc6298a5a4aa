/* A GEMM sink outside any plan: records launches and host calls, owns their
 * kernels, buffers and call data, and enqueues them on demand. Used by the
 * device selection (ocl_gemm_select.c), benchmarks and tests. */
#include <stdlib.h>
#include <string.h>

#include "backends/opencl/ocl_gemm.h"
#include "runtime/grow.h"
#include "runtime/status.h"

typedef struct direct_step {
    cl_kernel k;          /* NULL for a host call */
    cl_uint dims;
    size_t gws[3], lws[3];
    int has_lws;
    ocl_host_call fn;
    void *data;
} direct_step;

struct ocl_gemm_direct {
    rt_ctx *ctx;
    direct_step *steps;
    int n_steps, cap_steps;
    cl_kernel *kernels;
    int n_kernels, cap_kernels;
    cl_mem *mems;
    int n_mems, cap_mems;
};

int ocl_gemm_direct_create(rt_ctx *ctx, ocl_gemm_direct **out)
{
    *out = calloc(1, sizeof **out);
    if (!*out)
        return cc_fail(CC_ERR_NOMEM, "ocl_gemm_direct: out of memory");
    (*out)->ctx = ctx;
    return CC_OK;
}

void ocl_gemm_direct_free(ocl_gemm_direct *d)
{
    if (!d)
        return;
    for (int i = 0; i < d->n_steps; i++)
        free(d->steps[i].data);
    for (int i = 0; i < d->n_kernels; i++)
        clReleaseKernel(d->kernels[i]);
    for (int i = 0; i < d->n_mems; i++)
        clReleaseMemObject(d->mems[i]);
    free(d->steps);
    free(d->kernels);
    free(d->mems);
    free(d);
}

static int d_kernel(void *u, const char *file, const char *name, const char *opts, cl_kernel *out)
{
    ocl_gemm_direct *d = u;
    int rc = cc_grow((void **)&d->kernels, &d->cap_kernels, d->n_kernels + 1, sizeof(cl_kernel), "ocl_gemm_direct kernels");
    if (rc || (rc = rt_kernel(d->ctx, file, opts, name, out)))
        return rc;
    d->kernels[d->n_kernels++] = *out;
    return CC_OK;
}

static int d_scratch(void *u, size_t bytes, cl_mem *out)
{
    ocl_gemm_direct *d = u;
    int rc = cc_grow((void **)&d->mems, &d->cap_mems, d->n_mems + 1, sizeof(cl_mem), "ocl_gemm_direct buffers");
    if (rc || (rc = rt_alloc(d->ctx, bytes, out)))
        return rc;
    d->mems[d->n_mems++] = *out;
    return CC_OK;
}

static int d_launch(void *u, cl_kernel k, cl_uint dims, const size_t *gws, const size_t *lws)
{
    ocl_gemm_direct *d = u;
    int rc = cc_grow((void **)&d->steps, &d->cap_steps, d->n_steps + 1, sizeof(direct_step), "ocl_gemm_direct steps");
    if (rc)
        return rc;
    direct_step *s = &d->steps[d->n_steps++];
    memset(s, 0, sizeof *s);
    s->k = k;
    s->dims = dims;
    for (cl_uint i = 0; i < dims && i < 3; i++) {
        s->gws[i] = gws[i];
        s->lws[i] = lws ? lws[i] : 0;
    }
    s->has_lws = lws != NULL;
    return CC_OK;
}

static int d_call(void *u, ocl_host_call fn, void *data)
{
    ocl_gemm_direct *d = u;
    int rc = cc_grow((void **)&d->steps, &d->cap_steps, d->n_steps + 1, sizeof(direct_step), "ocl_gemm_direct steps");
    if (rc) {
        free(data);
        return rc;
    }
    direct_step *s = &d->steps[d->n_steps++];
    memset(s, 0, sizeof *s);
    s->fn = fn;
    s->data = data;
    return CC_OK;
}

void ocl_gemm_direct_sink(ocl_gemm_direct *d, ocl_gemm_sink *out)
{
    out->ctx = d->ctx;
    out->user = d;
    out->kernel = d_kernel;
    out->scratch = d_scratch;
    out->launch = d_launch;
    out->call = d_call;
    out->persistent = NULL; /* every call packs its operands anew */
    out->launch_static = NULL;
    out->packed_only = NULL;
}

int ocl_gemm_direct_run(ocl_gemm_direct *d)
{
    for (int i = 0; i < d->n_steps; i++) {
        direct_step *s = &d->steps[i];
        if (s->k) {
            RT_CHECK(clEnqueueNDRangeKernel(d->ctx->queue, s->k, s->dims, NULL, s->gws,
                                            s->has_lws ? s->lws : NULL, 0, NULL, NULL));
        } else {
            int rc = s->fn(d->ctx, s->data);
            if (rc)
                return rc;
        }
    }
    return CC_OK;
}
