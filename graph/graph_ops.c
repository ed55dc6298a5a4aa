/* Printable op names, indexed by g_op. */
#include "graph/graph.h"

static const char *const names[G_OP_COUNT] = {
    [G_OP_MATMUL] = "matmul",       [G_OP_ADD] = "add",
    [G_OP_SUB] = "sub",             [G_OP_MUL] = "mul",
    [G_OP_DIV] = "div",             [G_OP_SCALE] = "scale",
    [G_OP_GELU] = "gelu",           [G_OP_QUICKGELU] = "quickgelu",
    [G_OP_RELU] = "relu",           [G_OP_SIGMOID] = "sigmoid",
    [G_OP_EXP] = "exp",             [G_OP_SOFTMAX] = "softmax",
    [G_OP_LAYERNORM] = "layernorm", [G_OP_BATCHNORM] = "batchnorm",
    [G_OP_CONV2D] = "conv2d",       [G_OP_AVGPOOL2D] = "avgpool2d",
    [G_OP_EMBEDDING] = "embedding", [G_OP_RESHAPE] = "reshape",
    [G_OP_PERMUTE] = "permute",     [G_OP_SLICE] = "slice",
    [G_OP_CONCAT] = "concat",       [G_OP_SUM] = "sum",
    [G_OP_MEAN] = "mean",           [G_OP_MAX] = "max",
    [G_OP_ARGMAX] = "argmax",       [G_OP_L2NORM] = "l2norm",
    [G_OP_ATTENTION] = "attention",
    [G_OP_LOG] = "log",             [G_OP_SUM_TO] = "sum_to",
    [G_OP_BROADCAST_TO] = "broadcast_to",
    [G_OP_GELU_GRAD] = "gelu_grad", [G_OP_QUICKGELU_GRAD] = "quickgelu_grad",
    [G_OP_RELU_GRAD] = "relu_grad", [G_OP_SIGMOID_GRAD] = "sigmoid_grad",
    [G_OP_SOFTMAX_GRAD] = "softmax_grad",
    [G_OP_LAYERNORM_GRAD_X] = "layernorm_grad_x",
    [G_OP_LAYERNORM_GRAD_GAMMA] = "layernorm_grad_gamma",
    [G_OP_CONV2D_GRAD_INPUT] = "conv2d_grad_input",
    [G_OP_CONV2D_GRAD_WEIGHT] = "conv2d_grad_weight",
    [G_OP_AVGPOOL2D_GRAD] = "avgpool2d_grad",
    [G_OP_EMBEDDING_GRAD] = "embedding_grad",
    [G_OP_SLICE_GRAD] = "slice_grad",
    [G_OP_L2NORM_GRAD] = "l2norm_grad",
    [G_OP_ATTENTION_GRAD] = "attention_grad",
};

const char *g_op_name(g_op op)
{
    if ((int)op < 0 || op >= G_OP_COUNT || !names[op])
        return "unknown";
    return names[op];
}
