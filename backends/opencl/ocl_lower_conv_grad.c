/* G_OP_CONV2D_GRAD_INPUT, G_OP_CONV2D_GRAD_WEIGHT and G_OP_AVGPOOL2D_GRAD
 * on NCHW (kernels/conv_grad.cl), both conv grads as GEMMs through
 * ocl_gemm_emit (K = C*KH*KW, Q = OH*OW):
 *
 *  - dX[n] = col2im(W^T[K, O] @ dY[n][O, Q]): a batched GEMM into a column
 *    scratch, then a gather per input pixel (no atomics). A 1x1 stride-1
 *    unpadded conv has col == dX: the GEMM writes dX directly.
 *  - dW[O, K] = sum over images of dY[n] @ col[n]^T: per chunk of images one
 *    GEMM whose reduction runs over (image, q), so the batch sum happens
 *    inside the GEMM. A = dY permuted to [O][n*Q + q] (a chunk of one image
 *    is dY itself), B = the transposed im2col, written straight into the own
 *    GEMM's panel layout. Chunks after the first go through a partial buffer
 *    added into dW in queue order: deterministic.
 *
 * All scratch is the plan's shared transient scratch (it lives only within
 * the node's launches). Column scratch is capped per node as in
 * ocl_lower_conv.c ($CLIPCL_CONV_SCRATCH bytes, default 16 MiB): images go
 * through in chunks that reuse it. */
#include <stdlib.h>

#include "backends/opencl/ocl_gemm.h"
#include "backends/opencl/ocl_lower_ops.h"
#include "backends/opencl/ocl_plan_internal.h"
#include "runtime/status.h"

static size_t scratch_cap(ocl_lower *lc)
{
    return ocl_lower_ctx(lc)->policy.conv_scratch_bytes;
}

typedef struct cg_geom {
    int N, C, H, W, O, KH, KW, SH, SW, PH, PW, OH, OW;
} cg_geom;

/* Images per chunk when one image needs per_image floats of scratch. */
static size_t chunk_images(ocl_lower *lc, size_t per_image, int N)
{
    size_t chunk = scratch_cap(lc) / (per_image * sizeof(float));
    if (chunk < 1)
        chunk = 1;
    return chunk > (size_t)N ? (size_t)N : chunk;
}

static int is_pointwise(const cg_geom *c)
{
    return c->KH == 1 && c->KW == 1 && c->SH == 1 && c->SW == 1 && c->PH == 0 && c->PW == 0;
}

/* The geometry from x's shape [N,C,H,W], w's [O,C,KH,KW] and dy's
 * [N,O,OH,OW]; checks they belong to one floor-mode convolution. */
static int read_geom(const g_node *nd, const int64_t *xs, const int64_t *ws, const int64_t *ds, cg_geom *c)
{
    const g_attr *a = &nd->attr;
    *c = (cg_geom){(int)xs[0], (int)xs[1], (int)xs[2], (int)xs[3], (int)ws[0], (int)ws[2], (int)ws[3],
                   a->stride[0], a->stride[1], a->pad[0], a->pad[1], (int)ds[2], (int)ds[3]};
    if (c->SH < 1 || c->SW < 1 || c->PH < 0 || c->PW < 0 || ws[1] != xs[1] || ds[0] != xs[0] || ds[1] != ws[0] ||
        c->OH != (c->H + 2 * c->PH - c->KH) / c->SH + 1 || c->OW != (c->W + 2 * c->PW - c->KW) / c->SW + 1 ||
        c->OH < 1 || c->OW < 1)
        return cc_fail(CC_ERR_SHAPE,
                       "ocl %s '%s': x [%lld,%lld,%lld,%lld], w [%lld,%lld,%d,%d], dy [%lld,%lld,%d,%d], "
                       "stride %dx%d pad %dx%d are not one convolution",
                       g_op_name(nd->op), nd->name, (long long)xs[0], (long long)xs[1], (long long)xs[2],
                       (long long)xs[3], (long long)ws[0], (long long)ws[1], c->KH, c->KW, (long long)ds[0],
                       (long long)ds[1], c->OH, c->OW, c->SH, c->SW, c->PH, c->PW);
    return CC_OK;
}

