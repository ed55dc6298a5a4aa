/* Inference BatchNorm (+ ReLU) folded into the preceding conv2d: a static
 * launch (params only, kernels/fused_conv.cl bn_fold) computes w' and b'
 * once, then the conv runs with them, the ReLU in its GEMM epilogue, and
 * writes the run's last output. Only where every weight is a param (the
 * static launch must depend on params only) and the conv's output has no
 * other reader. Training graphs use g_batchnorm_train (bn_stats + bn_train,
 * batch statistics), so this never fires there. */
#include "backends/opencl/ocl_fusion.h"
#include "backends/opencl/ocl_gemm.h"
#include "backends/opencl/ocl_plan_internal.h"
#include "runtime/status.h"

static int is_param(const graph *g, int t)
{
    return t >= 0 && t < g->n_tensors && g->tensors[t].role == G_ROLE_PARAM && g->tensors[t].dtype == G_F32;
}

/* conv -> batchnorm with every weight a param and the BN reading the conv */
static int conv_bn_ok(const graph *g, const int *nodes)
{
    const g_node *conv = &g->nodes[nodes[0]], *bn = &g->nodes[nodes[1]];
    if (conv->op != G_OP_CONV2D || bn->op != G_OP_BATCHNORM)
        return 0;
    if (bn->n_in != 5 || bn->in[0] != conv->out || g->tensors[conv->out].ndim != 4 ||
        g->tensors[conv->out].dtype != G_F32)
        return 0;
    if (!is_param(g, conv->in[1]) || (conv->n_in > 2 && conv->in[2] >= 0 && !is_param(g, conv->in[2])))
        return 0;
    for (int q = 1; q < 5; q++)
        if (!is_param(g, bn->in[q]))
            return 0;
    return 1;
}

static int match_conv_bn(const ocl_fusion_view *v, int i, int *nodes, int with_relu)
{
    const int n = with_relu ? 3 : 2;
    for (int k = 0; k < n; k++)
        if ((nodes[k] = ocl_fusion_at(v, i + k)) < 0)
            return 0;
    const g_op ops[3] = {G_OP_CONV2D, G_OP_BATCHNORM, G_OP_RELU};
    if (!ocl_fusion_can_fuse(v, nodes, n, ops, NULL, 0) || !conv_bn_ok(v->g, nodes))
        return 0;
    if (with_relu && v->g->nodes[nodes[2]].in[0] != v->g->nodes[nodes[1]].out)
        return 0;
    return n;
}

/* conv -> batchnorm -> add(bn, r) -> relu, r any other tensor of the
 * output's shape (a bottleneck's identity): the residual goes into the
 * conv's store before the ReLU. Only where the implicit-GEMM conv takes the
 * shape (ocl_conv_takes_residual); a downsampled block, whose add follows
 * the downsample branch in the schedule, keeps conv_batchnorm + add + relu. */
int ocl_fusion_match_conv_bn_add_relu(const ocl_fusion_view *v, int i, int *nodes)
{
    for (int k = 0; k < 4; k++)
        if ((nodes[k] = ocl_fusion_at(v, i + k)) < 0)
            return 0;
    const g_op ops[4] = {G_OP_CONV2D, G_OP_BATCHNORM, G_OP_ADD, G_OP_RELU};
    if (!ocl_fusion_can_fuse(v, nodes, 4, ops, NULL, 0) || !conv_bn_ok(v->g, nodes))
        return 0;
    const graph *g = v->g;
    const g_node *bn = &g->nodes[nodes[1]], *add = &g->nodes[nodes[2]], *relu = &g->nodes[nodes[3]];
    if (add->n_in != 2 || relu->in[0] != add->out || (add->in[0] == bn->out) == (add->in[1] == bn->out))
        return 0;
    const g_tensor *r = &g->tensors[add->in[0] == bn->out ? add->in[1] : add->in[0]];
    const g_tensor *y = &g->tensors[bn->out], *o = &g->tensors[add->out];
    if (r->dtype != G_F32 || r->ndim != 4 || o->ndim != 4)
        return 0;
    for (int d = 0; d < 4; d++)
        if (r->shape[d] != y->shape[d] || o->shape[d] != y->shape[d])
            return 0;
    return ocl_conv_takes_residual(v->lc, nodes[0]) ? 4 : 0;
}

int ocl_fusion_match_conv_bn_relu(const ocl_fusion_view *v, int i, int *nodes)
{
    return match_conv_bn(v, i, nodes, 1);
}

int ocl_fusion_match_conv_bn(const ocl_fusion_view *v, int i, int *nodes)
{
    return match_conv_bn(v, i, nodes, 0);
}

