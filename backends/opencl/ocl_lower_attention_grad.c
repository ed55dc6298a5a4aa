/* G_OP_ATTENTION_GRAD (kernels/attention_grad.cl): one node yields one of
 * dq, dk, dv (attr which). Two launches per node: attng_stats writes each
 * query row's log-sum-exp and D = rowsum(dP * P) into plan scratch, then the
 * gradient kernel recomputes any probability from one dot product (the
 * CPU-class dq kernel holds whole probability rows and needs no stats). Same
 * semantics as backends/ref/ref_grad_attention.c (scale 1/sqrt(C/heads),
 * causal mask col > row). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/opencl/ocl_lower_ops.h"
#include "runtime/status.h"

static int check_shapes(const graph *g, const g_node *n)
{
    if (n->n_in < 4)
        return cc_fail(CC_ERR_INVALID, "ocl attention_grad '%s': needs q, k, v, dout, has %d inputs", n->name,
                       n->n_in);
    const g_tensor *tq = &g->tensors[n->in[0]], *tk = &g->tensors[n->in[1]], *tv = &g->tensors[n->in[2]];
    const g_tensor *td = &g->tensors[n->in[3]], *to = &g->tensors[n->out];
    const int which = n->attr.which, heads = n->attr.heads;
    if (which < 0 || which > 2)
        return cc_fail(CC_ERR_INVALID, "ocl attention_grad '%s': which = %d, expected 0 (dq), 1 (dk) or 2 (dv)",
                       n->name, which);
    const g_tensor *like = which == 0 ? tq : tk;
    int ok = tq->ndim == 3 && tk->ndim == 3 && tv->ndim == 3 && td->ndim == 3 && to->ndim == 3;
    for (int i = 0; ok && i < 3; i++)
        ok = tk->shape[i] == tv->shape[i] && td->shape[i] == tq->shape[i] && to->shape[i] == like->shape[i];
    ok = ok && tk->shape[0] == tq->shape[0] && tk->shape[2] == tq->shape[2] && heads >= 1 &&
         tq->shape[2] % heads == 0 && (!n->attr.causal || tq->shape[1] == tk->shape[1]);
    if (!ok)
        return cc_fail(CC_ERR_SHAPE, "ocl attention_grad '%s': %d heads, causal %d, q '%s', k '%s', v '%s', "
                       "dout '%s', output '%s' (which %d): expected q and dout [B, T, C], k and v [B, S, C], "
                       "T = S when causal, output shaped like q (dq) or k (dk, dv)",
                       n->name, heads, n->attr.causal, tq->name, tk->name, tv->name, td->name, to->name, which);
    return CC_OK;
}

/* Private score rows of the CPU-class kernels: 2 x TQ x SMAX floats. */
#define ATTNG_CPU_MAX_S 512
#define ATTNG_TQ 4
#define ATTNG_TK 4

/* The CPU-class kernels (float16 head-dim vectors, work-group size 1) where
 * they apply: head dim a multiple of 16, S small enough for the private
 * score rows, a device without real local memory. On PoCL (Xeon, loaded
 * machine) they cut the text tower's shape, B8 T77 C512 h8 causal, from
 * ~300 ms to 13-27 ms wall per gradient node (forward: 2 ms).
 * $CLIPCL_ATTENTION_GRAD=rows|cpu forces either (tests run both). */
static int use_cpu(ocl_lower *lc, int hd, int64_t S)
{
    if (hd % 16 || hd > 256 || S > ATTNG_CPU_MAX_S)
        return 0;
    return ocl_lower_ctx(lc)->policy.attention_grad == RT_STYLE_CPU; /* CLIPCL_ATTENTION_GRAD */
}