static int need4(const g_node *nd, const g_tensor *t)
{
    if (t->ndim != 4)
        return cc_fail(CC_ERR_SHAPE, "ocl %s '%s': '%s' must be 4-D NCHW, has %d dims", g_op_name(nd->op),
                       nd->name, t->name, t->ndim);
    return CC_OK;
}

static int launch_geom(ocl_lower *lc, int node, const char *name, const char *opts, cl_mem src,
                       const cg_geom *c, int n0, int extra, cl_mem dst, const size_t *gws)
{
    cl_kernel k;
    int rc = ocl_lower_kernel(lc, "conv_grad.cl", name, opts, &k);
    if (rc)
        return rc;
    rc = extra >= 0 ? ocl_set_args(k, "miiiiiiiiiiiiim", src, c->C, c->H, c->W, c->KH, c->KW, c->SH, c->SW, c->PH,
                                   c->PW, c->OH, c->OW, n0, extra, dst)
                    : ocl_set_args(k, "miiiiiiiiiiiim", src, c->C, c->H, c->W, c->KH, c->KW, c->SH, c->SW, c->PH,
                                   c->PW, c->OH, c->OW, n0, dst);
    return rc ? rc : ocl_lower_launch(lc, node, k, gws[2] ? 3 : 2, gws, NULL);
}

/* ---- dX ---- */

int ocl_lower_conv2d_grad_input(ocl_lower *lc, int node)
{
    const graph *g = ocl_lower_graph(lc);
    const g_node *nd = &g->nodes[node];
    const g_tensor *tdy = &g->tensors[nd->in[0]], *tw = &g->tensors[nd->in[1]], *to = &g->tensors[nd->out];
    cg_geom c;
    int rc;
    if ((rc = need4(nd, tdy)) || (rc = need4(nd, tw)) || (rc = need4(nd, to)) ||
        (rc = read_geom(nd, to->shape, tw->shape, tdy->shape, &c)))
        return rc;
    const int K = c.C * c.KH * c.KW, Q = c.OH * c.OW;
    ocl_gemm_impl impl;
    if ((rc = ocl_gemm_choose(ocl_lower_ctx(lc), &impl)))
        return rc;
    ocl_gemm_plan_user u;
    ocl_gemm_sink s;
    ocl_gemm_plan_sink(lc, node, &u, &s);
    cl_mem dy = ocl_lower_mem(lc, nd->in[0]), dx = ocl_lower_mem(lc, nd->out);

    ocl_gemm_args a = {0};
    a.M = K;
    a.N = Q;
    a.K = c.O;
    a.a = ocl_lower_mem(lc, nd->in[1]);
    a.trans_a = 1; /* W is stored O x K */
    a.b = dy;
    a.b_stride = (size_t)c.O * Q;
    if (impl == OCL_GEMM_OWN) {
        /* the own GEMM would transpose W again for every chunk's call. A
         * param W is transposed once per param change (after each optimizer
         * step), into a persistent copy whose packed panels the GEMM then
         * also keeps (a_static); else into shared scratch every run. */
        const size_t bytes = (size_t)K * c.O * sizeof(float);
        const int key[4] = {G_OP_CONV2D_GRAD_INPUT, nd->in[1], K, c.O};
        cl_mem wt = NULL;
        int found = 0;
        if (ocl_lower_is_param_data(lc, nd->in[1]) &&
            (rc = ocl_lower_weight_copy(lc, key, 4, bytes, &wt, &found)))
            return rc;
        const int once = wt != NULL;
        if (!once && (rc = ocl_lower_shared_scratch(lc, bytes, &wt)))
            return rc;
        if (!found) {
            cl_kernel k;
            if ((rc = ocl_lower_kernel(lc, "conv_grad.cl", "convg_transpose", "", &k)) ||
                (rc = ocl_set_args(k, "mm", a.a, wt)))
                return rc;
            size_t gws[2] = {(size_t)K, (size_t)c.O};
            if ((rc = once ? ocl_lower_launch_static(lc, node, k, 2, gws, NULL)
                           : ocl_lower_launch(lc, node, k, 2, gws, NULL)))
                return rc;
        }
        a.a = wt;
        a.trans_a = 0;
        a.a_static = once;
    }
    if (is_pointwise(&c)) {
        a.batch = c.N;
        a.c = dx;
        a.c_stride = (size_t)K * Q;
        return ocl_gemm_emit(&s, &a, impl);
    }
    const size_t per_image = (size_t)K * Q;
    const size_t chunk = chunk_images(lc, per_image, c.N);
    cl_mem col;
    if ((rc = ocl_lower_shared_scratch(lc, chunk * per_image * sizeof(float), &col)))
        return rc;
    for (size_t n0 = 0; n0 < (size_t)c.N; n0 += chunk) {
        const size_t cnt = (size_t)c.N - n0 < chunk ? (size_t)c.N - n0 : chunk;
        ocl_gemm_args ac = a;
        ac.batch = (int)cnt;
        ac.b_off = n0 * (size_t)c.O * Q;
        ac.c = col;
        ac.c_stride = per_image;
        if ((rc = ocl_gemm_emit(&s, &ac, impl)))
            return rc;
        size_t gws[3] = {(size_t)c.W, (size_t)c.H, cnt * (size_t)c.C};
        if ((rc = launch_geom(lc, node, "convg_col2im", "", col, &c, (int)n0, -1, dx, gws)))
            return rc;
    }
    return CC_OK;
}

