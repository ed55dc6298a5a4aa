/* GEMM epilogue fusions: matmul(+bias) followed by gelu, quickgelu or the add
 * of a same-shape tensor (a residual) becomes one GEMM whose store applies
 * the epilogue (kernels/gemm.cl EPI_ACT / EPI_RES). Both GEMM
 * implementations fuse: the own kernels in their store, CLBlast through one
 * gemm_epilogue launch after the GEMM that also adds the bias (so CLBlast
 * runs two launches instead of bias fill, GEMM and the elementwise op). */
#include "backends/opencl/ocl_fusion.h"
#include "backends/opencl/ocl_gemm.h"
#include "runtime/status.h"

static int same_shape(const graph *g, int a, int b)
{
    const g_tensor *x = &g->tensors[a], *y = &g->tensors[b];
    if (x->ndim != y->ndim || x->dtype != y->dtype)
        return 0;
    for (int d = 0; d < x->ndim; d++)
        if (x->shape[d] != y->shape[d])
            return 0;
    return 1;
}

/* matmul at position i, then a unary act of its output. */
static int match_matmul_act(const ocl_fusion_view *v, int i, int *nodes, g_op act)
{
    nodes[0] = ocl_fusion_at(v, i);
    nodes[1] = ocl_fusion_at(v, i + 1);
    const g_op ops[2] = {G_OP_MATMUL, act};
    if (nodes[0] < 0 || nodes[1] < 0 || !ocl_fusion_can_fuse(v, nodes, 2, ops, NULL, 0))
        return 0;
    const g_node *mm = &v->g->nodes[nodes[0]], *a = &v->g->nodes[nodes[1]];
    if (a->in[0] != mm->out || v->g->tensors[mm->out].dtype != G_F32)
        return 0;
    return 2;
}

int ocl_fusion_match_matmul_gelu(const ocl_fusion_view *v, int i, int *nodes)
{
    return match_matmul_act(v, i, nodes, G_OP_GELU);
}

int ocl_fusion_match_matmul_quickgelu(const ocl_fusion_view *v, int i, int *nodes)
{
    return match_matmul_act(v, i, nodes, G_OP_QUICKGELU);
}

int ocl_fusion_match_matmul_residual(const ocl_fusion_view *v, int i, int *nodes)
{
    nodes[0] = ocl_fusion_at(v, i);
    nodes[1] = ocl_fusion_at(v, i + 1);
    const g_op ops[2] = {G_OP_MATMUL, G_OP_ADD};
    if (nodes[0] < 0 || nodes[1] < 0 || !ocl_fusion_can_fuse(v, nodes, 2, ops, NULL, 0))
        return 0;
    const graph *g = v->g;
    const g_node *mm = &g->nodes[nodes[0]], *add = &g->nodes[nodes[1]];
    const int r = add->in[0] == mm->out ? add->in[1] : add->in[1] == mm->out ? add->in[0] : -1;
    /* no broadcast: the residual is read with C's layout */
    if (r < 0 || r == mm->out || g->tensors[mm->out].dtype != G_F32 || !same_shape(g, r, mm->out) ||
        !same_shape(g, add->out, mm->out))
        return 0;
    return 2;
}

/* The matched matmul and its follower as one GEMM: act after the bias, or
 * (residual) + the follower's other input. Each pattern row names its own
 * lowering below, so the epilogue is the row's data, not a test of op kinds. */
static int lower_matmul_epilogue(ocl_lower *lc, const int *nodes, int n, ocl_gemm_act act, int residual)
{
    const graph *g = ocl_lower_graph(lc);
    if (n != 2)
        return cc_fail(CC_ERR_INVALID, "ocl fusion matmul epilogue: expected 2 nodes, found %d", n);
    const g_node *mm = &g->nodes[nodes[0]], *last = &g->nodes[nodes[1]];
    ocl_gemm_args a;
    int rc = ocl_matmul_gemm_args(lc, nodes[0], &a);
    if (rc)
        return rc;
    a.c = ocl_lower_mem(lc, last->out); /* the intermediate is never written */
    a.act = act;
    if (residual) {
        a.res = ocl_lower_mem(lc, last->in[0] == mm->out ? last->in[1] : last->in[0]);
        a.res_off = 0;
    }
    ocl_gemm_plan_user u;
    ocl_gemm_sink s;
    ocl_gemm_plan_sink(lc, nodes[0], &u, &s);
    return ocl_gemm_emit(&s, &a, OCL_GEMM_AUTO);
}

int ocl_fusion_lower_matmul_gelu(ocl_lower *lc, const int *nodes, int n)
{
    return lower_matmul_epilogue(lc, nodes, n, OCL_ACT_GELU, 0);
}

int ocl_fusion_lower_matmul_quickgelu(ocl_lower *lc, const int *nodes, int n)
{
    return lower_matmul_epilogue(lc, nodes, n, OCL_ACT_QUICKGELU, 0);
}

int ocl_fusion_lower_matmul_residual(ocl_lower *lc, const int *nodes, int n)
{
    return lower_matmul_epilogue(lc, nodes, n, OCL_ACT_NONE, 1);
}

/* ---- examples: x [rows, K] @ W^T + b with K = cols, N = cols + 6 ---- */

static int example_linear(graph *g, int rows, int cols, int *n_out)
{
    const int64_t K = cols, N = cols + 6;
    const int64_t xs[2] = {rows, K}, ws[2] = {N, K};
    int x = g_input(g, "x", G_F32, 2, xs);
    int w = g_param(g, "w", 2, ws);
    int b = g_param(g, "b", 1, &N);
    *n_out = (int)N;
    return g_matmul(g, x, w, b, 0, 1);
}

static int example_act(graph *g, int rows, int cols, ocl_fusion_example *ex, int quick)
{
    int n;
    int h = example_linear(g, rows, cols, &n);
    int y = quick ? g_quickgelu(g, h) : g_gelu(g, h);
    if (y < 0)
        return -1;
    g_mark_output(g, y);
    ex->n_positive = 0;
    ex->rtol = 1e-5f; /* matmul's and the activations' tolerance */
    return 0;
}

int ocl_fusion_example_matmul_gelu(graph *g, int rows, int cols, ocl_fusion_example *ex)
{
    return example_act(g, rows, cols, ex, 0);
}

int ocl_fusion_example_matmul_quickgelu(graph *g, int rows, int cols, ocl_fusion_example *ex)
{
    return example_act(g, rows, cols, ex, 1);
}

int ocl_fusion_example_matmul_residual(graph *g, int rows, int cols, ocl_fusion_example *ex)
{
    int n;
    int h = example_linear(g, rows, cols, &n);
    const int64_t rs[2] = {rows, n};
    int r = g_input(g, "residual", G_F32, 2, rs);
    int y = g_add(g, r, h); /* the residual first, as the CLIP blocks write it */
    if (y < 0)
        return -1;
    g_mark_output(g, y);
    ex->n_positive = 0;
    ex->rtol = 1e-5f;
    return 0;
}
