/* The reference backend's op table: one function per op kind, positional
 * and in g_op order, so that adding an op kind without a row here fails the
 * build (the static check below) instead of failing at run time. A NULL row
 * means the backend has no reference for the op (ref_supports_op says 0). */
#include "backends/ref/ref.h"
#include "backends/ref/ref_ops.h"

static const ref_op_fn rows[] = {
    ref_matmul,                /* G_OP_MATMUL */
    ref_add,                   /* G_OP_ADD */
    ref_sub,                   /* G_OP_SUB */
    ref_mul,                   /* G_OP_MUL */
    ref_div,                   /* G_OP_DIV */
    ref_scale,                 /* G_OP_SCALE */
    ref_gelu,                  /* G_OP_GELU */
    ref_quickgelu,             /* G_OP_QUICKGELU */
    ref_relu,                  /* G_OP_RELU */
    ref_sigmoid,               /* G_OP_SIGMOID */
    ref_exp,                   /* G_OP_EXP */
    ref_softmax,               /* G_OP_SOFTMAX */
    ref_layernorm,             /* G_OP_LAYERNORM */
    ref_batchnorm,             /* G_OP_BATCHNORM */
    ref_conv2d,                /* G_OP_CONV2D */
    ref_avgpool2d,             /* G_OP_AVGPOOL2D */
    ref_embedding,             /* G_OP_EMBEDDING */
    ref_reshape,               /* G_OP_RESHAPE */
    ref_permute,               /* G_OP_PERMUTE */
    ref_slice,                 /* G_OP_SLICE */
    ref_concat,                /* G_OP_CONCAT */
    ref_sum,                   /* G_OP_SUM */
    ref_mean,                  /* G_OP_MEAN */
    ref_max,                   /* G_OP_MAX */
    ref_argmax,                /* G_OP_ARGMAX */
    ref_l2norm,                /* G_OP_L2NORM */
    ref_attention,             /* G_OP_ATTENTION */
    ref_silu,                  /* G_OP_SILU */
    ref_bn_stats,              /* G_OP_BN_STATS */
    ref_bn_train,              /* G_OP_BN_TRAIN */
    ref_log,                   /* G_OP_LOG */
    ref_sum_to,                /* G_OP_SUM_TO */
    ref_broadcast_to,          /* G_OP_BROADCAST_TO */
    ref_gelu_grad,             /* G_OP_GELU_GRAD */
    ref_quickgelu_grad,        /* G_OP_QUICKGELU_GRAD */
    ref_relu_grad,             /* G_OP_RELU_GRAD */
    ref_sigmoid_grad,          /* G_OP_SIGMOID_GRAD */
    ref_softmax_grad,          /* G_OP_SOFTMAX_GRAD */
    ref_layernorm_grad_x,      /* G_OP_LAYERNORM_GRAD_X */
    ref_layernorm_grad_gamma,  /* G_OP_LAYERNORM_GRAD_GAMMA */
    ref_conv2d_grad_input,     /* G_OP_CONV2D_GRAD_INPUT */
    ref_conv2d_grad_weight,    /* G_OP_CONV2D_GRAD_WEIGHT */
    ref_avgpool2d_grad,        /* G_OP_AVGPOOL2D_GRAD */
    ref_embedding_grad,        /* G_OP_EMBEDDING_GRAD */
    ref_slice_grad,            /* G_OP_SLICE_GRAD */
    ref_l2norm_grad,           /* G_OP_L2NORM_GRAD */
    ref_attention_grad,        /* G_OP_ATTENTION_GRAD */
    ref_bn_grad_sums,          /* G_OP_BN_GRAD_SUMS */
    ref_bn_grad_x,             /* G_OP_BN_GRAD_X */
};

_Static_assert(sizeof rows / sizeof rows[0] == G_OP_COUNT,
               "backends/ref/ref_op_table.c: one row per g_op kind, in enum order");

ref_op_fn ref_op_function(g_op op)
{
    if ((int)op < 0 || op >= G_OP_COUNT)
        return NULL;
    return rows[op];
}

int ref_supports_op(const graph *g, int node)
{
    if (!g || node < 0 || node >= g->n_nodes)
        return 0;
    return ref_op_function(g->nodes[node].op) != NULL;
}