/* ---- dW ---- */

int ocl_lower_conv2d_grad_weight(ocl_lower *lc, int node)
{
    const graph *g = ocl_lower_graph(lc);
    const g_node *nd = &g->nodes[node];
    const g_tensor *tx = &g->tensors[nd->in[0]], *tdy = &g->tensors[nd->in[1]], *to = &g->tensors[nd->out];
    cg_geom c;
    int rc;
    if ((rc = need4(nd, tx)) || (rc = need4(nd, tdy)) || (rc = need4(nd, to)) ||
        (rc = read_geom(nd, tx->shape, to->shape, tdy->shape, &c)))
        return rc;
    if ((nd->attr.kernel[0] && nd->attr.kernel[0] != c.KH) || (nd->attr.kernel[1] && nd->attr.kernel[1] != c.KW))
        return cc_fail(CC_ERR_SHAPE, "ocl conv2d_grad_weight '%s': kernel attr %dx%d, output %dx%d", nd->name,
                       nd->attr.kernel[0], nd->attr.kernel[1], c.KH, c.KW);
    const int K = c.C * c.KH * c.KW, Q = c.OH * c.OW;
    ocl_gemm_impl impl;
    if ((rc = ocl_gemm_choose(ocl_lower_ctx(lc), &impl)))
        return rc;
    ocl_gemm_plan_user u;
    ocl_gemm_sink s;
    ocl_gemm_plan_sink(lc, node, &u, &s);
    cl_mem x = ocl_lower_mem(lc, nd->in[0]), dy = ocl_lower_mem(lc, nd->in[1]), dw = ocl_lower_mem(lc, nd->out);

    /* The local-memory GEMM (GPU class) reads B row-major, as the forward conv does. */
    const int packed = impl == OCL_GEMM_OWN && !ocl_gemm_use_local(ocl_lower_ctx(lc));
    const ocl_gemm_tile t = ocl_gemm_tile_for(ocl_lower_ctx(lc));
    const size_t pw = (size_t)t.vw * (size_t)t.nv;
    const size_t col_per_image = packed ? ocl_gemm_panel_floats(t, Q, K) : (size_t)Q * K;
    size_t chunk = chunk_images(lc, col_per_image + (size_t)c.O * Q, c.N);
    if (chunk * (size_t)Q > 0x7fffffff)
        chunk = 0x7fffffff / (size_t)Q;
    const int chunks = (int)(((size_t)c.N + chunk - 1) / chunk);
    cl_mem col, dyp = NULL, part = NULL;
    const size_t col_floats = packed ? ocl_gemm_panel_floats(t, (int)(chunk * Q), K) : chunk * Q * K;
    if ((rc = ocl_lower_shared_scratch(lc, col_floats * sizeof(float), &col)) ||
        (chunk > 1 && (rc = ocl_lower_shared_scratch(lc, chunk * Q * c.O * sizeof(float), &dyp))) ||
        (chunks > 1 && (rc = ocl_lower_shared_scratch(lc, (size_t)c.O * K * sizeof(float), &part))))
        return rc;
    char opts[96];
    ocl_gemm_tile_options(ocl_lower_ctx(lc), t, opts, sizeof opts);
    for (size_t n0 = 0; n0 < (size_t)c.N; n0 += chunk) {
        const size_t cnt = (size_t)c.N - n0 < chunk ? (size_t)c.N - n0 : chunk;
        const size_t R = cnt * (size_t)Q;
        ocl_gemm_args a = {0};
        a.M = c.O;
        a.N = K;
        a.K = (int)R;
        a.batch = 1;
        a.b = col;
        a.b_packed = packed;
        a.c = n0 == 0 ? dw : part;
        if (cnt == 1) { /* one image's dY already is [O][Q] */
            a.a = dy;
            a.a_off = n0 * (size_t)c.O * Q;
        } else {
            cl_kernel k;
            if ((rc = ocl_lower_kernel(lc, "conv_grad.cl", "convg_dy_perm", "", &k)) ||
                (rc = ocl_set_args(k, "mmi", dy, dyp, (int)n0)))
                return rc;
            size_t gws[3] = {(size_t)Q, (size_t)c.O, cnt};
            if ((rc = ocl_lower_launch(lc, node, k, 3, gws, NULL)))
                return rc;
            a.a = dyp;
        }
        size_t gws[3] = {packed ? R : (size_t)K, packed ? ocl_round_up((size_t)K, pw) / pw : R, 0};
        if ((rc = launch_geom(lc, node, packed ? "convg_colt_packed" : "convg_colt", opts, x, &c, (int)n0,
                              packed ? K : -1, col, gws)) ||
            (rc = ocl_gemm_emit(&s, &a, impl)))
            return rc;
        if (n0 > 0) {
            cl_kernel k;
            size_t n = (size_t)c.O * K;
            if ((rc = ocl_lower_kernel(lc, "conv_grad.cl", "convg_accumulate", "", &k)) ||
                (rc = ocl_set_args(k, "mm", dw, part)) || (rc = ocl_lower_launch(lc, node, k, 1, &n, NULL)))
                return rc;
        }
    }
    return CC_OK;
}