int ocl_fusion_lower_conv_bn(ocl_lower *lc, const int *nodes, int n)
{
    const graph *g = ocl_lower_graph(lc);
    if (n < 2 || n > 4)
        return cc_fail(CC_ERR_INVALID, "ocl fusion conv_batchnorm: expected 2 to 4 nodes, found %d", n);
    const g_node *conv = &g->nodes[nodes[0]], *bn = &g->nodes[nodes[1]], *last = &g->nodes[nodes[n - 1]];
    const g_tensor *w = &g->tensors[conv->in[1]];
    const int64_t O = w->shape[0], kc = w->shape[1] * w->shape[2] * w->shape[3];
    if (O < 1 || kc < 1 || kc > INT32_MAX)
        return cc_fail(CC_ERR_UNSUPPORTED, "ocl fusion conv_batchnorm '%s': weight of %lld x %lld", conv->name,
                       (long long)O, (long long)kc);
    const int has_bias = conv->n_in > 2 && conv->in[2] >= 0;
    cl_mem w2, b2;
    cl_kernel k;
    int rc;
    /* private scratch: a static launch's output must outlive every run */
    if ((rc = ocl_lower_derived_scratch(lc, (size_t)(O * kc) * sizeof(float), &w2)) ||
        (rc = ocl_lower_derived_scratch(lc, (size_t)O * sizeof(float), &b2)) ||
        (rc = ocl_lower_kernel(lc, "fused_conv.cl", "bn_fold", "", &k)) ||
        (rc = ocl_set_args(k, "mmimmmmfimm", ocl_lower_mem(lc, conv->in[1]),
                           ocl_lower_mem(lc, has_bias ? conv->in[2] : conv->in[1]), has_bias,
                           ocl_lower_mem(lc, bn->in[1]), ocl_lower_mem(lc, bn->in[2]), ocl_lower_mem(lc, bn->in[3]),
                           ocl_lower_mem(lc, bn->in[4]), (double)bn->attr.eps, (int)kc, w2, b2)))
        return rc;
    const size_t gws = (size_t)(O * kc);
    if ((rc = ocl_lower_launch_static(lc, nodes[0], k, 1, &gws, NULL)))
        return rc;
    cl_mem res = NULL;
    if (n == 4) {
        const g_node *add = &g->nodes[nodes[2]];
        res = ocl_lower_mem(lc, add->in[0] == bn->out ? add->in[1] : add->in[0]);
    }
    return ocl_lower_conv2d_with(lc, nodes[0], w2, b2, ocl_lower_mem(lc, last->out),
                                 n >= 3 ? OCL_ACT_RELU : OCL_ACT_NONE, res);
}

/* x [2, C, H, H] -> conv 3x3 pad 1 (bias) -> batchnorm (-> relu); H = rows
 * (capped at 64), C and O odd-ish from cols. */
static int example(graph *g, int rows, int cols, ocl_fusion_example *ex, int with_relu)
{
    const int64_t H = rows < 64 ? rows : 64, C = 3 + cols % 29, O = 5 + cols % 13;
    const int64_t xs[4] = {2, C, H, H}, ws[4] = {O, C, 3, 3};
    int x = g_input(g, "x", G_F32, 4, xs);
    int w = g_param(g, "w", 4, ws);
    int b = g_param(g, "b", 1, &O);
    int gamma = g_param(g, "bn_gamma", 1, &O);
    int beta = g_param(g, "bn_beta", 1, &O);
    int mean = g_param(g, "bn_mean", 1, &O);
    int var = g_param(g, "bn_var", 1, &O);
    int y = g_batchnorm(g, g_conv2d(g, x, w, b, 1, 1, 1, 1), gamma, beta, mean, var, 1e-5f);
    if (with_relu)
        y = g_relu(g, y);
    if (y < 0)
        return -1;
    g_mark_output(g, y);
    ex->positive[0] = var;
    ex->n_positive = 1;
    ex->rtol = 1e-5f; /* conv's tolerance (the fold changes rounding only) */
    return 0;
}

int ocl_fusion_example_conv_bn_relu(graph *g, int rows, int cols, ocl_fusion_example *ex)
{
    return example(g, rows, cols, ex, 1);
}

/* x [2, C, H, H] -> conv 3x3 pad 1 (C -> C) -> batchnorm -> add x -> relu */
int ocl_fusion_example_conv_bn_add_relu(graph *g, int rows, int cols, ocl_fusion_example *ex)
{
    const int64_t H = rows < 64 ? rows : 64, C = 3 + cols % 29;
    const int64_t xs[4] = {2, C, H, H}, ws[4] = {C, C, 3, 3};
    int x = g_input(g, "x", G_F32, 4, xs);
    int w = g_param(g, "w", 4, ws);
    int gamma = g_param(g, "bn_gamma", 1, &C);
    int beta = g_param(g, "bn_beta", 1, &C);
    int mean = g_param(g, "bn_mean", 1, &C);
    int var = g_param(g, "bn_var", 1, &C);
    int y = g_batchnorm(g, g_conv2d(g, x, w, -1, 1, 1, 1, 1), gamma, beta, mean, var, 1e-5f);
    y = g_relu(g, g_add(g, y, x));
    if (y < 0)
        return -1;
    g_mark_output(g, y);
    ex->positive[0] = var;
    ex->n_positive = 1;
    ex->rtol = 1e-5f;
    return 0;
}

int ocl_fusion_example_conv_bn(graph *g, int rows, int cols, ocl_fusion_example *ex)
{
    return example(g, rows, cols, ex, 0);
}
