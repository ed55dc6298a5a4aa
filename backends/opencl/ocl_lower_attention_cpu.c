/* G_OP_ATTENTION on CPU-class devices (kernels/attention_cpu.cl): a work-item
 * per (tile of query rows, head, batch) with the head dim in float16 vectors.
 * Profiling ViT-B/32 on PoCL showed the one-row-per-work-item kernel
 * (attention.cl) at ~1 GFLOP/s and 14% of the tower's time; this one is used
 * where it applies (head dim a multiple of 16, S small enough for the private
 * score rows) and the device is CPU class. CLIPCL_ATTENTION=rows|cpu forces
 * one or the other (tests run both). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/opencl/ocl_lower_ops.h"
#include "runtime/status.h"

/* Private score rows are TQ x SMAX floats per work-item. */
#define OCL_ATTN_CPU_MAX_S 1024
#define OCL_ATTN_CPU_TQ 4

int ocl_attention_use_cpu(ocl_lower *lc, int node)
{
    const graph *g = ocl_lower_graph(lc);
    const g_node *n = &g->nodes[node];
    const g_tensor *tq = &g->tensors[n->in[0]], *tk = &g->tensors[n->in[1]];
    if (tq->ndim != 3 || tk->ndim != 3 || n->attr.heads < 1 || tq->shape[2] % n->attr.heads)
        return 0; /* the general lowering reports the error */
    const int64_t hd = tq->shape[2] / n->attr.heads;
    if (hd % 16 || hd > 256 || tk->shape[1] > OCL_ATTN_CPU_MAX_S)
        return 0;
    const char *env = getenv("CLIPCL_ATTENTION");
    if (env && !strcmp(env, "rows"))
        return 0;
    if (env && !strcmp(env, "cpu"))
        return 1;
    return !ocl_lower_gpu_rows(lc);
}

int ocl_lower_attention_cpu(ocl_lower *lc, int node)
{
    const graph *g = ocl_lower_graph(lc);
    const g_node *n = &g->nodes[node];
    const g_tensor *tq = &g->tensors[n->in[0]], *tk = &g->tensors[n->in[1]];
    const int64_t B = tq->shape[0], T = tq->shape[1], C = tq->shape[2], S = tk->shape[1];
    const int heads = n->attr.heads;
    const int hd = (int)(C / heads);
    /* SMAX rounded up so nearby S share one compiled program */
    const int64_t smax = (S + 15) / 16 * 16;
    char opts[96];
    snprintf(opts, sizeof opts, "-DHD=%d -DSMAX=%lld -DTQ=%d", hd, (long long)smax, OCL_ATTN_CPU_TQ);
    cl_kernel k;
    int rc = ocl_lower_kernel(lc, "attention_cpu.cl", "attention_cpu", opts, &k);
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
