/* G_OP_CONV2D and G_OP_AVGPOOL2D on NCHW.
 *
 * Stride-1 convs take the implicit GEMM of the policy's conv variant where
 * it applies (ocl_lower_conv_direct.c). Otherwise conv2d is a GEMM per image, Y[n] = W[O, C*KH*KW] @ col[n] + b[O] (bias per
 * row, fused in the GEMM epilogue): a 1x1 stride-1 unpadded conv uses x
 * itself as col; others im2col into plan scratch first. With the own GEMM the
 * im2col writes B's panel layout directly. The scratch is capped: images go
 * through in chunks that reuse it (the queue is in order), so a batch-32 RN50
 * layer does not need a gigabyte of columns. */
#include "backends/opencl/ocl_fusion.h"
#include "backends/opencl/ocl_gemm.h"
#include "backends/opencl/ocl_lower_conv.h"
#include "backends/opencl/ocl_lower_ops.h"
#include "backends/opencl/ocl_plan_internal.h"
#include "backends/opencl/ocl_shared_scratch.h"
#include "runtime/status.h"

#include <stdlib.h>

/* Largest im2col scratch one conv node gets; $CLIPCL_CONV_SCRATCH (bytes)
 * overrides, so tests can force the chunked path on small images. */
static size_t conv_scratch_cap(ocl_lower *lc)
{
    return ocl_lower_ctx(lc)->policy.conv_scratch_bytes;
}

static int set_im2col_args(cl_kernel k, cl_mem x, const conv_geom *c, int n0, cl_mem dst)
{
    cl_int4 g0 = {{c->C, c->H, c->W, c->KH}};
    cl_int4 g1 = {{c->KW, c->SH, c->SW, c->PH}};
    cl_int4 g2 = {{c->PW, c->OH, c->OW, 0}};
    cl_int n = n0;
    RT_CHECK(clSetKernelArg(k, 0, sizeof x, &x));
    RT_CHECK(clSetKernelArg(k, 1, sizeof g0, &g0));
    RT_CHECK(clSetKernelArg(k, 2, sizeof g1, &g1));
    RT_CHECK(clSetKernelArg(k, 3, sizeof g2, &g2));
    RT_CHECK(clSetKernelArg(k, 4, sizeof n, &n));
    RT_CHECK(clSetKernelArg(k, 5, sizeof dst, &dst));
    ocl_ss_note_arg(k, 5, dst); /* dst is shared scratch: re-bound after lowering */
    return CC_OK;
}

/* The small-Q path: with few output pixels per image (ViT's patch
 * embedding: Q = 49 against panels of 32-48 columns) the per-image GEMM
 * W[O, K] @ col[K, Q] wastes most of its last panel and re-reads W for every
 * image. Instead Y^T = colT[N*Q, K] @ W^T[K, O] + b is one tall GEMM over a
 * chunk of images (W packed once, bias per column in the epilogue), and
 * conv_untranspose writes NCHW. */
static int lower_conv2d_rows(ocl_lower *lc, int node, const conv_geom *c, const conv_io *io,
                             const ocl_gemm_sink *s, ocl_gemm_impl impl, size_t chunk)
{
    const graph *g = ocl_lower_graph(lc);
    const g_node *nd = &g->nodes[node];
    const int K = c->C * c->KH * c->KW, Q = c->OH * c->OW;
    cl_mem x = ocl_lower_mem(lc, nd->in[0]), y = io->y, colT, yT;
    int rc;
    if ((rc = ocl_lower_shared_scratch(lc, chunk * Q * (size_t)K * sizeof(float), &colT)) ||
        (rc = ocl_lower_shared_scratch(lc, chunk * Q * (size_t)c->O * sizeof(float), &yT)))
        return rc;
    for (size_t n0 = 0; n0 < (size_t)c->N; n0 += chunk) {
        const size_t cnt = (size_t)c->N - n0 < chunk ? (size_t)c->N - n0 : chunk;
        cl_kernel k;
        if ((rc = ocl_lower_kernel(lc, "conv.cl", "conv_im2col_rows", "", &k)) ||
            (rc = set_im2col_args(k, x, c, (int)n0, colT)))
            return rc;
        const size_t gi[3] = {(size_t)c->C * (size_t)c->KH, (size_t)Q, cnt};
        if ((rc = ocl_lower_launch(lc, node, k, 3, gi, NULL)))
            return rc;
        ocl_gemm_args a = {0};
        a.M = (int)(cnt * Q);
        a.N = c->O;
        a.K = K;
        a.batch = 1;
        a.a = colT;
        a.b = io->w; /* W [O, K] read as W^T */
        a.trans_b = 1;
        a.b_static = io->w_static;
        a.c = yT;
        a.act = io->act; /* elementwise: commutes with the untranspose */
        if (io->bias) {
            a.bias = io->bias;
            a.bias_mode = OCL_BIAS_COL;
        }
        if ((rc = ocl_gemm_emit(s, &a, impl)) ||
            (rc = ocl_lower_kernel(lc, "conv.cl", "conv_untranspose", "", &k)) ||
            (rc = ocl_set_args(k, "miim", yT, c->O, (int)n0, y)))
            return rc;
        const size_t gu[3] = {(size_t)Q, (size_t)c->O, cnt};
        if ((rc = ocl_lower_launch(lc, node, k, 3, gu, NULL)))
            return rc;
    }
    return CC_OK;
}