int ocl_lower_attention_grad(ocl_lower *lc, int node)
{
    const graph *g = ocl_lower_graph(lc);
    const g_node *n = &g->nodes[node];
    int rc = check_shapes(g, n);
    if (rc)
        return rc;
    const g_tensor *tq = &g->tensors[n->in[0]], *tk = &g->tensors[n->in[1]];
    const int64_t B = tq->shape[0], T = tq->shape[1], C = tq->shape[2], S = tk->shape[1];
    const int heads = n->attr.heads, hd = (int)(C / heads), causal = n->attr.causal ? 1 : 0;
    const int which = n->attr.which, cpu = use_cpu(lc, hd, S);
    const float scale = (float)(1.0 / sqrt((double)hd));
    cl_mem q = ocl_lower_mem(lc, n->in[0]), k = ocl_lower_mem(lc, n->in[1]);
    cl_mem v = ocl_lower_mem(lc, n->in[2]), dout = ocl_lower_mem(lc, n->in[3]), out = ocl_lower_mem(lc, n->out);
    char opts[96];
    /* SMAX only sizes the private rows (the loops stop at S), so it is a
     * power of two >= 64: few programs to compile, each compile costs seconds */
    int smax = 64;
    while (smax < S)
        smax *= 2;
    if (cpu)
        snprintf(opts, sizeof opts, "-DHD=%d -DSMAX=%d -DTQ=%d -DTK=%d", hd, smax, ATTNG_TQ, ATTNG_TK);
    else
        snprintf(opts, sizeof opts, "-DHD=%d", hd);
    static const size_t one[3] = {1, 1, 1};
    const size_t *lws = cpu ? one : NULL;
    const size_t rows_q[3] = {cpu ? (size_t)(T + ATTNG_TQ - 1) / ATTNG_TQ : (size_t)T, (size_t)heads, (size_t)B};
    const size_t rows_k[3] = {cpu ? (size_t)(S + ATTNG_TK - 1) / ATTNG_TK : (size_t)S, (size_t)heads, (size_t)B};
    cl_kernel kg;

    if (cpu && which == 0) { /* holds its rows' P and dP: no stats pass */
        if ((rc = ocl_lower_kernel(lc, "attention_grad.cl", "attng_dq_cpu", opts, &kg)) ||
            (rc = ocl_set_args(kg, "mmmmmiiiif", q, k, v, dout, out, (int)T, (int)S, (int)C, causal,
                               (double)scale)))
            return rc;
        return ocl_lower_launch(lc, node, kg, 3, rows_q, lws);
    }

    /* The dk and dv nodes of one attention read the same q, k, v, dout and
     * need the same statistics: the first one lowered (= run) computes them
     * into private scratch, the other reuses them (ocl_lower_memo_get). */
    const int key[8] = {G_OP_ATTENTION_GRAD, n->in[0], n->in[1], n->in[2], n->in[3], causal, heads, cpu};
    cl_mem stats;
    if (!ocl_lower_memo_get(lc, key, 8, &stats)) {
        cl_kernel ks;
        if ((rc = ocl_lower_scratch(lc, (size_t)(B * heads * T) * 2 * sizeof(float), &stats)) ||
            (rc = ocl_lower_kernel(lc, "attention_grad.cl", cpu ? "attng_stats_cpu" : "attng_stats", opts, &ks)) ||
            (rc = ocl_set_args(ks, "mmmmmiiiif", q, k, v, dout, stats, (int)T, (int)S, (int)C, causal,
                               (double)scale)) ||
            (rc = ocl_lower_launch(lc, node, ks, 3, rows_q, lws)) || (rc = ocl_lower_memo_put(lc, key, 8, stats)))
            return rc;
    }
    static const char *const names[2][3] = {{"attng_dq", "attng_dk", "attng_dv"},
                                            {"attng_dq_cpu", "attng_dk_cpu", "attng_dv_cpu"}};
    if ((rc = ocl_lower_kernel(lc, "attention_grad.cl", names[cpu][which], opts, &kg)) ||
        (rc = ocl_set_args(kg, "mmmmmmiiiif", q, k, v, dout, stats, out, (int)T, (int)S, (int)C, causal,
                           (double)scale)))
        return rc;
    return ocl_lower_launch(lc, node, kg, 3, which == 0 ? rows_q : rows_k, lws);
}
