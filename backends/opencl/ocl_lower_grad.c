/* Lowering of the backward/loss ops (kernels/grad.cl): log and the
 * activation derivatives (elementwise, 16 elements per work-item where the
 * size allows), broadcast_to (a strided copy with zero strides), slice
 * backward (one pass writing every element of dx) and the embedding
 * scatter-add (deterministic, no float atomics). The row ops and reductions
 * are in ocl_lower_grad_rows.c. */
#include <stdio.h>
#include <string.h>

#include "backends/opencl/ocl_lower_grad.h"

/* base names the kernel gr_<base> / gr16_<base> (grad.cl); nin: 1 (log)
 * or 2 (x or y, dy). */
static int lower_elem(ocl_lower *lc, int node, const char *base, int nin)
{
    const graph *g = ocl_lower_graph(lc);
    const g_node *n = &g->nodes[node];
    if (n->n_in != nin)
        return cc_fail(CC_ERR_INVALID, "%s: expected %d inputs, found %d", g_op_name(n->op), nin, n->n_in);
    int64_t total = g_numel(g, n->out);
    for (int i = 0; i < nin; i++) {
        if (g->tensors[n->in[i]].dtype != G_F32)
            return cc_fail(CC_ERR_UNSUPPORTED, "%s: input %d must be f32", g_op_name(n->op), i);
        if (g_numel(g, n->in[i]) != total)
            return cc_fail(CC_ERR_SHAPE, "%s: input %d has %lld elements, the output %lld", g_op_name(n->op), i,
                           (long long)g_numel(g, n->in[i]), (long long)total);
    }
    char name[40];
    size_t gws = (size_t)total;
    int wide = gws % 16 == 0;
    snprintf(name, sizeof name, "%s_%s", wide ? "gr16" : "gr", base);
    if (wide)
        gws /= 16;
    cl_kernel k;
    int rc = ocl_lower_kernel(lc, "grad.cl", name, "", &k);
    if (rc)
        return rc;
    cl_mem x = ocl_lower_mem(lc, n->in[0]), y = ocl_lower_mem(lc, n->out);
    rc = nin == 1 ? ocl_set_args(k, "mm", x, y) : ocl_set_args(k, "mmm", x, ocl_lower_mem(lc, n->in[1]), y);
    if (rc)
        return rc;
    return ocl_lower_launch(lc, node, k, 1, &gws, NULL);
}

static int lower_broadcast_to(ocl_lower *lc, int node, const g_node *n)
{
    const graph *g = ocl_lower_graph(lc);
    const g_tensor *X = &g->tensors[n->in[0]], *Y = &g->tensors[n->out];
    int64_t shape[G_MAX_DIMS], st[2][G_MAX_DIMS], xs[G_MAX_DIMS]; /* y, x */
    memcpy(shape, Y->shape, sizeof(int64_t) * (size_t)Y->ndim);
    ocl_contig_strides(Y, st[0]);
    ocl_contig_strides(X, xs);
    int lead = Y->ndim - X->ndim;
    if (lead < 0)
        return cc_fail(CC_ERR_SHAPE, "broadcast_to: x has %d dims, more than the target (%d)", X->ndim, Y->ndim);
    for (int d = 0; d < Y->ndim; d++) {
        int xd = d - lead;
        if (xd >= 0 && X->shape[xd] != 1 && X->shape[xd] != Y->shape[d])
            return cc_fail(CC_ERR_SHAPE, "broadcast_to: x dim %d is %lld, target dim %d is %lld", xd,
                           (long long)X->shape[xd], d, (long long)Y->shape[d]);
        st[1][d] = (xd < 0 || X->shape[xd] == 1) ? 0 : xs[xd];
    }
    if (g_numel(g, n->out) == 0)
        return 0;
    int nd = ocl_collapse_dims(Y->ndim, shape, 2, st);
    cl_mem x = ocl_lower_mem(lc, n->in[0]), y = ocl_lower_mem(lc, n->out);
    cl_kernel k;
    int rc;
    if (nd <= 2) {
        int64_t rows = nd == 2 ? shape[0] : 1, cols = shape[nd - 1];
        int64_t srs = nd == 2 ? st[1][0] : 0;
        if ((rc = ocl_lower_kernel(lc, "grad.cl", "bcast_2d", "", &k)) ||
            (rc = ocl_set_args(k, "mmlll", x, y, cols, srs, st[1][nd - 1])))
            return rc;
        size_t gws[2] = { (size_t)cols, (size_t)rows };
        return ocl_lower_launch(lc, node, k, 2, gws, NULL);
    }
    int64_t meta[12];
    int pad = G_MAX_DIMS - nd;
    for (int d = 0; d < G_MAX_DIMS; d++) {
        int s = d - pad;
        meta[d] = s < 0 ? 1 : shape[s];
        meta[6 + d] = s < 0 ? 0 : st[1][s];
    }
    cl_mem m;
    if ((rc = ocl_lower_const_i64(lc, meta, 12, &m)) || (rc = ocl_lower_kernel(lc, "grad.cl", "bcast_nd", "", &k)) ||
        (rc = ocl_set_args(k, "mmm", x, y, m)))
        return rc;
    size_t gws[3] = { (size_t)meta[5], (size_t)meta[4], (size_t)meta[3] };
    return ocl_lower_launch(lc, node, k, 3, gws, NULL);
}