/* ---- avgpool ---- */

int ocl_lower_avgpool2d_grad(ocl_lower *lc, int node)
{
    const graph *g = ocl_lower_graph(lc);
    const g_node *nd = &g->nodes[node];
    const g_tensor *tdy = &g->tensors[nd->in[0]], *to = &g->tensors[nd->out];
    int rc;
    if ((rc = need4(nd, tdy)) || (rc = need4(nd, to)))
        return rc;
    /* the forward's attribute reading: square size in [0] alone, or both */
    const g_attr *at = &nd->attr;
    const int both = at->kernel[1] != 0;
    const int kh = at->kernel[0], kw = both ? at->kernel[1] : kh;
    const int sh = at->stride[0], sw = both ? at->stride[1] : sh;
    const int ph = at->pad[0], pw = both ? at->pad[1] : ph;
    const int64_t H = to->shape[2], W = to->shape[3], OH = tdy->shape[2], OW = tdy->shape[3];
    if (kh < 1 || kw < 1 || sh < 1 || sw < 1 || ph < 0 || pw < 0 ||
        tdy->shape[0] * tdy->shape[1] != to->shape[0] * to->shape[1] || OH != (H + 2 * ph - kh) / sh + 1 ||
        OW != (W + 2 * pw - kw) / sw + 1)
        return cc_fail(CC_ERR_SHAPE, "ocl avgpool2d_grad '%s': dy '%s' [%lld,%lld,%lld,%lld] is not the pool "
                       "output (kernel %dx%d stride %dx%d pad %dx%d) of '%s' [%lld,%lld,%lld,%lld]",
                       nd->name, tdy->name, (long long)tdy->shape[0], (long long)tdy->shape[1], (long long)OH,
                       (long long)OW, kh, kw, sh, sw, ph, pw, to->name, (long long)to->shape[0],
                       (long long)to->shape[1], (long long)H, (long long)W);
    cl_kernel k;
    if ((rc = ocl_lower_kernel(lc, "conv_grad.cl", "avgpool2d_grad", "", &k)) ||
        (rc = ocl_set_args(k, "mmiiiiiiiiii", ocl_lower_mem(lc, nd->in[0]), ocl_lower_mem(lc, nd->out), (int)H,
                           (int)W, (int)OH, (int)OW, kh, kw, sh, sw, ph, pw)))
        return rc;
    size_t gws[3] = {(size_t)W, (size_t)H, (size_t)(to->shape[0] * to->shape[1])};
    return ocl_lower_launch(lc, node, k, 3, gws, NULL);
}