/* 1 when the small-Q path applies: the own CPU-class GEMM and fewer output
 * pixels than two column panels; $CLIPCL_CONV_ROWS=0|1 overrides (tests). */
static int use_rows_path(ocl_lower *lc, int packed, int Q, size_t pw)
{
    const int forced = ocl_lower_ctx(lc)->policy.conv_rows;
    if (forced >= 0)
        return forced;
    return packed && (size_t)Q < 2 * pw;
}

conv_geom ocl_conv_geom(const graph *g, int node)
{
    const g_node *nd = &g->nodes[node];
    const g_tensor *tx = &g->tensors[nd->in[0]], *tw = &g->tensors[nd->in[1]], *to = &g->tensors[nd->out];
    conv_geom c = {(int)tx->shape[0], (int)tx->shape[1], (int)tx->shape[2], (int)tx->shape[3],
                   (int)tw->shape[0], (int)tw->shape[2], (int)tw->shape[3], nd->attr.stride[0],
                   nd->attr.stride[1], nd->attr.pad[0], nd->attr.pad[1], (int)to->shape[2], (int)to->shape[3]};
    return c;
}

static int lower_conv2d(ocl_lower *lc, int node, const conv_io *io)
{
    const graph *g = ocl_lower_graph(lc);
    const g_node *nd = &g->nodes[node];
    const g_tensor *tx = &g->tensors[nd->in[0]], *tw = &g->tensors[nd->in[1]], *to = &g->tensors[nd->out];
    if (tx->ndim != 4 || tw->ndim != 4 || to->ndim != 4)
        return cc_fail(CC_ERR_SHAPE, "ocl conv2d '%s': x, w and output must be 4-D", nd->name);
    const conv_geom c = ocl_conv_geom(g, node);
    const int K = c.C * c.KH * c.KW, Q = c.OH * c.OW;
    if (ocl_conv_direct_applies(lc, &c, io))
        return ocl_lower_conv2d_direct(lc, node, &c, io);
    if (io->res) /* the fusion claims a residual only where the implicit GEMM applies */
        return cc_fail(CC_ERR_INVALID, "ocl conv2d '%s': a fused residual needs the direct or local conv", nd->name);

    ocl_gemm_impl impl;
    int rc = ocl_gemm_choose(ocl_lower_ctx(lc), &impl);
    if (rc)
        return rc;
    ocl_gemm_plan_user u;
    ocl_gemm_sink s;
    ocl_gemm_plan_sink(lc, node, &u, &s);

    ocl_gemm_args a = {0};
    a.M = c.O;
    a.N = Q;
    a.K = K;
    a.a = io->w;
    a.a_stride = 0; /* one weight for every image */
    a.a_static = io->w_static;
    a.c = io->y;
    a.c_stride = (size_t)c.O * Q;
    a.act = io->act;
    if (io->bias) {
        a.bias = io->bias;
        a.bias_mode = OCL_BIAS_ROW;
    }
    cl_mem x = ocl_lower_mem(lc, nd->in[0]);

    /* the CPU-class own kernel reads B in panels: im2col writes them directly */
    const int packed = impl == OCL_GEMM_OWN && !ocl_gemm_use_local(ocl_lower_ctx(lc));
    ocl_gemm_tile t = ocl_gemm_tile_for(ocl_lower_ctx(lc));
    const size_t pw = (size_t)t.vw * (size_t)t.nv;
    const size_t per_image = packed ? ocl_gemm_panel_floats(t, K, Q) : (size_t)K * Q;
    size_t chunk = conv_scratch_cap(lc) / (per_image * sizeof(float));
    if (chunk < 1)
        chunk = 1;
    if (chunk > (size_t)c.N)
        chunk = (size_t)c.N;
    if (use_rows_path(lc, packed, Q, pw)) {
        /* the cap bounds colT and yT together */
        size_t rows_chunk = conv_scratch_cap(lc) / ((size_t)Q * ((size_t)K + (size_t)c.O) * sizeof(float));
        rows_chunk = rows_chunk < 1 ? 1 : rows_chunk > (size_t)c.N ? (size_t)c.N : rows_chunk;
        return lower_conv2d_rows(lc, node, &c, io, &s, impl, rows_chunk);
    }
    /* 1x1 stride-1 unpadded: x already is col. CLBlast reads it in place;
     * the own GEMM packs it, which is the same copy as the packed im2col, so
     * it goes through the chunked path unless the whole batch fits the cap. */
    if (c.KH == 1 && c.KW == 1 && c.SH == 1 && c.SW == 1 && c.PH == 0 && c.PW == 0 &&
        (!packed || chunk == (size_t)c.N)) {
        a.batch = c.N;
        a.b = x;
        a.b_stride = (size_t)c.C * Q;
        return ocl_gemm_emit(&s, &a, impl);
    }
    cl_mem col;
    if ((rc = ocl_lower_shared_scratch(lc, chunk * per_image * sizeof(float), &col)))
        return rc;
    char opts[96];
    ocl_gemm_tile_options(ocl_lower_ctx(lc), t, opts, sizeof opts);
    for (size_t n0 = 0; n0 < (size_t)c.N; n0 += chunk) {
        size_t cnt = (size_t)c.N - n0 < chunk ? (size_t)c.N - n0 : chunk;
        cl_kernel k;
        if ((rc = ocl_lower_kernel(lc, "conv.cl", packed ? "conv_im2col_packed" : "conv_im2col", opts, &k)) ||
            (rc = set_im2col_args(k, x, &c, (int)n0, col)))
            return rc;
        size_t gws[3] = {packed ? (size_t)K : (size_t)Q, packed ? ocl_round_up((size_t)Q, pw) / pw : (size_t)K, cnt};
        if ((rc = ocl_lower_launch(lc, node, k, 3, gws, NULL)))
            return rc;
        ocl_gemm_args ac = a;
        ac.batch = (int)cnt;
        ac.b = col;
        ac.b_stride = per_image;
        ac.b_packed = packed;
        ac.c_off = n0 * (size_t)c.O * Q;
        if ((rc = ocl_gemm_emit(&s, &ac, impl)))
            return rc;
    }
    return CC_OK;
}

