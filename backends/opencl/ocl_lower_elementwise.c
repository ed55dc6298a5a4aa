/* Lowering of elementwise ops (kernels/elementwise.cl). Binary ops broadcast
 * numpy-style; the operand strides are collapsed first so that the common
 * cases (same shape, a bias row, a scalar) reach the cheap kernels. */
#include <stdio.h>
#include <string.h>

#include "backends/opencl/ocl_lower_ops.h"

/* Element strides of input t when broadcast to the output's shape. */
static void broadcast_strides(const g_tensor *t, const g_tensor *out, int64_t *s)
{
    int64_t cs[G_MAX_DIMS];
    ocl_contig_strides(t, cs);
    int lead = out->ndim - t->ndim;
    for (int d = 0; d < out->ndim; d++) {
        int td = d - lead;
        s[d] = (td < 0 || t->shape[td] == 1) ? 0 : cs[td];
    }
}

/* f32 inputs, and as many as the op takes. */
static int check_inputs(ocl_lower *lc, const g_node *n, int want)
{
    const graph *g = ocl_lower_graph(lc);
    if (n->n_in != want)
        return cc_fail(CC_ERR_INVALID, "%s: expected %d inputs, found %d", g_op_name(n->op), want, n->n_in);
    for (int i = 0; i < n->n_in; i++)
        if (g->tensors[n->in[i]].dtype != G_F32)
            return cc_fail(CC_ERR_UNSUPPORTED, "%s: input %d must be f32", g_op_name(n->op), i);
    return CC_OK;
}

/* pre names the kernel family ew_<pre>_same/_rows/_nd. */
static int lower_binary(ocl_lower *lc, int node, const char *pre)
{
    const graph *g = ocl_lower_graph(lc);
    const g_node *n = &g->nodes[node];
    int rc = check_inputs(lc, n, 2);
    if (rc)
        return rc;
    const g_tensor *A = &g->tensors[n->in[0]], *B = &g->tensors[n->in[1]], *Y = &g->tensors[n->out];
    int64_t shape[G_MAX_DIMS];
    int64_t st[3][G_MAX_DIMS]; /* y, a, b */
    memcpy(shape, Y->shape, sizeof(int64_t) * (size_t)Y->ndim);
    ocl_contig_strides(Y, st[0]);
    broadcast_strides(A, Y, st[1]);
    broadcast_strides(B, Y, st[2]);
    int nd = ocl_collapse_dims(Y->ndim, shape, 3, st);

    char name[32];
    cl_kernel k;
    cl_mem a = ocl_lower_mem(lc, n->in[0]), b = ocl_lower_mem(lc, n->in[1]), y = ocl_lower_mem(lc, n->out);
    if (nd == 1 && st[1][0] == 1 && st[2][0] == 1) {
        snprintf(name, sizeof name, "ew_%s_same", pre);
        if ((rc = ocl_lower_kernel(lc, "elementwise.cl", name, "", &k)) || (rc = ocl_set_args(k, "mmm", a, b, y)))
            return rc;
        size_t gws = (size_t)shape[0];
        return ocl_lower_launch(lc, node, k, 1, &gws, NULL);
    }
    /* CPU class, up to 3 dims, each operand contiguous along the innermost
     * dim or broadcast over it: 16 elements per work-item (ew_*_nd16) */
    if (nd <= 3 && !ocl_lower_gpu_rows(lc) && (st[1][nd - 1] == 0 || st[1][nd - 1] == 1) &&
        (st[2][nd - 1] == 0 || st[2][nd - 1] == 1) && st[0][nd - 1] == 1) {
        int64_t sh[3] = {1, 1, 1}, sa[3] = {0, 0, 0}, sb[3] = {0, 0, 0};
        for (int d = 0; d < nd; d++) {
            sh[3 - nd + d] = shape[d];
            sa[3 - nd + d] = st[1][d];
            sb[3 - nd + d] = st[2][d];
        }
        snprintf(name, sizeof name, "ew_%s_nd16", pre);
        if ((rc = ocl_lower_kernel(lc, "elementwise.cl", name, "", &k)) ||
            (rc = ocl_set_args(k, "mmmlllilli", a, b, y, sh[2], sa[0], sa[1], (int)sa[2], sb[0], sb[1],
                               (int)sb[2])))
            return rc;
        size_t gws[3] = {(size_t)((sh[2] + 15) / 16), (size_t)sh[1], (size_t)sh[0]};
        return ocl_lower_launch(lc, node, k, 3, gws, NULL);
    }
    if (nd <= 2) {
        /* Rows x cols; a single collapsed dim is one row. */
        int64_t rows = nd == 2 ? shape[0] : 1, cols = shape[nd - 1];
        int64_t ars = nd == 2 ? st[1][0] : 0, acs = st[1][nd - 1];
        int64_t brs = nd == 2 ? st[2][0] : 0, bcs = st[2][nd - 1];
        snprintf(name, sizeof name, "ew_%s_rows", pre);
        if ((rc = ocl_lower_kernel(lc, "elementwise.cl", name, "", &k)) ||
            (rc = ocl_set_args(k, "mmmlllll", a, b, y, cols, ars, acs, brs, bcs)))
            return rc;
        size_t gws[2] = { (size_t)cols, (size_t)rows };
        return ocl_lower_launch(lc, node, k, 2, gws, NULL);
    }
    int64_t meta[24];
    int pad = G_MAX_DIMS - nd;
    for (int d = 0; d < G_MAX_DIMS; d++) {
        int s = d - pad;
        meta[d] = s < 0 ? 1 : shape[s];
        meta[6 + d] = s < 0 ? 0 : st[1][s];
        meta[12 + d] = s < 0 ? 0 : st[2][s];
        meta[18 + d] = s < 0 ? 0 : st[0][s];
    }
    cl_mem m;
    snprintf(name, sizeof name, "ew_%s_nd", pre);
    if ((rc = ocl_lower_const_i64(lc, meta, 24, &m)) || (rc = ocl_lower_kernel(lc, "elementwise.cl", name, "", &k)) ||
        (rc = ocl_set_args(k, "mmmm", a, b, y, m)))
        return rc;
    size_t gws[3] = { (size_t)meta[5], (size_t)meta[4], (size_t)meta[3] };
    return ocl_lower_launch(lc, node, k, 3, gws, NULL);
}

