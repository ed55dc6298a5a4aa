/* Lowering of the backward row ops (softmax, layernorm and l2norm backward:
 * a CPU and a GPU variant each, chosen by ocl_lower_row_kernel) and of the
 * deterministic reductions (sum_to, the layernorm gamma gradient): one
 * work-item per output element, cut into chunks of the outermost reduced
 * dim when the outputs alone are too few, the chunks' partial sums added in
 * a fixed order by a second kernel. kernels/grad.cl. Partial sums and row
 * statistics live only within their node: the plan's shared scratch. */
#include <string.h>

#include "backends/opencl/ocl_lower_grad.h"

int ocl_grad_split(ocl_lower *lc, int64_t n_out, int64_t len, int64_t per_step, int64_t *chunk)
{
    int64_t cu = (int64_t)ocl_lower_ctx(lc)->dev.compute_units;
    /* A CPU wants a few work-groups per core; a GPU thousands of items. */
    int64_t want = (cu > 0 ? cu : 1) * (ocl_lower_gpu_rows(lc) ? 2048 : 64);
    int64_t p = n_out > 0 ? (want + n_out - 1) / n_out : 1;
    int64_t cap = len * (per_step > 0 ? per_step : 1) / 256;
    if (p > cap)
        p = cap;
    if (p > len)
        p = len;
    if (p > 1024)
        p = 1024;
    if (p < 1)
        p = 1;
    *chunk = len > 0 ? (len + p - 1) / p : 1;
    return (int)(len > 0 ? (len + *chunk - 1) / *chunk : 1);
}

/* Appends part -> y: y[o] = sum_p part[p * n_out + o]. */
static int add_partials(ocl_lower *lc, int node, cl_mem part, cl_mem y, int64_t n_out, int p)
{
    cl_kernel k;
    int rc;
    if ((rc = ocl_lower_kernel(lc, "grad.cl", "sum_partials", "", &k)) ||
        (rc = ocl_set_args(k, "mmli", part, y, n_out, p)))
        return rc;
    size_t gws = (size_t)n_out;
    return ocl_lower_launch(lc, node, k, 1, &gws, NULL);
}

/* Element strides of out seen through x's shape: right-aligned, 0 on the
 * dims out lacks or has as 1. */
static int target_strides(const g_tensor *X, const g_tensor *Y, int64_t *st)
{
    int64_t ys[G_MAX_DIMS];
    ocl_contig_strides(Y, ys);
    int lead = X->ndim - Y->ndim;
    if (lead < 0)
        return cc_fail(CC_ERR_SHAPE, "sum_to: target has %d dims, more than x (%d)", Y->ndim, X->ndim);
    for (int d = 0; d < X->ndim; d++) {
        int yd = d - lead;
        if (yd < 0 || Y->shape[yd] == 1) {
            st[d] = 0;
        } else if (Y->shape[yd] != X->shape[d]) {
            return cc_fail(CC_ERR_SHAPE, "sum_to: target dim %d is %lld, x dim %d is %lld (not broadcastable)", yd,
                           (long long)Y->shape[yd], d, (long long)X->shape[d]);
        } else {
            st[d] = ys[yd];
        }
    }
    return 0;
}

