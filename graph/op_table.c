/* The op table (see op_table.h). Add a row here, in enum order, for every
 * new g_op; the _Static_assert below fails the build otherwise, and
 * tests/graph/test_op_table.c checks that row i describes op i. */
#include "graph/op_table.h"

#include "graph/autodiff_internal.h"
#include "graph/op_infer.h"

/* C[..., M, N] = op(A) op(B): 2 M N K per matrix. */
static double matmul_flops(const graph *g, const g_node *n)
{
    const g_tensor *a = &g->tensors[n->in[0]];
    double k = (double)a->shape[a->ndim - (n->attr.trans_a ? 2 : 1)];
    return 2.0 * (double)g_numel(g, n->out) * k;
}

/* 2 C kh kw per output element. */
static double conv2d_flops(const graph *g, const g_node *n)
{
    const g_tensor *w = &g->tensors[n->in[1]];
    return 2.0 * (double)g_numel(g, n->out) * (double)(w->shape[1] * w->shape[2] * w->shape[3]);
}

/* Q K^T and P V: 2 x 2 B T S C. */
static double attention_flops(const graph *g, const g_node *n)
{
    const g_tensor *o = &g->tensors[n->out], *k = &g->tensors[n->in[1]];
    return 4.0 * (double)o->shape[0] * (double)o->shape[1] * (double)k->shape[1] * (double)o->shape[2];
}

