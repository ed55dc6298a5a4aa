/* G_OP_ATTENTION fused in one kernel (kernels/attention.cl, attention_rows):
 * per (batch, head, query row) the scores over S keys, a stable (online)
 * softmax with an optional causal mask, and the weighted sum of V. Same
 * semantics as backends/ref: q k^T / sqrt(d). The GPU-class kernel, and the
 * one for head dims attention_cpu (ocl_lower_attention_cpu.c) does not take
 * (not a multiple of 4); CLIPCL_ATTENTION=rows sends every shape here. */
#include <math.h>
#include <stdio.h>

#include "backends/opencl/ocl_backend.h"
#include "backends/opencl/ocl_lower_ops.h"
#include "runtime/status.h"

/* The GPU-class kernel (attention_rows). */
static int lower_attention_rows(ocl_lower *lc, int node)
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
    char opts[32];
    snprintf(opts, sizeof opts, "-DHD=%d", hd);
    cl_kernel k;
    int rc = ocl_lower_kernel(lc, "attention.cl", "attention_rows", opts, &k);
    if (rc)
        return rc;
    const float scale = (float)(1.0 / sqrt((double)hd));
    if ((rc = ocl_set_args(k, "mmmmiiiif", ocl_lower_mem(lc, n->in[0]), ocl_lower_mem(lc, n->in[1]),
                           ocl_lower_mem(lc, n->in[2]), ocl_lower_mem(lc, n->out), (int)T, (int)S, (int)C,
                           n->attr.causal ? 1 : 0, (double)scale)))
        return rc;
    size_t gws[3] = {(size_t)T, (size_t)heads, (size_t)B};
    return ocl_lower_launch(lc, node, k, 3, gws, NULL);
}

/* The variant choice stays here, with the op: CPU-class devices (or
 * CLIPCL_ATTENTION=cpu) take ocl_lower_attention_cpu.c's kernel. */
int ocl_lower_attention(ocl_lower *lc, int node)
{
    return ocl_attention_use_cpu(lc, node) ? ocl_lower_attention_cpu(lc, node) : lower_attention_rows(lc, node);
}