static int lower_sum_to(ocl_lower *lc, int node, const g_node *n)
{
    const graph *g = ocl_lower_graph(lc);
    const g_tensor *X = &g->tensors[n->in[0]], *Y = &g->tensors[n->out];
    int64_t shape[G_MAX_DIMS], st[2][G_MAX_DIMS]; /* x, y */
    memcpy(shape, X->shape, sizeof(int64_t) * (size_t)X->ndim);
    ocl_contig_strides(X, st[0]);
    int rc = target_strides(X, Y, st[1]);
    if (rc)
        return rc;
    int nd = ocl_collapse_dims(X->ndim, shape, 2, st);
    /* After collapsing, kept and reduced dims alternate: at most 3 each. */
    int64_t meta[12] = { 1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 0 };
    int64_t ks[3], kx[3], rs[3], rx[3];
    int nk = 0, nr = 0;
    for (int d = 0; d < nd; d++) {
        if (st[1][d] != 0 && nk < 3) {
            ks[nk] = shape[d], kx[nk++] = st[0][d];
        } else if (st[1][d] == 0 && nr < 3) {
            rs[nr] = shape[d], rx[nr++] = st[0][d];
        } else {
            return cc_fail(CC_ERR_UNSUPPORTED, "sum_to: more than 3 kept or reduced dims after collapsing");
        }
    }
    for (int i = 0; i < nk; i++)
        meta[3 - nk + i] = ks[i], meta[6 - nk + i] = kx[i];
    for (int i = 0; i < nr; i++)
        meta[9 - nr + i] = rs[i], meta[12 - nr + i] = rx[i];
    int sd = nr ? 3 - nr : 2;
    int64_t n_out = g_numel(g, n->out), len = meta[6 + sd], per_step = 1;
    for (int i = 0; i < 3; i++)
        if (i != sd)
            per_step *= meta[6 + i];
    if (n_out == 0)
        return 0;
    /* CPU class, innermost dim kept and contiguous: 8 outputs per item. */
    int wide = !ocl_lower_gpu_rows(lc) && nk >= 1 && kx[nk - 1] == 1 && ks[nk - 1] % 8 == 0;
    int64_t items = wide ? n_out / 8 : n_out, chunk;
    int p = ocl_grad_split(lc, items, len, per_step, &chunk);
    cl_mem y = ocl_lower_mem(lc, n->out), part = y, m;
    cl_kernel k;
    if ((rc = ocl_lower_const_i64(lc, meta, 12, &m)))
        return rc;
    if (p > 1 && (rc = ocl_lower_shared_scratch(lc, sizeof(float) * (size_t)(n_out * p), &part)))
        return rc;
    if ((rc = ocl_lower_kernel(lc, "grad.cl", wide ? "sum_to_nd8" : "sum_to_nd", "", &k)) ||
        (rc = ocl_set_args(k, "mmmill", ocl_lower_mem(lc, n->in[0]), part, m, sd, chunk, n_out)))
        return rc;
    size_t gws[2] = { (size_t)items, (size_t)p };
    if ((rc = ocl_lower_launch(lc, node, k, 2, gws, NULL)))
        return rc;
    return p > 1 ? add_partials(lc, node, part, y, n_out, p) : 0;
}

/* Row statistics per row into scratch, then a column reduction of
 * dy * xhat (split into row chunks as sum_to). */
static int lower_ln_gamma(ocl_lower *lc, int node, const g_node *n, int64_t nrows, int64_t ncols)
{
    const graph *g = ocl_lower_graph(lc);
    if (g_numel(g, n->in[1]) != nrows * ncols || g_numel(g, n->out) != ncols)
        return cc_fail(CC_ERR_SHAPE, "layernorm_grad_gamma: dy must match x and the output be [%lld]",
                       (long long)ncols);
    if (ncols == 0)
        return 0;
    cl_mem x = ocl_lower_mem(lc, n->in[0]), dy = ocl_lower_mem(lc, n->in[1]), y = ocl_lower_mem(lc, n->out);
    cl_mem stats, part = y;
    cl_kernel k;
    /* CPU class: 8 adjacent columns per work-item where ncols allows. */
    int wide = !ocl_lower_gpu_rows(lc) && ncols % 8 == 0;
    int64_t items = wide ? ncols / 8 : ncols, chunk;
    int p = ocl_grad_split(lc, items, nrows, wide ? 8 : 1, &chunk), rc;
    if ((rc = ocl_lower_shared_scratch(lc, 4 * sizeof(float) * (size_t)(nrows ? nrows : 1), &stats)) ||
        (rc = ocl_lower_row_kernel(lc, "grad.cl", "ln_stats", &k)) ||
        (rc = ocl_set_args(k, "mmif", x, stats, (int)ncols, (double)n->attr.eps)) ||
        (rc = ocl_lower_row_launch(lc, node, k, nrows)))
        return rc;
    if (p > 1 && (rc = ocl_lower_shared_scratch(lc, sizeof(float) * (size_t)(ncols * p), &part)))
        return rc;
    if ((rc = ocl_lower_kernel(lc, "grad.cl", wide ? "ln_grad_gamma_cols8" : "ln_grad_gamma_cols", "", &k)) ||
        (rc = ocl_set_args(k, "mmmmlll", x, dy, stats, part, nrows, ncols, chunk)))
        return rc;
    size_t gws[2] = { (size_t)items, (size_t)p };
    if ((rc = ocl_lower_launch(lc, node, k, 2, gws, NULL)))
        return rc;
    return p > 1 ? add_partials(lc, node, part, y, ncols, p) : 0;
}

/* need inputs, all f32 (an absent optional gamma is -1). */
static int check_inputs(const graph *g, const g_node *n, int need)
{
    const char *opname = g_op_name(n->op);
    if (n->n_in < need)
        return cc_fail(CC_ERR_INVALID, "%s: expected %d inputs, found %d", opname, need, n->n_in);
    for (int i = 0; i < n->n_in; i++)
        if (n->in[i] >= 0 && g->tensors[n->in[i]].dtype != G_F32)
            return cc_fail(CC_ERR_UNSUPPORTED, "%s: input %d must be f32", opname, i);
    return CC_OK;
}