static int lower_slice_grad(ocl_lower *lc, int node, const g_node *n)
{
    const graph *g = ocl_lower_graph(lc);
    const g_tensor *D = &g->tensors[n->in[0]], *Y = &g->tensors[n->out];
    int ax = n->attr.axis;
    int ok = ax >= 0 && ax < Y->ndim && D->ndim == Y->ndim;
    for (int i = 0; ok && i < Y->ndim; i++)
        ok = i == ax || D->shape[i] == Y->shape[i];
    if (!ok)
        return cc_fail(CC_ERR_SHAPE, "slice_grad: axis %d: dy (%d dims) must match the output (%d dims) off the axis",
                       ax, D->ndim, Y->ndim);
    int64_t outer = 1, inner = 1, len = D->shape[ax], dim = Y->shape[ax];
    int64_t start = n->attr.start, step = n->attr.step;
    for (int i = 0; i < ax; i++)
        outer *= Y->shape[i];
    for (int i = ax + 1; i < Y->ndim; i++)
        inner *= Y->shape[i];
    if (len > 0 && (step < 1 || start < 0 || start + (len - 1) * step >= dim))
        return cc_fail(CC_ERR_SHAPE, "slice_grad: start %lld step %lld x %lld overruns output dim %d (size %lld)",
                       (long long)start, (long long)step, (long long)len, ax, (long long)dim);
    if (step < 1)
        step = 1; /* len == 0: every element is a zero, the step is never used */
    cl_kernel k;
    int rc;
    if ((rc = ocl_lower_kernel(lc, "grad.cl", "slice_grad", "", &k)) ||
        (rc = ocl_set_args(k, "mmlllll", ocl_lower_mem(lc, n->in[0]), ocl_lower_mem(lc, n->out), dim, start, step,
                           len, inner)))
        return rc;
    size_t gws[3] = { (size_t)inner, (size_t)dim, (size_t)outer };
    return ocl_lower_launch(lc, node, k, 3, gws, NULL);
}

