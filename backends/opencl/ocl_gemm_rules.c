/* The GEMM's shape rules: the tile a device uses, and which kernel and
 * packing one product takes (read B in place or pack it, the row-tile kernel
 * and its A, the grid order, the GPU-style kernel). ocl_gemm.c emits what
 * these decide; the device self-check and the tuner ask them too. */
#include "backends/opencl/ocl_gemm.h"

#include "backends/opencl/ocl_plan_internal.h"
#include "runtime/gemm_space.h"

/* Where B is read in place instead of packed (see ocl_gemm_use_rowmajor_b). */
#define OCL_GEMM_RM_MAX_ROW_TILES 2
#define OCL_GEMM_RM_MAX_K 4096

int ocl_gemm_parse_tile(const char *text, ocl_gemm_tile *out)
{
    rt_gemm_tile t; /* one grammar for a tile everywhere (runtime/gemm_space.h) */
    if (!rt_gemm_tile_parse(text, &t))
        return 0;
    out->tm = t.tm;
    out->vw = t.vw;
    out->nv = t.nv;
    return 1;
}

static _Thread_local int tl_forced;
static _Thread_local ocl_gemm_tile tl_forced_tile;

void ocl_gemm_force_tile(const ocl_gemm_tile *t)
{
    tl_forced = t != NULL;
    if (t)
        tl_forced_tile = *t;
}

ocl_gemm_tile ocl_gemm_tile_for(const rt_ctx *ctx)
{
    /* policy.gemm_tile: the defaults table (6x16x4, docs/gemm.md), then the
     * tile measured for this device (the tuned overlay), then
     * CLIPCL_GEMM_TILE, which also wins over a sweep's forced tile */
    const rt_policy *p = &ctx->policy;
    ocl_gemm_tile t = {p->gemm_tm, p->gemm_vw, p->gemm_nv};
    if (p->source[RT_POL_GEMM_TILE] == RT_SRC_ENV)
        return t;
    if (tl_forced)
        return tl_forced_tile;
    ocl_gemm_tile_cached(ctx, &t); /* the tile measured for this device, if any */
    return t;
}

size_t ocl_gemm_panel_floats(ocl_gemm_tile t, int K, int N)
{
    size_t pw = (size_t)t.vw * (size_t)t.nv;
    return ocl_round_up((size_t)N, pw) * (size_t)K;
}

int ocl_gemm_use_rowmajor_b(const rt_ctx *ctx, int M, int N, int K, ocl_gemm_tile t)
{
    if (ctx->policy.gemm_pack_b != RT_PACK_AUTO) /* CLIPCL_GEMM_PACK */
        return ctx->policy.gemm_pack_b == RT_PACK_NEVER;
    (void)N;
    /* Packing costs a copy of K x N (memory-bound, about as long as the
     * product itself at M = 50); reading B in place costs a page/TLB miss per
     * k per row tile. On PoCL (Xeon, docs/gemm.md) packing won at M = 50
     * already, so B is read in place only when one or two row tiles read it. */
    const int row_tiles = (M + t.tm - 1) / t.tm;
    return row_tiles <= OCL_GEMM_RM_MAX_ROW_TILES && K <= OCL_GEMM_RM_MAX_K;
}

int ocl_gemm_use_packed_a(const rt_ctx *ctx, int M, ocl_gemm_tile t)
{
    if (ctx->policy.gemm_pack_a != RT_PACK_AUTO) /* CLIPCL_GEMM_PACK_A */
        return ctx->policy.gemm_pack_a != RT_PACK_NEVER;
    /* the pack is a copy of M x K: worth it once A is re-read by many panels */
    return (M + t.tm - 1) / t.tm > OCL_GEMM_RM_MAX_ROW_TILES;
}

int ocl_gemm_panel_major(const rt_ctx *ctx, size_t a_bytes, size_t b_bytes)
{
    if (ctx->policy.gemm_order != RT_ORDER_AUTO) /* CLIPCL_GEMM_ORDER */
        return ctx->policy.gemm_order == RT_ORDER_PANELS;
    /* Row order re-reads all of A once per column panel, panel order all of
     * B once per row group: the re-read operand should come from the
     * last-level cache (what CL_DEVICE_GLOBAL_MEM_CACHE_SIZE reports on a
     * CPU), where it shares the room with the other operand's stream, C and
     * the other cores. So row order while A fits in half of that cache, else
     * panel order if B is the smaller (ViT fc2 at batch 32: A 19.7 MB, B
     * 9.4 MB, cache 32 MB), docs/gemm.md "A in place". Unknown size: rows. */
    const size_t cache = (size_t)ctx->dev.global_mem_cache_bytes;
    return cache && a_bytes > cache / 2 && b_bytes < a_bytes;
}

int ocl_gemm_use_local(const rt_ctx *ctx)
{
    return ctx->policy.gemm_variant == RT_STYLE_GPU; /* runtime/policy.h */
}
