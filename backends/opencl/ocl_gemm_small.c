/* The small-M choices of the CPU-class own GEMM (kernels/gemm_small.cl):
 * at batch 1 a ViT's GEMMs have M = 50 tokens (77 for the text tower) and
 * the pooled projections and a pooled tower's last block M = 1, where the
 * register tile built for large M wastes work. Both paths live in the
 * tile's own program (no extra compile) and keep every bit of the result;
 * the policy's gemm_small_m (CLIPCL_GEMM_SMALL_M=off) turns them off. */
#include "backends/opencl/ocl_gemm.h"

static int small_m_on(const rt_ctx *ctx) { return ctx->policy.gemm_small_m != 0; }

int ocl_gemm_use_gemv(const rt_ctx *ctx, int M)
{
    /* one row: gemm_tiled would run TM clamped copies of it */
    return M == 1 && small_m_on(ctx);
}

int ocl_gemm_use_tail(const rt_ctx *ctx, int M, ocl_gemm_tile t)
{
    if (!small_m_on(ctx))
        return 0;
    /* the last row tile holds M % TM rows; when they fit the half tile, it
     * runs TH = ceil(TM / 2) rows instead of TM (M = 50 on 6-row tiles:
     * 51 rows instead of 54). Any M: the kernel only checks the rows left. */
    const int th = (t.tm + 1) / 2, left = M % t.tm;
    return th < t.tm && left > 0 && left <= th;
}