/* kname is the one-element kernel "ew_<op>"; alpha its float argument
 * (only scale reads it). */
static int lower_unary(ocl_lower *lc, int node, const char *kname, float alpha)
{
    const graph *g = ocl_lower_graph(lc);
    const g_node *n = &g->nodes[node];
    int rc = check_inputs(lc, n, 1);
    if (rc)
        return rc;
    /* 16 elements per work-item where the size allows ("ew_X" -> "ew16_X") */
    size_t gws = (size_t)g_numel(g, n->out);
    char vname[32];
    if (gws % 16 == 0) {
        snprintf(vname, sizeof vname, "ew16_%s", kname + 3);
        kname = vname;
        gws /= 16;
    }
    cl_kernel k;
    rc = ocl_lower_kernel(lc, "elementwise.cl", kname, "", &k);
    if (rc)
        return rc;
    rc = ocl_set_args(k, "mmf", ocl_lower_mem(lc, n->in[0]), ocl_lower_mem(lc, n->out), (double)alpha);
    if (rc)
        return rc;
    return ocl_lower_launch(lc, node, k, 1, &gws, NULL);
}

int ocl_lower_add(ocl_lower *lc, int node) { return lower_binary(lc, node, "add"); }
int ocl_lower_sub(ocl_lower *lc, int node) { return lower_binary(lc, node, "sub"); }
int ocl_lower_mul(ocl_lower *lc, int node) { return lower_binary(lc, node, "mul"); }
int ocl_lower_div(ocl_lower *lc, int node) { return lower_binary(lc, node, "div"); }
int ocl_lower_scale(ocl_lower *lc, int node)
{
    return lower_unary(lc, node, "ew_scale", ocl_lower_graph(lc)->nodes[node].attr.alpha);
}
int ocl_lower_gelu(ocl_lower *lc, int node) { return lower_unary(lc, node, "ew_gelu", 0.0f); }
int ocl_lower_quickgelu(ocl_lower *lc, int node) { return lower_unary(lc, node, "ew_quickgelu", 0.0f); }
int ocl_lower_relu(ocl_lower *lc, int node) { return lower_unary(lc, node, "ew_relu", 0.0f); }
int ocl_lower_sigmoid(ocl_lower *lc, int node) { return lower_unary(lc, node, "ew_sigmoid", 0.0f); }
int ocl_lower_exp(ocl_lower *lc, int node) { return lower_unary(lc, node, "ew_exp", 0.0f); }
int ocl_lower_silu(ocl_lower *lc, int node) { return lower_unary(lc, node, "ew_silu", 0.0f); }
