/* G_OP_ATTENTION on CPU-class devices (kernels/attention.cl, attention_cpu):
 * a work-item per (tile of query rows, head, batch) with the head dim in
 * float16/8/4 vectors and keys in blocks, online across blocks. Profiling
 * ViT-B/32 on PoCL showed the one-row-per-work-item kernel (attention_rows)
 * at ~1 GFLOP/s and 14% of the tower's time; this one is used where it
 * applies (head dim a multiple of 4) and the device is CPU class.
 * CLIPCL_ATTENTION=rows|cpu forces one or the other (tests run both). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/opencl/ocl_lower_ops.h"
#include "runtime/status.h"

/* Query rows per work-item: each K/V row loaded serves 4. */
#define OCL_ATTN_CPU_TQ 4
/* Keys per block: S rounded up to 16 (one block: the two-pass softmax) up
 * to this cap, then blocks of the cap (private scores: TQ x KB floats). */
#define OCL_ATTN_CPU_MAX_KB 128

/* The vector width over the head dim: 16, 8 or 4 dividing it, else 0. */
static int head_vector_width(int64_t hd)
{
    return hd % 16 == 0 ? 16 : hd % 8 == 0 ? 8 : hd % 4 == 0 ? 4 : 0;
}

int ocl_attention_use_cpu(ocl_lower *lc, int node)
{
    const graph *g = ocl_lower_graph(lc);
    const g_node *n = &g->nodes[node];
    const g_tensor *tq = &g->tensors[n->in[0]], *tk = &g->tensors[n->in[1]];
    if (tq->ndim != 3 || tk->ndim != 3 || n->attr.heads < 1 || tq->shape[2] % n->attr.heads)
        return 0; /* the general lowering reports the error */
    const int64_t hd = tq->shape[2] / n->attr.heads;
    if (!head_vector_width(hd) || hd > 256)
        return 0;
    return ocl_lower_ctx(lc)->policy.attention == RT_STYLE_CPU; /* CLIPCL_ATTENTION */
}

int ocl_lower_attention_cpu(ocl_lower *lc, int node)
{
    const graph *g = ocl_lower_graph(lc);
    const g_node *n = &g->nodes[node];
    const g_tensor *tq = &g->tensors[n->in[0]], *tk = &g->tensors[n->in[1]];
    const int64_t B = tq->shape[0], T = tq->shape[1], C = tq->shape[2], S = tk->shape[1];
    const int heads = n->attr.heads;
    const int hd = (int)(C / heads);
    /* rounded up to 16 so nearby S share one compiled program */
    const int64_t kb = S < OCL_ATTN_CPU_MAX_KB ? (S + 15) / 16 * 16 : OCL_ATTN_CPU_MAX_KB;
    char opts[96];
    snprintf(opts, sizeof opts, "-DHD=%d -DVW=%d -DTQ=%d -DKB=%lld", hd, head_vector_width(hd), OCL_ATTN_CPU_TQ,
             (long long)kb);
    cl_kernel k;
    int rc = ocl_lower_kernel(lc, "attention.cl", "attention_cpu", opts, &k);
    if (rc)
        return rc;
    const float scale = (float)(1.0 / sqrt((double)hd));
    if ((rc = ocl_set_args(k, "mmmmiiiif", ocl_lower_mem(lc, n->in[0]), ocl_lower_mem(lc, n->in[1]),
                           ocl_lower_mem(lc, n->in[2]), ocl_lower_mem(lc, n->out), (int)T, (int)S, (int)C,
                           n->attr.causal ? 1 : 0, (double)scale)))
        return rc;
    const size_t gws[3] = {(size_t)((T + OCL_ATTN_CPU_TQ - 1) / OCL_ATTN_CPU_TQ), (size_t)heads, (size_t)B};
    const size_t lws[3] = {1, 1, 1};
    return ocl_lower_launch(lc, node, k, 3, gws, lws);
}
