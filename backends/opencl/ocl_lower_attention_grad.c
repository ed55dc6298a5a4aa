/* G_OP_ATTENTION_GRAD (kernels/attention_grad.cl): one node yields one of
 * dq, dk, dv (attr which). Two launches per node: attng_stats writes each
 * query row's log-sum-exp and D = rowsum(dP * P) into plan scratch, then the
 * gradient kernel recomputes any probability from one dot product. Same
 * semantics as backends/ref/ref_grad_attention.c (scale 1/sqrt(C/heads),
 * causal mask col > row). */
#include <math.h>
#include <stdio.h>

#include "backends/opencl/ocl_lower_grad2.h"
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
    const float scale = (float)(1.0 / sqrt((double)hd));
    cl_mem q = ocl_lower_mem(lc, n->in[0]), k = ocl_lower_mem(lc, n->in[1]);
    cl_mem v = ocl_lower_mem(lc, n->in[2]), dout = ocl_lower_mem(lc, n->in[3]);
    char opts[32];
    snprintf(opts, sizeof opts, "-DHD=%d", hd);

    cl_mem stats;
    cl_kernel ks, kg;
    if ((rc = ocl_lower_scratch(lc, (size_t)(B * heads * T) * 2 * sizeof(float), &stats)) ||
        (rc = ocl_lower_kernel(lc, "attention_grad.cl", "attng_stats", opts, &ks)) ||
        (rc = ocl_set_args(ks, "mmmmmiiiif", q, k, v, dout, stats, (int)T, (int)S, (int)C, causal, (double)scale)))
        return rc;
    size_t rows_q[3] = {(size_t)T, (size_t)heads, (size_t)B};
    if ((rc = ocl_lower_launch(lc, node, ks, 3, rows_q, NULL)))
        return rc;

    static const char *const names[3] = {"attng_dq", "attng_dk", "attng_dv"};
    const int which = n->attr.which;
    if ((rc = ocl_lower_kernel(lc, "attention_grad.cl", names[which], opts, &kg)) ||
        (rc = ocl_set_args(kg, "mmmmmmiiiif", q, k, v, dout, stats, ocl_lower_mem(lc, n->out), (int)T, (int)S,
                           (int)C, causal, (double)scale)))
        return rc;
    size_t rows_k[3] = {(size_t)S, (size_t)heads, (size_t)B};
    return ocl_lower_launch(lc, node, kg, 3, which == 0 ? rows_q : rows_k, NULL);
}
