/* One context and one in-order queue per rt_ctx; buffers and events. */
#include "runtime/program_cache.h"

#include <stdlib.h>
#include <string.h>
#include "runtime/settings.h"

int rt_ctx_create(const char *spec, int profiling, rt_ctx **out)
{
    if (!out)
        return cc_fail(CC_ERR_INVALID, "rt_ctx_create: out must not be NULL");
    *out = NULL;
    rt_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return cc_fail(CC_ERR_NOMEM, "rt_ctx_create: out of memory");
    int rc = rt_select_device(spec, &c->dev);
    if (rc != CC_OK) {
        free(c);
        return rc;
    }
    rt_policy_fill(&c->policy, &c->dev);
    const char *env = rt_setting_value(RT_SET_PROFILE);
    c->profiling = profiling || (env && strcmp(env, "1") == 0);

    cl_int err = CL_SUCCESS;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)c->dev.platform, 0};
    c->context = clCreateContext(props, 1, &c->dev.device, NULL, NULL, &err);
    if (err != CL_SUCCESS) {
        rc = cc_fail(CC_ERR_OPENCL, "clCreateContext(%s) failed: %s", c->dev.device_name,
                     rt_cl_error_string(err));
        free(c);
        return rc;
    }
    /* In-order on purpose: a plan is a straight sequence of launches and
     * relies on each one seeing the previous one's writes. */
    c->queue = clCreateCommandQueue(c->context, c->dev.device,
                                    c->profiling ? CL_QUEUE_PROFILING_ENABLE : 0, &err);
    if (err != CL_SUCCESS) {
        rc = cc_fail(CC_ERR_OPENCL, "clCreateCommandQueue(%s) failed: %s", c->dev.device_name,
                     rt_cl_error_string(err));
        clReleaseContext(c->context);
        free(c);
        return rc;
    }
    *out = c;
    return CC_OK;
}

void rt_ctx_free(rt_ctx *ctx)
{
    if (!ctx)
        return;
    if (ctx->queue) {
        clFinish(ctx->queue);
        clReleaseCommandQueue(ctx->queue);
    }
    for (int i = 0; i < ctx->n_programs; i++) {
        clReleaseProgram(ctx->programs[i].program);
        free(ctx->programs[i].file);
        free(ctx->programs[i].options);
    }
    free(ctx->programs);
    if (ctx->context)
        clReleaseContext(ctx->context);
    free(ctx);
}

int rt_alloc(rt_ctx *ctx, size_t bytes, cl_mem *out)
{
    if (!ctx || !out)
        return cc_fail(CC_ERR_INVALID, "rt_alloc: ctx and out must not be NULL");
    if (bytes == 0)
        return cc_fail(CC_ERR_INVALID, "rt_alloc: size must be > 0 bytes, found 0");
    if (ctx->dev.max_alloc_bytes && bytes > ctx->dev.max_alloc_bytes)
        return cc_fail(CC_ERR_NOMEM, "rt_alloc: %zu bytes exceeds the device's max allocation of %llu bytes (%s)",
                       bytes, (unsigned long long)ctx->dev.max_alloc_bytes, ctx->dev.device_name);
    cl_int err = CL_SUCCESS;
    cl_mem m = clCreateBuffer(ctx->context, CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (err != CL_SUCCESS)
        return cc_fail(err == CL_MEM_OBJECT_ALLOCATION_FAILURE || err == CL_OUT_OF_HOST_MEMORY
                           ? CC_ERR_NOMEM : CC_ERR_OPENCL,
                       "clCreateBuffer(%zu bytes) failed: %s", bytes, rt_cl_error_string(err));
    *out = m;
    return CC_OK;
}

int rt_upload(rt_ctx *ctx, cl_mem m, size_t offset, const void *src, size_t bytes)
{
    if (bytes == 0)
        return CC_OK;
    RT_CHECK(clEnqueueWriteBuffer(ctx->queue, m, CL_TRUE, offset, bytes, src, 0, NULL, NULL));
    return CC_OK;
}

int rt_download(rt_ctx *ctx, cl_mem m, size_t offset, void *dst, size_t bytes)
{
    if (bytes == 0)
        return CC_OK;
    RT_CHECK(clEnqueueReadBuffer(ctx->queue, m, CL_TRUE, offset, bytes, dst, 0, NULL, NULL));
    return CC_OK;
}

int rt_finish(rt_ctx *ctx)
{
    RT_CHECK(clFinish(ctx->queue));
    return CC_OK;
}

double rt_event_seconds(cl_event ev)
{
    cl_ulong t0 = 0, t1 = 0;
    if (!ev || clWaitForEvents(1, &ev) != CL_SUCCESS ||
        clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_START, sizeof t0, &t0, NULL) != CL_SUCCESS ||
        clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_END, sizeof t1, &t1, NULL) != CL_SUCCESS)
        return -1.0; /* no profiling on this queue: callers report "n/a" */
    return t1 >= t0 ? (double)(t1 - t0) * 1e-9 : 0.0;
}
