/* G_OP_ATTENTION_GRAD (kernels/attention_grad.cl): one node yields one of
 * dq, dk, dv (attr which). Row kernels: attng_stats writes each query row's
 * log-sum-exp and D = rowsum(dP * P) into plan scratch once per attention,
 * then each gradient kernel recomputes any probability from one dot
 * product. CPU-class kernels: one pass per attention, attng_rows_cpu stores
 * P and dS, and each node is one sweep over them (pd_buffer below). Same
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

/* 1 when nodes a and b belong to one attention: the same q, k, v, dout,
 * heads and mask. */
static int same_attention(const g_node *a, const g_node *b)
{
    return a->op == G_OP_ATTENTION_GRAD && b->op == G_OP_ATTENTION_GRAD && a->in[0] == b->in[0] &&
           a->in[1] == b->in[1] && a->in[2] == b->in[2] && a->in[3] == b->in[3] &&
           a->attr.heads == b->attr.heads && !a->attr.causal == !b->attr.causal;
}

static size_t pd_bytes(const graph *g, const g_node *n)
{
    const g_tensor *tq = &g->tensors[n->in[0]], *tk = &g->tensors[n->in[1]];
    const size_t sp = (size_t)(tk->shape[1] + 15) / 16 * 16;
    return (size_t)tq->shape[0] * (size_t)n->attr.heads * (size_t)tq->shape[1] * sp * 2 * sizeof(float);
}

/* 1 when the attention of `node` runs its nodes with no node of another
 * attention in between, in the schedule the plan runs (g_schedule): then
 * its P and dS can live in the one buffer every such attention reuses, as
 * each has read them before the next one's first node overwrites them.
 * Sets *max_bytes to the largest P and dS of any attention of the graph. */
static int runs_alone(const graph *g, int node, size_t *max_bytes)
{
    int *order = malloc((size_t)g->n_nodes * sizeof *order), *at = malloc((size_t)g->n_nodes * sizeof *at);
    int alone = 0;
    *max_bytes = 0;
    if (!order || !at)
        goto done;
    const int n = g_schedule(g, order);
    if (n <= 0)
        goto done;
    int m = 0; /* schedule positions of every attention_grad node */
    for (int i = 0; i < n; i++)
        if (g->nodes[order[i]].op == G_OP_ATTENTION_GRAD) {
            at[m++] = i;
            if (pd_bytes(g, &g->nodes[order[i]]) > *max_bytes)
                *max_bytes = pd_bytes(g, &g->nodes[order[i]]);
        }
    const g_node *me = &g->nodes[node];
    int lo = n, hi = -1;
    for (int j = 0; j < m; j++)
        if (same_attention(&g->nodes[order[at[j]]], me)) {
            lo = at[j] < lo ? at[j] : lo;
            hi = at[j];
        }
    alone = hi >= 0;
    for (int j = 0; alone && j < m; j++) {
        const g_node *x = &g->nodes[order[at[j]]];
        if (same_attention(x, me))
            continue;
        int xlo = n, xhi = -1; /* x's attention's first and last position */
        for (int i = 0; i < m; i++)
            if (same_attention(&g->nodes[order[at[i]]], x)) {
                xlo = at[i] < xlo ? at[i] : xlo;
                xhi = at[i];
            }
        alone = xhi < lo || xlo > hi;
    }
done:
    free(order);
    free(at);
    return alone;
}

/* The P and dS buffer of this node's attention; *first 1 when this node is
 * the attention's first (it must fill the buffer). An attention that runs
 * alone (runs_alone) takes the plan's one shared buffer, sized for the
 * largest attention; one interleaved with another gets its own. */
static int pd_buffer(ocl_lower *lc, int node, int *first, cl_mem *out)
{
    const graph *g = ocl_lower_graph(lc);
    const g_node *n = &g->nodes[node];
    const int key[8] = {G_OP_ATTENTION_GRAD, n->in[0], n->in[1], n->in[2], n->in[3], n->attr.causal ? 1 : 0,
                        n->attr.heads, 2};
    *first = !ocl_lower_memo_get(lc, key, 8, out);
    if (!*first)
        return CC_OK;
    static const int shared_key[2] = {G_OP_ATTENTION_GRAD, -1};
    size_t max_bytes = 0;
    int rc = CC_OK;
    if (!runs_alone(g, node, &max_bytes))
        rc = ocl_lower_scratch(lc, pd_bytes(g, n), out);
    else if (!ocl_lower_memo_get(lc, shared_key, 2, out) && !(rc = ocl_lower_scratch(lc, max_bytes, out)))
        rc = ocl_lower_memo_put(lc, shared_key, 2, *out);
    return rc ? rc : ocl_lower_memo_put(lc, key, 8, *out);
}

