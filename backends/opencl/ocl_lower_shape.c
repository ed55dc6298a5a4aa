/* Lowering of shape ops (kernels/shape.cl). reshape is free: its output is a
 * view sharing the root's buffer, so it emits nothing (a copy only when the
 * graph gave it storage of its own). permute, slice and concat are strided
 * copies over an iteration shape. */
#include <string.h>

#include "backends/opencl/ocl_lower_ops.h"

/* Tile edge of copy_t: a multiple of 16 (vload16 rows). */
#define COPY_TT 16

/* A collapsed copy whose source is contiguous along the second-last dim and
 * whose destination is contiguous along the last: a transpose, batched over
 * an optional leading dim (kernels/shape.cl copy_t). */
static int transpose_copy(ocl_lower *lc, int node, cl_mem src, cl_mem dst, int nd, const int64_t *shape,
                          int64_t st[][G_MAX_DIMS], int64_t soff, int64_t doff)
{
    int64_t R = shape[nd - 2], C = shape[nd - 1], B = nd == 3 ? shape[0] : 1;
    int64_t sbs = nd == 3 ? st[0][0] : 0, dbs = nd == 3 ? st[1][0] : 0;
    cl_kernel k;
    int rc;
    if ((rc = ocl_lower_kernel(lc, "shape.cl", "copy_t", "", &k)) ||
        (rc = ocl_set_args(k, "mmllllllll", src, dst, R, C, soff, sbs, st[0][nd - 1], doff, dbs, st[1][nd - 2])))
        return rc;
    size_t gws[3] = { (size_t)((C + COPY_TT - 1) / COPY_TT), (size_t)((R + COPY_TT - 1) / COPY_TT), (size_t)B };
    return ocl_lower_launch(lc, node, k, 3, gws, NULL);
}

/* Appends one strided copy: iteration shape[nd], src/dst element strides and
 * offsets. */
static int strided_copy(ocl_lower *lc, int node, cl_mem src, cl_mem dst, int nd, const int64_t *shape_in,
                        const int64_t *sstr, const int64_t *dstr, int64_t soff, int64_t doff)
{
    int64_t shape[G_MAX_DIMS], st[2][G_MAX_DIMS];
    int64_t total = 1;
    for (int d = 0; d < nd; d++) {
        shape[d] = shape_in[d];
        st[0][d] = sstr[d];
        st[1][d] = dstr[d];
        total *= shape[d];
    }
    if (total == 0)
        return 0;
    nd = ocl_collapse_dims(nd, shape, 2, st);
    cl_kernel k;
    int rc;
    if (nd >= 2 && nd <= 3 && st[0][nd - 2] == 1 && st[1][nd - 1] == 1 && st[0][nd - 1] != 1 &&
        shape[nd - 2] >= 4 && shape[nd - 1] >= 4)
        return transpose_copy(lc, node, src, dst, nd, shape, st, soff, doff);
    if (nd <= 2) {
        int64_t rows = nd == 2 ? shape[0] : 1, cols = shape[nd - 1];
        int64_t srs = nd == 2 ? st[0][0] : 0, drs = nd == 2 ? st[1][0] : 0;
        if ((rc = ocl_lower_kernel(lc, "shape.cl", "copy_2d", "", &k)) ||
            (rc = ocl_set_args(k, "mmlllllll", src, dst, cols, soff, srs, st[0][nd - 1], doff, drs, st[1][nd - 1])))
            return rc;
        size_t gws[2] = { (size_t)cols, (size_t)rows };
        return ocl_lower_launch(lc, node, k, 2, gws, NULL);
    }
    int64_t meta[18];
    int pad = G_MAX_DIMS - nd;
    for (int d = 0; d < G_MAX_DIMS; d++) {
        int s = d - pad;
        meta[d] = s < 0 ? 1 : shape[s];
        meta[6 + d] = s < 0 ? 0 : st[0][s];
        meta[12 + d] = s < 0 ? 0 : st[1][s];
    }
    cl_mem m;
    if ((rc = ocl_lower_const_i64(lc, meta, 18, &m)) || (rc = ocl_lower_kernel(lc, "shape.cl", "copy_nd", "", &k)) ||
        (rc = ocl_set_args(k, "mmmll", src, dst, m, soff, doff)))
        return rc;
    size_t gws[3] = { (size_t)meta[5], (size_t)meta[4], (size_t)meta[3] };
    return ocl_lower_launch(lc, node, k, 3, gws, NULL);
}

static int lower_permute(ocl_lower *lc, int node, const g_node *n)
{
    const graph *g = ocl_lower_graph(lc);
    const g_tensor *X = &g->tensors[n->in[0]], *Y = &g->tensors[n->out];
    int64_t xs[G_MAX_DIMS], ys[G_MAX_DIMS], ss[G_MAX_DIMS];
    ocl_contig_strides(X, xs);
    ocl_contig_strides(Y, ys);
    /* Output dim d walks input dim perm[d]. */
    for (int d = 0; d < Y->ndim; d++) {
        int pd = n->attr.perm[d];
        if (pd < 0 || pd >= X->ndim)
            return cc_fail(CC_ERR_INVALID, "permute: perm[%d] = %d out of range for %d dims", d, pd, X->ndim);
        ss[d] = xs[pd];
    }
    return strided_copy(lc, node, ocl_lower_mem(lc, n->in[0]), ocl_lower_mem(lc, n->out), Y->ndim, Y->shape, ss,
                        ys, 0, 0);
}