/* Rows of x = input 0 over its last dim, checked against the kernels' int;
 * when dyi >= 0, input dyi and the output must have x's element count. */
static int row_shape(const graph *g, const g_node *n, int need, int dyi, int64_t *nrows, int64_t *ncols)
{
    int rc = check_inputs(g, n, need);
    if (rc)
        return rc;
    const g_tensor *X = &g->tensors[n->in[0]];
    *ncols = X->shape[X->ndim - 1];
    *nrows = g_numel(g, n->in[0]) / (*ncols ? *ncols : 1);
    if (*ncols > INT32_MAX)
        return cc_fail(CC_ERR_UNSUPPORTED, "%s: rows of %lld exceed the kernel's int range", g_op_name(n->op),
                       (long long)*ncols);
    if (dyi >= 0 && (g_numel(g, n->in[dyi]) != *nrows * *ncols || g_numel(g, n->out) != *nrows * *ncols))
        return cc_fail(CC_ERR_SHAPE, "%s: dy and the output must have x's %lld elements", g_op_name(n->op),
                       (long long)(*nrows * *ncols));
    return CC_OK;
}

int ocl_lower_sum_to(ocl_lower *lc, int node)
{
    const graph *g = ocl_lower_graph(lc);
    const g_node *n = &g->nodes[node];
    int rc = check_inputs(g, n, 1);
    return rc ? rc : lower_sum_to(lc, node, n);
}

int ocl_lower_layernorm_grad_gamma(ocl_lower *lc, int node)
{
    const graph *g = ocl_lower_graph(lc);
    const g_node *n = &g->nodes[node];
    int64_t nrows, ncols;
    int rc = row_shape(g, n, 2, -1, &nrows, &ncols);
    return rc ? rc : lower_ln_gamma(lc, node, n, nrows, ncols);
}

int ocl_lower_softmax_grad(ocl_lower *lc, int node)
{
    const graph *g = ocl_lower_graph(lc);
    const g_node *n = &g->nodes[node];
    int64_t nrows, ncols;
    cl_kernel k;
    int rc = row_shape(g, n, 2, 1, &nrows, &ncols);
    if (rc || (rc = ocl_lower_row_kernel(lc, "grad.cl", "softmax_grad", &k)) ||
        (rc = ocl_set_args(k, "mmmi", ocl_lower_mem(lc, n->in[0]), ocl_lower_mem(lc, n->in[1]),
                           ocl_lower_mem(lc, n->out), (int)ncols)))
        return rc;
    return ocl_lower_row_launch(lc, node, k, nrows);
}

int ocl_lower_l2norm_grad(ocl_lower *lc, int node)
{
    const graph *g = ocl_lower_graph(lc);
    const g_node *n = &g->nodes[node];
    int64_t nrows, ncols;
    cl_kernel k;
    int rc = row_shape(g, n, 2, 1, &nrows, &ncols);
    if (rc || (rc = ocl_lower_row_kernel(lc, "grad.cl", "l2norm_grad", &k)) ||
        (rc = ocl_set_args(k, "mmmif", ocl_lower_mem(lc, n->in[0]), ocl_lower_mem(lc, n->in[1]),
                           ocl_lower_mem(lc, n->out), (int)ncols, (double)n->attr.eps)))
        return rc;
    return ocl_lower_row_launch(lc, node, k, nrows);
}

int ocl_lower_layernorm_grad_x(ocl_lower *lc, int node)
{
    const graph *g = ocl_lower_graph(lc);
    const g_node *n = &g->nodes[node];
    int64_t nrows, ncols;
    cl_kernel k;
    int rc = row_shape(g, n, 3, 2, &nrows, &ncols);
    if (rc)
        return rc;
    int has_gamma = n->in[1] >= 0;
    if (has_gamma && g_numel(g, n->in[1]) != ncols)
        return cc_fail(CC_ERR_SHAPE, "layernorm_grad_x: gamma has %lld elements, expected %lld",
                       (long long)g_numel(g, n->in[1]), (long long)ncols);
    cl_mem x = ocl_lower_mem(lc, n->in[0]);
    /* Without gamma the kernel never reads its gamma argument; x stands in. */
    cl_mem gm = has_gamma ? ocl_lower_mem(lc, n->in[1]) : x;
    if ((rc = ocl_lower_row_kernel(lc, "grad.cl", "ln_grad_x", &k)) ||
        (rc = ocl_set_args(k, "mmmmifi", x, gm, ocl_lower_mem(lc, n->in[2]), ocl_lower_mem(lc, n->out), (int)ncols,
                           (double)n->attr.eps, has_gamma)))
        return rc;
    return ocl_lower_row_launch(lc, node, k, nrows);
}
