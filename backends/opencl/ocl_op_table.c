/* The OpenCL backend's op table: one row per op kind, positional and in
 * g_op order, so that adding an op kind without a row here fails the build
 * (the static check below). A row holds the op's lowering function (NULL
 * where the backend does not lower it: ocl_supports_op() then says 0 and
 * planning fails with a message naming the op) and which input slots may be
 * i32 (the kernels read f32 everywhere else). */
#include "backends/opencl/ocl_backend.h"
#include "backends/opencl/ocl_lower_ops.h"

#define SLOT(i) (1u << (i))
#define ANY_4BYTE 0xffu /* data movement: copies 4-byte elements of either type */

typedef struct ocl_op_row {
    ocl_lower_fn lower;
    unsigned i32_inputs; /* bit i: input i may be i32 */
} ocl_op_row;

static const ocl_op_row rows[] = {
    {ocl_lower_matmul,                0},
    {ocl_lower_add,                   0},
    {ocl_lower_sub,                   0},
    {ocl_lower_mul,                   0},
    {ocl_lower_div,                   0},
    {ocl_lower_scale,                 0},
    {ocl_lower_gelu,                  0},
    {ocl_lower_quickgelu,             0},
    {ocl_lower_relu,                  0},
    {ocl_lower_sigmoid,               0},
    {ocl_lower_exp,                   0},
    {ocl_lower_softmax,               0},
    {ocl_lower_layernorm,             0},
    {ocl_lower_batchnorm,             0},
    {ocl_lower_conv2d,                0},
    {ocl_lower_avgpool2d,             0},
    {ocl_lower_embedding,             SLOT(1)},
    {ocl_lower_reshape,               ANY_4BYTE},
    {ocl_lower_permute,               ANY_4BYTE},
    {ocl_lower_slice,                 ANY_4BYTE},
    {ocl_lower_concat,                ANY_4BYTE},
    {ocl_lower_sum,                   0},
    {ocl_lower_mean,                  0},
    {ocl_lower_max,                   0},
    {ocl_lower_argmax,                0},
    {ocl_lower_l2norm,                0},
    {ocl_lower_attention,             0},
    {ocl_lower_silu,                  0},
    {ocl_lower_bn_stats,              0},
    {ocl_lower_bn_train,              0},
    {ocl_lower_log,                   0},
    {ocl_lower_sum_to,                0},
    {ocl_lower_broadcast_to,          ANY_4BYTE},
    {ocl_lower_gelu_grad,             0},
    {ocl_lower_quickgelu_grad,        0},
    {ocl_lower_relu_grad,             0},
    {ocl_lower_sigmoid_grad,          0},
    {ocl_lower_softmax_grad,          0},
    {ocl_lower_layernorm_grad_x,      0},
    {ocl_lower_layernorm_grad_gamma,  0},
    {ocl_lower_conv2d_grad_input,     0},
    {ocl_lower_conv2d_grad_weight,    0},
    {ocl_lower_avgpool2d_grad,        0},
    {ocl_lower_embedding_grad,        SLOT(0)},
    {ocl_lower_slice_grad,            ANY_4BYTE},
    {ocl_lower_l2norm_grad,           0},
    {ocl_lower_attention_grad,        0},
    {ocl_lower_bn_grad_sums,          0},
    {ocl_lower_bn_grad_x,             0},
};

_Static_assert(sizeof rows / sizeof rows[0] == G_OP_COUNT,
               "backends/opencl/ocl_op_table.c: one row per g_op kind, in enum order");

ocl_lower_fn ocl_op_lowering(g_op op)
{
    if ((int)op < 0 || op >= G_OP_COUNT)
        return NULL;
    return rows[op].lower;
}

int ocl_supports_op(rt_ctx *ctx, const graph *g, int node)
{
    (void)ctx; /* every lowering has a variant for each device class */
    if (!g || node < 0 || node >= g->n_nodes)
        return 0;
    const g_node *n = &g->nodes[node];
    if ((int)n->op < 0 || n->op >= G_OP_COUNT || !rows[n->op].lower)
        return 0;
    for (int i = 0; i < n->n_in && i < G_MAX_INPUTS; i++) {
        int t = n->in[i];
        if (t >= 0 && t < g->n_tensors && g->tensors[t].dtype != G_F32 && !(rows[n->op].i32_inputs & SLOT(i)))
            return 0;
    }
    return 1;
}