static int lower_embedding_grad(ocl_lower *lc, int node, const g_node *n)
{
    const graph *g = ocl_lower_graph(lc);
    if (n->n_in != 2)
        return cc_fail(CC_ERR_INVALID, "embedding_grad: expected ids and dy, found %d inputs", n->n_in);
    const g_tensor *I = &g->tensors[n->in[0]], *Dy = &g->tensors[n->in[1]], *Y = &g->tensors[n->out];
    int64_t cnt = g_numel(g, n->in[0]);
    int64_t V = Y->ndim == 2 ? Y->shape[0] : 0, D = Y->ndim == 2 ? Y->shape[1] : 0;
    if (I->dtype != G_I32 || Dy->dtype != G_F32 || Y->ndim != 2 || g_numel(g, n->in[1]) != cnt * D)
        return cc_fail(CC_ERR_SHAPE, "embedding_grad: expected i32 ids [...], f32 dy [..., D] and output [V, D]");
    if (V < 1 || V > INT32_MAX || cnt > INT32_MAX)
        return cc_fail(CC_ERR_UNSUPPORTED, "embedding_grad: %lld rows and %lld ids must be in [1, INT32_MAX]",
                       (long long)V, (long long)cnt);
    if (D == 0)
        return 0;
    cl_mem ids = ocl_lower_mem(lc, n->in[0]), dy = ocl_lower_mem(lc, n->in[1]), y = ocl_lower_mem(lc, n->out);
    cl_mem first, last;
    cl_kernel k;
    int rc;
    /* GPU: a work-item per (column, row), coalesced; CPU: one per row. */
    int gpu = ocl_lower_gpu_rows(lc);
    size_t gv = (size_t)V, gc = (size_t)cnt, gr[2] = { (size_t)D, (size_t)V };
    if ((rc = ocl_lower_shared_scratch(lc, sizeof(cl_int) * (size_t)V, &first)) ||
        (rc = ocl_lower_shared_scratch(lc, sizeof(cl_int) * (size_t)V, &last)) ||
        (rc = ocl_lower_kernel(lc, "grad.cl", "emb_grad_init", "", &k)) ||
        (rc = ocl_set_args(k, "mm", first, last)) || (rc = ocl_lower_launch(lc, node, k, 1, &gv, NULL)) ||
        (rc = ocl_lower_kernel(lc, "grad.cl", "emb_grad_range", "", &k)) ||
        (rc = ocl_set_args(k, "mmmi", ids, first, last, (int)V)) || (rc = ocl_lower_launch(lc, node, k, 1, &gc, NULL)) ||
        (rc = ocl_lower_kernel(lc, "grad.cl", gpu ? "emb_grad_rows" : "emb_grad_rows_cpu", "", &k)) ||
        (rc = ocl_set_args(k, "mmmmmil", ids, dy, first, last, y, (int)V, D)))
        return rc;
    return gpu ? ocl_lower_launch(lc, node, k, 2, gr, NULL) : ocl_lower_launch(lc, node, k, 1, &gv, NULL);
}

/* broadcast_to and slice_grad move 4-byte elements of one input. */
static int check_one_4byte(const graph *g, const g_node *n)
{
    if (n->n_in != 1 || g_nbytes(g, n->in[0]) != (size_t)g_numel(g, n->in[0]) * 4)
        return cc_fail(CC_ERR_UNSUPPORTED, "%s: expected one input of 4-byte elements", g_op_name(n->op));
    return CC_OK;
}

int ocl_lower_log(ocl_lower *lc, int node) { return lower_elem(lc, node, "log", 1); }
int ocl_lower_gelu_grad(ocl_lower *lc, int node) { return lower_elem(lc, node, "gelu_grad", 2); }
int ocl_lower_quickgelu_grad(ocl_lower *lc, int node) { return lower_elem(lc, node, "quickgelu_grad", 2); }
int ocl_lower_relu_grad(ocl_lower *lc, int node) { return lower_elem(lc, node, "relu_grad", 2); }
int ocl_lower_sigmoid_grad(ocl_lower *lc, int node) { return lower_elem(lc, node, "sigmoid_grad", 2); }

int ocl_lower_broadcast_to(ocl_lower *lc, int node)
{
    const graph *g = ocl_lower_graph(lc);
    const g_node *n = &g->nodes[node];
    int rc = check_one_4byte(g, n);
    return rc ? rc : lower_broadcast_to(lc, node, n);
}

int ocl_lower_slice_grad(ocl_lower *lc, int node)
{
    const graph *g = ocl_lower_graph(lc);
    const g_node *n = &g->nodes[node];
    int rc = check_one_4byte(g, n);
    return rc ? rc : lower_slice_grad(lc, node, n);
}

int ocl_lower_embedding_grad(ocl_lower *lc, int node)
{
    return lower_embedding_grad(lc, node, &ocl_lower_graph(lc)->nodes[node]);
}