/* The CPU-class kernels: the attention's first node runs attng_rows_cpu
 * (P and dS into pd; dQ as well when it is the dq node), every other node
 * one sweep over pd. */
static int lower_cpu(ocl_lower *lc, int node, cl_mem q, cl_mem k, cl_mem v, cl_mem dout, cl_mem out,
                     const char *opts, const size_t *rows_q, const size_t *rows_k)
{
    const graph *g = ocl_lower_graph(lc);
    const g_node *n = &g->nodes[node];
    const g_tensor *tq = &g->tensors[n->in[0]], *tk = &g->tensors[n->in[1]];
    const int T = (int)tq->shape[1], S = (int)tk->shape[1], C = (int)tq->shape[2];
    const int causal = n->attr.causal ? 1 : 0, which = n->attr.which;
    const double scale = 1.0 / sqrt((double)(C / n->attr.heads));
    static const size_t one[3] = {1, 1, 1};
    cl_mem pd;
    cl_kernel kr, kg;
    int first, rc = pd_buffer(lc, node, &first, &pd);
    if (rc)
        return rc;
    if (first) {
        if ((rc = ocl_lower_kernel(lc, "attention_grad.cl", "attng_rows_cpu", opts, &kr)) ||
            (rc = ocl_set_args(kr, "mmmmmmiiiifi", q, k, v, dout, pd, out, T, S, C, causal, scale, which == 0)) ||
            (rc = ocl_lower_launch(lc, node, kr, 3, rows_q, one)))
            return rc;
        if (which == 0)
            return CC_OK;
    }
    static const char *const names[3] = {"attng_dq_pd_cpu", "attng_dk_pd_cpu", "attng_dv_pd_cpu"};
    if ((rc = ocl_lower_kernel(lc, "attention_grad.cl", names[which], opts, &kg)) ||
        (rc = ocl_set_args(kg, "mmmmmmiiiif", q, k, v, dout, pd, out, T, S, C, causal, scale)))
        return rc;
    return ocl_lower_launch(lc, node, kg, 3, which == 0 ? rows_q : rows_k, one);
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
    if (cpu) {
        const size_t rows_q[3] = {(size_t)(T + ATTNG_TQ - 1) / ATTNG_TQ, (size_t)heads, (size_t)B};
        const size_t rows_k[3] = {(size_t)(S + ATTNG_TK - 1) / ATTNG_TK, (size_t)heads, (size_t)B};
        return lower_cpu(lc, node, q, k, v, dout, out, opts, rows_q, rows_k);
    }
    const size_t rows_q[3] = {(size_t)T, (size_t)heads, (size_t)B}, rows_k[3] = {(size_t)S, (size_t)heads, (size_t)B};
    cl_kernel kg;

    /* The three nodes of one attention read the same q, k, v, dout and
     * need the same statistics: the first one lowered (= run) computes them
     * into private scratch, the others reuse them (ocl_lower_memo_get). */
    const int key[8] = {G_OP_ATTENTION_GRAD, n->in[0], n->in[1], n->in[2], n->in[3], causal, heads, 0};
    cl_mem stats;
    if (!ocl_lower_memo_get(lc, key, 8, &stats)) {
        cl_kernel ks;
        if ((rc = ocl_lower_scratch(lc, (size_t)(B * heads * T) * 2 * sizeof(float), &stats)) ||
            (rc = ocl_lower_kernel(lc, "attention_grad.cl", "attng_stats", opts, &ks)) ||
            (rc = ocl_set_args(ks, "mmmmmiiiif", q, k, v, dout, stats, (int)T, (int)S, (int)C, causal,
                               (double)scale)) ||
            (rc = ocl_lower_launch(lc, node, ks, 3, rows_q, NULL)) || (rc = ocl_lower_memo_put(lc, key, 8, stats)))
            return rc;
    }
    static const char *const names[3] = {"attng_dq", "attng_dk", "attng_dv"};
    if ((rc = ocl_lower_kernel(lc, "attention_grad.cl", names[which], opts, &kg)) ||
        (rc = ocl_set_args(kg, "mmmmmmiiiif", q, k, v, dout, stats, out, (int)T, (int)S, (int)C, causal,
                           (double)scale)))
        return rc;
    return ocl_lower_launch(lc, node, kg, 3, which == 0 ? rows_q : rows_k, NULL);
}