int ocl_lower_avgpool2d(ocl_lower *lc, int node)
{
    const graph *g = ocl_lower_graph(lc);
    const g_node *nd = &g->nodes[node];
    const g_tensor *tx = &g->tensors[nd->in[0]], *to = &g->tensors[nd->out];
    if (tx->ndim != 4 || to->ndim != 4)
        return cc_fail(CC_ERR_SHAPE, "ocl avgpool2d '%s': x and output must be 4-D", nd->name);
    const g_attr *at = &nd->attr;
    int both = at->kernel[1] != 0; /* the builder fills both; accept [0] alone */
    int kh = at->kernel[0], kw = both ? at->kernel[1] : kh;
    int sh = at->stride[0], sw = both ? at->stride[1] : sh;
    int ph = at->pad[0], pw = both ? at->pad[1] : ph;
    cl_kernel k;
    int rc = ocl_lower_kernel(lc, "conv.cl", "avgpool2d", "", &k);
    if (rc)
        return rc;
    if ((rc = ocl_set_args(k, "mmiiiiiiiiii", ocl_lower_mem(lc, nd->in[0]), ocl_lower_mem(lc, nd->out),
                           (int)tx->shape[2], (int)tx->shape[3], (int)to->shape[2], (int)to->shape[3], kh, kw,
                           sh, sw, ph, pw)))
        return rc;
    size_t gws[3] = {(size_t)to->shape[3], (size_t)to->shape[2], (size_t)(to->shape[0] * to->shape[1])};
    return ocl_lower_launch(lc, node, k, 3, gws, NULL);
}

int ocl_lower_conv2d_with(ocl_lower *lc, int node, cl_mem w, cl_mem bias, cl_mem y, int act, cl_mem res)
{
    /* the callers pass weights folded from params by a static launch */
    const conv_io io = {w, bias, y, (ocl_gemm_act)act, 1, res};
    return lower_conv2d(lc, node, &io);
}

int ocl_conv_takes_residual(ocl_lower *lc, int node)
{
    const conv_geom c = ocl_conv_geom(ocl_lower_graph(lc), node);
    const conv_io io = {NULL, NULL, NULL, OCL_ACT_RELU, 1, (cl_mem)1};
    return ocl_conv_direct_applies(lc, &c, &io);
}

int ocl_lower_conv2d(ocl_lower *lc, int node)
{
    const g_node *n = &ocl_lower_graph(lc)->nodes[node];
    const int has_bias = n->n_in > 2 && n->in[2] >= 0;
    const conv_io io = {ocl_lower_mem(lc, n->in[1]), has_bias ? ocl_lower_mem(lc, n->in[2]) : NULL,
                        ocl_lower_mem(lc, n->out), OCL_ACT_NONE, ocl_lower_is_param_data(lc, n->in[1]), NULL};
    return lower_conv2d(lc, node, &io);
}
