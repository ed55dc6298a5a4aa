/* Shape helpers shared by the lowering files: contiguous strides and the
 * collapse of dims that can be walked as one, so that most ops reach a
 * one- or two-dim fast path. */
#include <stdio.h>

#include "backends/opencl/ocl_lower_ops.h"

void ocl_contig_strides(const g_tensor *t, int64_t *strides)
{
    int64_t s = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        strides[d] = s;
        s *= t->shape[d];
    }
}

int ocl_collapse_dims(int ndim, int64_t *shape, int nops, int64_t strides[][G_MAX_DIMS])
{
    int n = 0;
    /* Drop size-1 dims: their stride never matters. */
    for (int d = 0; d < ndim; d++) {
        if (shape[d] == 1)
            continue;
        shape[n] = shape[d];
        for (int o = 0; o < nops; o++)
            strides[o][n] = strides[o][d];
        n++;
    }
    if (n == 0) {
        shape[0] = 1;
        for (int o = 0; o < nops; o++)
            strides[o][0] = 0;
        return 1;
    }
    /* Merge dim d into the kept dim before it when, for every operand, one
     * step in the outer dim equals a full sweep of the inner one. */
    int m = 0;
    for (int d = 1; d < n; d++) {
        int ok = 1;
        for (int o = 0; o < nops && ok; o++)
            ok = strides[o][m] == strides[o][d] * shape[d];
        if (ok) {
            shape[m] *= shape[d];
            for (int o = 0; o < nops; o++)
                strides[o][m] = strides[o][d];
        } else {
            m++;
            shape[m] = shape[d];
            for (int o = 0; o < nops; o++)
                strides[o][m] = strides[o][d];
        }
    }
    return m + 1;
}

int ocl_lower_const_i64(ocl_lower *lc, const int64_t *vals, int n, cl_mem *out)
{
    size_t bytes = sizeof(int64_t) * (size_t)n;
    int rc = ocl_lower_scratch(lc, bytes, out);
    if (rc)
        return rc;
    RT_CHECK(clEnqueueWriteBuffer(ocl_lower_ctx(lc)->queue, *out, CL_TRUE, 0, bytes, vals, 0, NULL, NULL));
    return 0;
}

int ocl_lower_row_kernel(ocl_lower *lc, const char *file, const char *base, cl_kernel *out)
{
    char name[64], opts[64] = "";
    int gpu = ocl_lower_gpu_rows(lc);
    snprintf(name, sizeof name, "%s%s", base, gpu ? "_wg" : "_rows");
    if (gpu)
        snprintf(opts, sizeof opts, "-DWG=%zu", ocl_lower_row_wg(lc));
    return ocl_lower_kernel(lc, file, name, opts, out);
}

int ocl_lower_row_launch(ocl_lower *lc, int node, cl_kernel k, int64_t nrows)
{
    if (ocl_lower_gpu_rows(lc)) {
        size_t wg = ocl_lower_row_wg(lc);
        size_t gws = (size_t)nrows * wg;
        return ocl_lower_launch(lc, node, k, 1, &gws, &wg);
    }
    size_t gws = (size_t)nrows;
    return ocl_lower_launch(lc, node, k, 1, &gws, NULL);
}
