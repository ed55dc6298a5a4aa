/* Builders that only move data: reshape (a view), permute, slice, concat. */
#include "graph/graph_internal.h"
#include "graph/op_table.h"

#include <string.h>

int g_reshape(graph *g, int x, int ndim, const int64_t *shape)
{
    const char *op = "g_reshape";
    if (g_check_id(g, op, x) <= 0)
        return -1;
    if (ndim < 1 || ndim > G_MAX_DIMS || !shape)
        return g_err(g, CC_ERR_SHAPE, "g_reshape: x %s: target ndim %d, expected 1..%d",
                     g_sh(g, x), ndim, G_MAX_DIMS);
    char want[96];
    g_fmt_shape(ndim, shape, want, sizeof want);
    int64_t out[G_MAX_DIMS];
    int infer = -1;
    int64_t known = 1;
    for (int i = 0; i < ndim; i++) {
        out[i] = shape[i];
        if (shape[i] == -1 && infer < 0) {
            infer = i;
            continue;
        }
        if (shape[i] < 1)
            return g_err(g, CC_ERR_SHAPE,
                         "g_reshape: x %s to %s: dims must be >= 1 with at most one -1",
                         g_sh(g, x), want);
        known *= shape[i];
    }
    int64_t n = g_numel(g, x);
    if (infer >= 0) {
        if (n % known != 0)
            return g_err(g, CC_ERR_SHAPE,
                         "g_reshape: x %s to %s: %lld elements not divisible by %lld",
                         g_sh(g, x), want, (long long)n, (long long)known);
        out[infer] = n / known;
        known = n;
    }
    if (known != n)
        return g_err(g, CC_ERR_SHAPE, "g_reshape: x %s to %s: element counts differ (%lld vs %lld)",
                     g_sh(g, x), want, (long long)n, (long long)known);
    /* g_append_node sets alias_of to x's storage root for every reshape. */
    return g_append_node(g, G_OP_RESHAPE, 1, &x, NULL, g->tensors[x].dtype, ndim, out);
}

int g_permute(graph *g, int x, const int *perm)
{
    const char *op = "g_permute";
    if (g_check_id(g, op, x) <= 0)
        return -1;
    const g_tensor *X = &g->tensors[x];
    if (!perm)
        return g_err(g, CC_ERR_INVALID, "g_permute: x %s: perm is NULL", g_sh(g, x));
    int seen[G_MAX_DIMS] = {0};
    char ps[64];
    size_t used = 0;
    for (int i = 0; i < X->ndim && used < sizeof ps; i++)
        used += (size_t)snprintf(ps + used, sizeof ps - used, "%s%d", i ? ", " : "", perm[i]);
    for (int i = 0; i < X->ndim; i++) {
        if (perm[i] < 0 || perm[i] >= X->ndim || seen[perm[i]]++)
            return g_err(g, CC_ERR_SHAPE,
                         "g_permute: x %s: perm (%s) is not a permutation of 0..%d", g_sh(g, x),
                         ps, X->ndim - 1);
    }
    g_attr at = {0};
    for (int i = 0; i < X->ndim; i++)
        at.perm[i] = perm[i];
    return g_op_append(g, G_OP_PERMUTE, 1, &x, &at);
}

int g_transpose(graph *g, int x, int dim0, int dim1)
{
    const char *op = "g_transpose";
    if (g_check_id(g, op, x) <= 0)
        return -1;
    int n = g->tensors[x].ndim;
    int d0 = dim0 < 0 ? dim0 + n : dim0, d1 = dim1 < 0 ? dim1 + n : dim1;
    if (d0 < 0 || d0 >= n || d1 < 0 || d1 >= n)
        return g_err(g, CC_ERR_SHAPE, "g_transpose: x %s: dims (%d, %d) out of range for %d-D",
                     g_sh(g, x), dim0, dim1, n);
    int perm[G_MAX_DIMS];
    for (int i = 0; i < n; i++)
        perm[i] = i;
    perm[d0] = d1;
    perm[d1] = d0;
    return g_permute(g, x, perm);
}

/* Python slice bounds: negative counts from the end, then clamp to [0, n]. */
static int64_t clamp_bound(int64_t v, int64_t n)
{
    if (v < 0)
        v += n;
    if (v < 0)
        v = 0;
    if (v > n)
        v = n;
    return v;
}

int g_slice(graph *g, int x, int axis, int64_t start, int64_t end, int64_t step)
{
    const char *op = "g_slice";
    if (g_check_id(g, op, x) <= 0)
        return -1;
    const g_tensor *X = &g->tensors[x];
    int ax = axis < 0 ? axis + X->ndim : axis;
    if (ax < 0 || ax >= X->ndim)
        return g_err(g, CC_ERR_SHAPE, "g_slice: x %s: axis %d out of range for %d-D", g_sh(g, x),
                     axis, X->ndim);
    if (step < 1)
        return g_err(g, CC_ERR_SHAPE, "g_slice: x %s: step %lld, expected >= 1", g_sh(g, x),
                     (long long)step);
    int64_t n = X->shape[ax];
    int64_t s = clamp_bound(start, n), e = clamp_bound(end, n);
    if (e <= s)
        return g_err(g, CC_ERR_SHAPE,
                     "g_slice: x %s: axis %d [%lld:%lld:%lld] is empty (dim %lld)", g_sh(g, x),
                     axis, (long long)start, (long long)end, (long long)step, (long long)n);
    g_attr at = {0};
    at.axis = ax;
    at.start = s;
    at.end = e;
    at.step = step;
    return g_op_append(g, G_OP_SLICE, 1, &x, &at);
}

int g_concat(graph *g, int n, const int *xs, int axis)
{
    const char *op = "g_concat";
    if (n < 1 || n > G_MAX_INPUTS || !xs)
        return g_err(g, CC_ERR_INVALID, "g_concat: %d inputs, expected 1..%d", n, G_MAX_INPUTS);
    for (int i = 0; i < n; i++)
        if (g_check_id(g, op, xs[i]) <= 0)
            return -1;
    const g_tensor *X0 = &g->tensors[xs[0]];
    int ax = axis < 0 ? axis + X0->ndim : axis;
    if (ax < 0 || ax >= X0->ndim)
        return g_err(g, CC_ERR_SHAPE, "g_concat: x0 %s: axis %d out of range for %d-D",
                     g_sh(g, xs[0]), axis, X0->ndim);
    for (int i = 1; i < n; i++) {
        const g_tensor *Xi = &g->tensors[xs[i]];
        int ok = Xi->ndim == X0->ndim && Xi->dtype == X0->dtype;
        for (int d = 0; ok && d < X0->ndim; d++)
            ok = d == ax || Xi->shape[d] == X0->shape[d];
        if (!ok)
            return g_err(g, CC_ERR_SHAPE,
                         "g_concat: x0 %s vs x%d %s: dtype and all dims but axis %d must match",
                         g_sh(g, xs[0]), i, g_sh(g, xs[i]), ax);
    }
    g_attr at = {0};
    at.axis = ax;
    return g_op_append(g, G_OP_CONCAT, n, xs, &at);
}
