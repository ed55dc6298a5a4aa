/* G_OP_ATTENTION fused in one kernel (kernels/attention.cl): per (batch,
 * head, query row) the scores over S keys, a stable (online) softmax with an
 * optional causal mask, and the weighted sum of V. Same semantics as
 * backends/ref: q k^T / sqrt(d). Two kernels: attention_blk (CPU class,
 * vectors over the head dim, keys in blocks of 16) and attention_rows (one
 * work-item per row: GPU class, head dims not a multiple of 4). The plan
 * reaches this lowering when ocl_lower_attention_cpu.c's kernel does not
 * apply (S > 1024, head dim not a multiple of 16, GPU class) or
 * CLIPCL_ATTENTION=rows. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/opencl/ocl_backend.h"
#include "backends/opencl/ocl_lower_ops.h"
#include "runtime/status.h"

/* Query rows per work-item of attention_blk: each K/V row loaded serves 4. */
#define OCL_ATTN_BLK_TQ 4

/* Keys per block of attention_blk ($CLIPCL_ATTENTION_KB for a sweep). */
static int blk_keys(void)
{
    const char *env = getenv("CLIPCL_ATTENTION_KB");
    const int kb = env ? atoi(env) : 0;
    return kb >= 16 && kb <= 256 && kb % 16 == 0 ? kb : 32;
}

/* The vector width of attention_blk for head dim hd, or 0 for attention_rows:
 * the block kernel on CPU-class devices when 4 divides hd (PoCL vectorises
 * nothing across its work-items of local size 1, so the vectors must be in
 * the kernel), the row kernel on GPU-class ones and for other head dims.
 * $CLIPCL_ATTENTION_KERNEL=blk|rows forces either (tests run both). */
static int blk_width(ocl_lower *lc, int hd)
{
    const int vw = hd % 16 == 0 ? 16 : hd % 8 == 0 ? 8 : hd % 4 == 0 ? 4 : 0;
    const char *env = getenv("CLIPCL_ATTENTION_KERNEL");
    if (env && !strcmp(env, "rows"))
        return 0;
    if (env && !strcmp(env, "blk"))
        return vw;
    return ocl_lower_gpu_rows(lc) ? 0 : vw;
}

/* The fused GPU-class kernels (attention_blk / attention_rows). */
static int lower_attention_fused(ocl_lower *lc, int node)
{
    const graph *g = ocl_lower_graph(lc);
    const g_node *n = &g->nodes[node];
    const g_tensor *tq = &g->tensors[n->in[0]], *tk = &g->tensors[n->in[1]], *to = &g->tensors[n->out];
    if (tq->ndim != 3 || tk->ndim != 3 || to->ndim != 3)
        return cc_fail(CC_ERR_SHAPE, "ocl attention '%s': q, k, v and output must be 3-D", n->name);
    const int64_t B = tq->shape[0], T = tq->shape[1], C = tq->shape[2], S = tk->shape[1];
    const int heads = n->attr.heads;
    if (heads < 1 || C % heads)
        return cc_fail(CC_ERR_SHAPE, "ocl attention '%s': %d heads do not divide C = %lld", n->name, heads,
                       (long long)C);
    const int hd = (int)(C / heads);
    const int vw = blk_width(lc, hd);
    const int kb = blk_keys();
    char opts[80];
    if (vw)
        snprintf(opts, sizeof opts, "-DHD=%d -DVW=%d -DTQ=%d -DKB=%d", hd, vw, OCL_ATTN_BLK_TQ, kb);
    else
        snprintf(opts, sizeof opts, "-DHD=%d", hd);
    cl_kernel k;
    int rc = ocl_lower_kernel(lc, "attention.cl", vw ? "attention_blk" : "attention_rows", opts, &k);
    if (rc)
        return rc;
    const float scale = (float)(1.0 / sqrt((double)hd));
    if ((rc = ocl_set_args(k, "mmmmiiiif", ocl_lower_mem(lc, n->in[0]), ocl_lower_mem(lc, n->in[1]),
                           ocl_lower_mem(lc, n->in[2]), ocl_lower_mem(lc, n->out), (int)T, (int)S, (int)C,
                           n->attr.causal ? 1 : 0, (double)scale)))
        return rc;
    if (vw) {
        const size_t gws[3] = {(size_t)((T + OCL_ATTN_BLK_TQ - 1) / OCL_ATTN_BLK_TQ), (size_t)heads, (size_t)B};
        const size_t lws[3] = {1, 1, 1};
        return ocl_lower_launch(lc, node, k, 3, gws, lws);
    }
    size_t gws[3] = {(size_t)T, (size_t)heads, (size_t)B};
    return ocl_lower_launch(lc, node, k, 3, gws, NULL);
}

/* The variant choice stays here, with the op: CPU-class devices (or
 * CLIPCL_ATTENTION=cpu) take ocl_lower_attention_cpu.c's kernel. */
int ocl_lower_attention(ocl_lower *lc, int node)
{
    return ocl_attention_use_cpu(lc, node) ? ocl_lower_attention_cpu(lc, node) : lower_attention_fused(lc, node);
}