static int lower_slice(ocl_lower *lc, int node, const g_node *n)
{
    const graph *g = ocl_lower_graph(lc);
    const g_tensor *X = &g->tensors[n->in[0]], *Y = &g->tensors[n->out];
    int axis = n->attr.axis < 0 ? n->attr.axis + X->ndim : n->attr.axis;
    if (axis < 0 || axis >= X->ndim)
        return cc_fail(CC_ERR_INVALID, "slice: axis %d out of range for %d dims", n->attr.axis, X->ndim);
    int64_t dim = X->shape[axis], start = n->attr.start, step = n->attr.step ? n->attr.step : 1;
    /* Python-style start, as the builder clamps it. */
    if (start < 0)
        start += dim;
    if (start < 0)
        start = 0;
    if (start > dim)
        start = dim;
    if (step < 1 || start + (Y->shape[axis] - 1) * step >= dim + (Y->shape[axis] == 0))
        return cc_fail(CC_ERR_SHAPE, "slice: start %lld step %lld for %lld elements overruns dim %lld",
                       (long long)start, (long long)step, (long long)Y->shape[axis], (long long)dim);
    int64_t xs[G_MAX_DIMS], ys[G_MAX_DIMS];
    ocl_contig_strides(X, xs);
    ocl_contig_strides(Y, ys);
    int64_t soff = start * xs[axis];
    xs[axis] *= step;
    return strided_copy(lc, node, ocl_lower_mem(lc, n->in[0]), ocl_lower_mem(lc, n->out), Y->ndim, Y->shape, xs,
                        ys, soff, 0);
}

static int lower_concat(ocl_lower *lc, int node, const g_node *n)
{
    const graph *g = ocl_lower_graph(lc);
    const g_tensor *Y = &g->tensors[n->out];
    int axis = n->attr.axis < 0 ? n->attr.axis + Y->ndim : n->attr.axis;
    if (axis < 0 || axis >= Y->ndim)
        return cc_fail(CC_ERR_INVALID, "concat: axis %d out of range for %d dims", n->attr.axis, Y->ndim);
    int64_t ys[G_MAX_DIMS];
    ocl_contig_strides(Y, ys);
    int64_t at = 0;
    for (int i = 0; i < n->n_in; i++) {
        const g_tensor *X = &g->tensors[n->in[i]];
        int64_t xs[G_MAX_DIMS];
        ocl_contig_strides(X, xs);
        int rc = strided_copy(lc, node, ocl_lower_mem(lc, n->in[i]), ocl_lower_mem(lc, n->out), X->ndim, X->shape,
                              xs, ys, 0, at * ys[axis]);
        if (rc)
            return rc;
        at += X->shape[axis];
    }
    if (at != Y->shape[axis])
        return cc_fail(CC_ERR_SHAPE, "concat: inputs give %lld along axis %d, output has %lld", (long long)at, axis,
                       (long long)Y->shape[axis]);
    return 0;
}

/* The copy kernels move 4-byte elements without looking at them. */
static int check_4byte(ocl_lower *lc, const g_node *n)
{
    const graph *g = ocl_lower_graph(lc);
    for (int i = 0; i < n->n_in; i++)
        if (g_nbytes(g, n->in[i]) != (size_t)g_numel(g, n->in[i]) * 4)
            return cc_fail(CC_ERR_UNSUPPORTED, "%s: input %d: only 4-byte elements are supported", g_op_name(n->op), i);
    return CC_OK;
}

int ocl_lower_reshape(ocl_lower *lc, int node)
{
    const graph *g = ocl_lower_graph(lc);
    const g_node *n = &g->nodes[node];
    int rc = check_4byte(lc, n);
    if (rc)
        return rc;
    cl_mem x = ocl_lower_mem(lc, n->in[0]), y = ocl_lower_mem(lc, n->out);
    if (x == y)
        return 0;
    int64_t len = g_numel(g, n->out), one = 1;
    return strided_copy(lc, node, x, y, 1, &len, &one, &one, 0, 0);
}

int ocl_lower_permute(ocl_lower *lc, int node)
{
    const g_node *n = &ocl_lower_graph(lc)->nodes[node];
    int rc = check_4byte(lc, n);
    return rc ? rc : lower_permute(lc, node, n);
}

int ocl_lower_slice(ocl_lower *lc, int node)
{
    const g_node *n = &ocl_lower_graph(lc)->nodes[node];
    int rc = check_4byte(lc, n);
    return rc ? rc : lower_slice(lc, node, n);
}

int ocl_lower_concat(ocl_lower *lc, int node)
{
    const g_node *n = &ocl_lower_graph(lc)->nodes[node];
    int rc = check_4byte(lc, n);
    return rc ? rc : lower_concat(lc, node, n);
}
