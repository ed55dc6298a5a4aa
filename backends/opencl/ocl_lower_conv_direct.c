/* conv2d as an implicit GEMM that reads the input in place instead of
 * writing im2col columns (KH*KW times the input, through memory, for every
 * 3x3 conv):
 *   direct (CPU style, kernels/conv_direct.cl): stride 1; the input is
 *     zero-padded once into scratch (a 1x1 unpadded conv reads x itself) so
 *     that every tap of TM x PW outputs is one vector load; the GEMM's
 *     register tile (the device's tuned TMxVWxNV) and the weight in row
 *     panels packed once by a static launch.
 *   local (GPU style, kernels/conv_local.cl): 64x64 local-memory tiles over
 *     the whole batch's pixels, any stride and padding.
 * The bias (a folded BatchNorm's too) and a ReLU are applied in the store. */
#include "backends/opencl/ocl_lower_conv.h"
#include "backends/opencl/ocl_plan_internal.h"
#include "runtime/rt.h"
#include "runtime/status.h"

#include <stdio.h>

int ocl_conv_direct_applies(ocl_lower *lc, const conv_geom *c, const conv_io *io)
{
    const rt_ctx *ctx = ocl_lower_ctx(lc);
    if (io->act != OCL_ACT_NONE && io->act != OCL_ACT_RELU)
        return 0;
    if (c->OH < 1 || c->OW < 1 || c->KH > 11 || c->KW > 11)
        return 0;
    if (ctx->policy.conv_variant == RT_CONV_LOCAL)
        return ctx->dev.max_work_group_size >= 256 && (int64_t)c->N * c->OH * c->OW <= INT32_MAX &&
               (int64_t)c->C * c->KH * c->KW <= INT32_MAX;
    if (ctx->policy.conv_variant != RT_CONV_DIRECT)
        return 0;
    /* stride 1 with the output the padded input's valid windows */
    const int64_t hp = (int64_t)c->H + 2 * c->PH, wp = (int64_t)c->W + 2 * c->PW;
    return c->SH == 1 && c->SW == 1 && c->OH == hp - c->KH + 1 && c->OW == wp - c->KW + 1 &&
           hp * wp * c->C <= INT32_MAX;
}

static int lower_local(ocl_lower *lc, int node, const conv_geom *c, const conv_io *io)
{
    const g_node *nd = &ocl_lower_graph(lc)->nodes[node];
    char opts[48];
    snprintf(opts, sizeof opts, "-DEPI_ACT=%d -DEPI_RES=%d", io->act == OCL_ACT_RELU ? 3 : 0, io->res != NULL);
    cl_kernel k;
    int rc = ocl_lower_kernel(lc, "conv_local.cl", "conv_local", opts, &k);
    if (rc)
        return rc;
    cl_mem x = ocl_lower_mem(lc, nd->in[0]);
    cl_mem bias = io->bias ? io->bias : io->w;
    const cl_int has_bias = io->bias != NULL;
    const cl_int4 g0 = {{c->C, c->H, c->W, c->KH}}, g1 = {{c->KW, c->SH, c->SW, c->PH}},
                  g2 = {{c->PW, c->OH, c->OW, c->O}};
    const cl_int ncol = c->N * c->OH * c->OW;
    RT_CHECK(clSetKernelArg(k, 0, sizeof x, &x));
    RT_CHECK(clSetKernelArg(k, 1, sizeof io->w, &io->w));
    RT_CHECK(clSetKernelArg(k, 2, sizeof bias, &bias));
    RT_CHECK(clSetKernelArg(k, 3, sizeof has_bias, &has_bias));
    RT_CHECK(clSetKernelArg(k, 4, sizeof g0, &g0));
    RT_CHECK(clSetKernelArg(k, 5, sizeof g1, &g1));
    RT_CHECK(clSetKernelArg(k, 6, sizeof g2, &g2));
    RT_CHECK(clSetKernelArg(k, 7, sizeof ncol, &ncol));
    RT_CHECK(clSetKernelArg(k, 8, sizeof io->y, &io->y));
    cl_mem r = io->res ? io->res : io->y;
    RT_CHECK(clSetKernelArg(k, 9, sizeof r, &r));
    const size_t gws[2] = {ocl_round_up((size_t)ncol, 64) / 4, ocl_round_up((size_t)c->O, 64) / 4};
    const size_t lws[2] = {16, 16};
    return ocl_lower_launch(lc, node, k, 2, gws, lws);
}

/* Ap = the weight in row panels of TM, the layout the GEMM gives a packed A
 * (gemm_pack_a of gemm.cl, the tile's own program, built anyway for the
 * GEMMs): once for params (static launch), every run otherwise. */