static const g_op_row rows[] = {
    /* op                      name                    in    infer                  flops            backward, view */
    {G_OP_MATMUL,              "matmul",               2, 3, g_infer_matmul,        matmul_flops,    ad_rule_matmul, 0},
    {G_OP_ADD,                 "add",                  2, 2, g_infer_binary,        NULL,            ad_rule_add, 0},
    {G_OP_SUB,                 "sub",                  2, 2, g_infer_binary,        NULL,            ad_rule_sub, 0},
    {G_OP_MUL,                 "mul",                  2, 2, g_infer_binary,        NULL,            ad_rule_mul, 0},
    {G_OP_DIV,                 "div",                  2, 2, g_infer_binary,        NULL,            ad_rule_div, 0},
    {G_OP_SCALE,               "scale",                1, 1, g_infer_same_as_x,     NULL,            ad_rule_scale, 0},
    {G_OP_GELU,                "gelu",                 1, 1, g_infer_same_as_x,     NULL,            ad_rule_gelu, 0},
    {G_OP_QUICKGELU,           "quickgelu",            1, 1, g_infer_same_as_x,     NULL,            ad_rule_quickgelu, 0},
    {G_OP_RELU,                "relu",                 1, 1, g_infer_same_as_x,     NULL,            ad_rule_relu, 0},
    {G_OP_SIGMOID,             "sigmoid",              1, 1, g_infer_same_as_x,     NULL,            ad_rule_sigmoid, 0},
    {G_OP_EXP,                 "exp",                  1, 1, g_infer_same_as_x,     NULL,            ad_rule_exp, 0},
    {G_OP_SOFTMAX,             "softmax",              1, 1, g_infer_same_as_x,     NULL,            ad_rule_softmax, 0},
    {G_OP_LAYERNORM,           "layernorm",            3, 3, g_infer_same_as_x,     NULL,            ad_rule_layernorm, 0},
    {G_OP_BATCHNORM,           "batchnorm",            5, 5, g_infer_same_as_x,     NULL,            ad_rule_batchnorm, 0},
    {G_OP_CONV2D,              "conv2d",               2, 3, g_infer_conv2d,        conv2d_flops,    ad_rule_conv2d, 0},
    {G_OP_AVGPOOL2D,           "avgpool2d",            1, 1, g_infer_avgpool2d,     NULL,            ad_rule_avgpool2d, 0},
    {G_OP_EMBEDDING,           "embedding",            2, 2, g_infer_embedding,     NULL,            ad_rule_embedding, 0},
    {G_OP_RESHAPE,             "reshape",              1, 1, g_infer_reshape,       NULL,            ad_rule_reshape, 1},
    {G_OP_PERMUTE,             "permute",              1, 1, g_infer_permute,       NULL,            ad_rule_permute, 0},
    {G_OP_SLICE,               "slice",                1, 1, g_infer_slice,         NULL,            ad_rule_slice, 0},
    {G_OP_CONCAT,              "concat",               1, G_MAX_INPUTS, g_infer_concat, NULL,        ad_rule_concat, 0},
    {G_OP_SUM,                 "sum",                  1, 1, g_infer_reduce,        NULL,            ad_rule_sum, 0},
    {G_OP_MEAN,                "mean",                 1, 1, g_infer_reduce,        NULL,            ad_rule_mean, 0},
    {G_OP_MAX,                 "max",                  1, 1, g_infer_reduce,        NULL,            NULL, 0},
    {G_OP_ARGMAX,              "argmax",               1, 1, g_infer_argmax,        NULL,            NULL, 0},
    {G_OP_L2NORM,              "l2norm",               1, 1, g_infer_same_as_x,     NULL,            ad_rule_l2norm, 0},
    {G_OP_ATTENTION,           "attention",            3, 3, g_infer_attention,     attention_flops, ad_rule_attention, 0},
    {G_OP_SILU,                "silu",                 1, 1, g_infer_same_as_x,     NULL,            ad_rule_silu, 0},
    {G_OP_BN_STATS,            "bn_stats",             1, 1, g_infer_bn_stats,      NULL,            ad_rule_bn_stats, 0},
    {G_OP_BN_TRAIN,            "bn_train",             4, 4, g_infer_same_as_x,     NULL,            ad_rule_bn_train, 0},
    {G_OP_LOG,                 "log",                  1, 1, g_infer_same_as_x,     NULL,            ad_rule_log, 0},
    {G_OP_SUM_TO,              "sum_to",               1, 1, g_infer_sum_to,        NULL,            ad_rule_sum_to, 0},
    {G_OP_BROADCAST_TO,        "broadcast_to",         1, 1, g_infer_broadcast_to,  NULL,            ad_rule_broadcast_to, 0},
    {G_OP_GELU_GRAD,           "gelu_grad",            2, 2, g_infer_pair,          NULL,            NULL, 0},
    {G_OP_QUICKGELU_GRAD,      "quickgelu_grad",       2, 2, g_infer_pair,          NULL,            NULL, 0},
    {G_OP_RELU_GRAD,           "relu_grad",            2, 2, g_infer_pair,          NULL,            NULL, 0},
    {G_OP_SIGMOID_GRAD,        "sigmoid_grad",         2, 2, g_infer_pair,          NULL,            NULL, 0},
    {G_OP_SOFTMAX_GRAD,        "softmax_grad",         2, 2, g_infer_pair,          NULL,            NULL, 0},
    {G_OP_LAYERNORM_GRAD_X,    "layernorm_grad_x",     3, 3, g_infer_same_as_x,     NULL,            NULL, 0},
    {G_OP_LAYERNORM_GRAD_GAMMA,"layernorm_grad_gamma", 2, 2, g_infer_ln_grad_gamma, NULL,            NULL, 0},
    {G_OP_CONV2D_GRAD_INPUT,   "conv2d_grad_input",    2, 2, g_infer_conv2d_grad_input, NULL,        NULL, 0},
    {G_OP_CONV2D_GRAD_WEIGHT,  "conv2d_grad_weight",   2, 2, g_infer_conv2d_grad_weight, NULL,       NULL, 0},
    {G_OP_AVGPOOL2D_GRAD,      "avgpool2d_grad",       1, 1, g_infer_avgpool2d_grad, NULL,           NULL, 0},
    {G_OP_EMBEDDING_GRAD,      "embedding_grad",       2, 2, g_infer_embedding_grad, NULL,           NULL, 0},
    {G_OP_SLICE_GRAD,          "slice_grad",           1, 1, g_infer_slice_grad,    NULL,            NULL, 0},
    {G_OP_L2NORM_GRAD,         "l2norm_grad",          2, 2, g_infer_pair,          NULL,            NULL, 0},
    {G_OP_ATTENTION_GRAD,      "attention_grad",       4, 4, g_infer_attention_grad, NULL,           NULL, 0},
    {G_OP_BN_GRAD_SUMS,        "bn_grad_sums",         3, 3, g_infer_bn_stats,      NULL,            NULL, 0},
    {G_OP_BN_GRAD_X,           "bn_grad_x",            5, 5, g_infer_same_as_x,     NULL,            NULL, 0},
};

_Static_assert(sizeof rows / sizeof rows[0] == G_OP_COUNT,
               "graph/op_table.c: one row per g_op kind, in enum order");

const g_op_row *g_op_info(g_op op)
{
    if ((int)op < 0 || op >= G_OP_COUNT)
        return NULL;
    return &rows[op];
}

const char *g_op_name(g_op op)
{
    const g_op_row *r = g_op_info(op);
    return r ? r->name : "unknown";
}

double g_node_flops(const graph *g, int node)
{
    if (!g || node < 0 || node >= g->n_nodes)
        return 0.0;
    const g_node *n = &g->nodes[node];
    const g_op_row *r = g_op_info(n->op);
    return r && r->flops ? r->flops(g, n) : 0.0;
}