static int pack_weight(ocl_lower *lc, int node, const conv_io *io, int O, int K, ocl_gemm_tile t, cl_mem *ap)
{
    const size_t tiles = ocl_round_up((size_t)O, (size_t)t.tm) / (size_t)t.tm;
    const size_t bytes = tiles * (size_t)t.tm * (size_t)K * sizeof(float);
    char opts[96];
    ocl_gemm_tile_options(ocl_lower_ctx(lc), t, opts, sizeof opts);
    cl_kernel k;
    int rc = io->w_static ? ocl_lower_derived_scratch(lc, bytes, ap) : ocl_lower_shared_scratch(lc, bytes, ap);
    if (rc || (rc = ocl_lower_kernel(lc, "gemm.cl", "gemm_pack_a", opts, &k)) ||
        (rc = ocl_set_args(k, "iimllm", O, K, io->w, (int64_t)0, (int64_t)0, *ap)))
        return rc;
    const size_t gws[3] = {(size_t)K, tiles, 1};
    return io->w_static ? ocl_lower_launch_static(lc, node, k, 3, gws, NULL) : ocl_lower_launch(lc, node, k, 3, gws, NULL);
}

int ocl_lower_conv2d_direct(ocl_lower *lc, int node, const conv_geom *c, const conv_io *io)
{
    const rt_ctx *ctx = ocl_lower_ctx(lc);
    if (ctx->policy.conv_variant == RT_CONV_LOCAL)
        return lower_local(lc, node, c, io);
    const g_node *nd = &ocl_lower_graph(lc)->nodes[node];
    const ocl_gemm_tile t = ocl_gemm_tile_for(ctx);
    const int K = c->C * c->KH * c->KW;
    const size_t pw = (size_t)t.vw * (size_t)t.nv;
    char opts[128];
    snprintf(opts, sizeof opts, "-DTM=%d -DVW=%d -DNV=%d -DCKH=%d -DCKW=%d -DEPI_ACT=%d -DEPI_RES=%d", t.tm, t.vw,
             t.nv, c->KH, c->KW, io->act == OCL_ACT_RELU ? 3 : 0, io->res != NULL);
    cl_mem ap, xp, x = ocl_lower_mem(lc, nd->in[0]);
    int rc = pack_weight(lc, node, io, c->O, K, t, &ap);
    if (rc)
        return rc;

    const int padded = c->PH > 0 || c->PW > 0;
    const int Wp = c->W + 2 * c->PW, Hp = c->H + 2 * c->PH;
    const int64_t plane = (int64_t)Hp * Wp, x_img = plane * c->C;
    const int qn = (c->OH - 1) * Wp + c->OW;
    size_t chunk = (size_t)c->N;
    if (padded) {
        chunk = ctx->policy.conv_scratch_bytes / ((size_t)x_img * sizeof(float));
        chunk = chunk < 1 ? 1 : chunk > (size_t)c->N ? (size_t)c->N : chunk;
        if ((rc = ocl_lower_shared_scratch(lc, chunk * (size_t)x_img * sizeof(float), &xp)))
            return rc;
    } else {
        xp = x;
    }
    cl_mem bias = io->bias ? io->bias : ap;
    for (size_t n0 = 0; n0 < (size_t)c->N; n0 += chunk) {
        const size_t cnt = (size_t)c->N - n0 < chunk ? (size_t)c->N - n0 : chunk;
        cl_kernel k;
        if (padded) {
            if ((rc = ocl_lower_kernel(lc, "conv_direct.cl", "conv_pad", "", &k)) ||
                (rc = ocl_set_args(k, "miiiilm", x, c->H, c->W, c->PH, c->PW,
                                   (int64_t)(n0 * (size_t)c->C * (size_t)c->H * (size_t)c->W), xp)))
                return rc;
            const size_t gp[3] = {(size_t)Wp, (size_t)Hp, cnt * (size_t)c->C};
            if ((rc = ocl_lower_launch(lc, node, k, 3, gp, NULL)))
                return rc;
        }
        /* unpadded, xp is x and chunk is N: the last image ends the buffer */
        if ((rc = ocl_lower_kernel(lc, "conv_direct.cl", "conv_direct", opts, &k)) ||
            (rc = ocl_set_args(k, "iiiiilliimmmiimm", c->O, c->C, Wp, c->OH, c->OW, plane, x_img, qn,
                               padded ? (int)(cnt - 1) : c->N - 1, xp, ap, bias, io->bias != NULL,
                               (int)n0, io->y, io->res ? io->res : io->y)))
            return rc;
        const size_t gd[3] = {ocl_round_up((size_t)c->O, (size_t)t.tm) / (size_t)t.tm,
                              ocl_round_up((size_t)qn, pw) / pw, cnt};
        /* local size 1, as the GEMM: PoCL runs one work-item's register
         * tile as written instead of looping (or vectorising) over a group */
        const size_t one[3] = {1, 1, 1};
        if ((rc = ocl_lower_launch(lc, node, k, 3, gd, one)))
            return rc;
    }
    return CC_OK;
}
