/* The computation-graph IR.
 *
 * A graph is an append-only list of tensors and nodes. Tensors and nodes are
 * referred to by integer id (their index), so the arrays may grow without
 * invalidating references. Every node has exactly one output tensor; an op
 * whose math has several results (e.g. a backward rule) is written as several
 * nodes. Builders (graph_build*.c) append nodes in an order where inputs
 * always exist first, so creation order is a valid schedule; passes may mark
 * nodes dead or append replacements (fusion), and g_schedule() recomputes a
 * topological order of the live nodes.
 *
 * The graph holds shapes only, never data: backends bind storage to tensors.
 * This layer knows nothing of OpenCL. */
#ifndef CLIPCL_GRAPH_H
#define CLIPCL_GRAPH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define G_MAX_DIMS 6
#define G_MAX_INPUTS 8
#define G_NAME_LEN 96

typedef enum g_dtype { G_F32 = 0, G_I32 = 1 } g_dtype;

typedef enum g_role {
    G_ROLE_INPUT = 0,  /* data supplied by the caller each run */
    G_ROLE_PARAM = 1,  /* weights: supplied once, persist across runs */
    G_ROLE_ACT = 2,    /* produced by a node, placed in the arena */
    G_ROLE_GRAD = 3,   /* produced by a backward node, placed in the arena */
} g_role;

typedef struct g_tensor {
    char name[G_NAME_LEN];
    g_dtype dtype;
    g_role role;
    int ndim;
    int64_t shape[G_MAX_DIMS]; /* row-major, contiguous */
    int producer;              /* node id, -1 for inputs and params */
    int alias_of;              /* -1, or the tensor whose storage this one views (reshape) */
    int is_output;             /* kept alive to the end of a run, readable afterwards */
} g_tensor;

/* Op kinds. Every kind has one row, in this order, in graph/op_table.c (and in
 * each backend's op table); docs/adding-an-op.md lists the steps. */
typedef enum g_op {
    G_OP_MATMUL = 0,   /* in: A, B[, bias]. attrs: trans_a, trans_b */
    G_OP_ADD,          /* in: a, b (numpy broadcasting) */
    G_OP_SUB,
    G_OP_MUL,
    G_OP_DIV,
    G_OP_SCALE,        /* in: x. attrs: alpha (y = alpha*x) */
    G_OP_GELU,         /* erf form */
    G_OP_QUICKGELU,    /* x * sigmoid(1.702 x) */
    G_OP_RELU,
    G_OP_SIGMOID,
    G_OP_EXP,
    G_OP_SOFTMAX,      /* last dim. attrs: causal (mask col > row, row = index in dim -2) */
    G_OP_LAYERNORM,    /* in: x, gamma, beta over last dim. attrs: eps */
    G_OP_BATCHNORM,    /* inference. in: x NCHW, gamma, beta, mean, var. attrs: eps */
    G_OP_CONV2D,       /* in: x NCHW, w OIHW[, bias O]. attrs: stride, pad */
    G_OP_AVGPOOL2D,    /* in: x NCHW. attrs: kernel, stride, pad (count_include_pad) */
    G_OP_EMBEDDING,    /* in: table [V, D] f32, ids [...] i32 -> [..., D] */
    G_OP_RESHAPE,      /* in: x. output shape given; a view (alias_of = x) */
    G_OP_PERMUTE,      /* in: x. attrs: perm */
    G_OP_SLICE,        /* in: x. attrs: axis, start, end, step */
    G_OP_CONCAT,       /* in: x0..xn-1. attrs: axis */
    G_OP_SUM,          /* reductions over the last dim; the output drops it */
    G_OP_MEAN,
    G_OP_MAX,
    G_OP_ARGMAX,       /* output i32, first maximal index */
    G_OP_L2NORM,       /* rows over the last dim: x / max(||x||, eps). attrs: eps */
    G_OP_ATTENTION,    /* in: q, k, v [B, T, C] (k/v [B, S, C]). attrs: heads, causal -> [B, T, C] */
    G_OP_SILU,         /* x * sigmoid(x) */
    G_OP_BN_STATS,     /* in: x [N, C, ...] -> [2, C]: per-channel batch mean (row 0) and biased variance (row 1) */
    G_OP_BN_TRAIN,     /* in: x [N, C, ...], gamma, beta [C], stats [2, C] (BN_STATS of x). attrs: eps */

    /* ---- ops that backward rules (graph/autodiff.c) and losses use ----
     * The output shape is the node's output tensor shape (given to the
     * builder), which is how ops like SUM_TO know their target. */
    G_OP_LOG,              /* natural log */
    G_OP_SUM_TO,           /* in: x. out shape S broadcastable to x: sum x over the broadcast dims */
    G_OP_BROADCAST_TO,     /* in: x. out shape S that x broadcasts to: numpy broadcast copy */
    G_OP_GELU_GRAD,        /* in: x, dy -> dy * gelu'(x) (erf form) */
    G_OP_QUICKGELU_GRAD,   /* in: x, dy -> dy * d/dx[x sigmoid(1.702x)] */
    G_OP_RELU_GRAD,        /* in: x, dy -> dy * (x > 0) */
    G_OP_SIGMOID_GRAD,     /* in: y, dy -> dy * y * (1 - y) (y = sigmoid output) */
    G_OP_SOFTMAX_GRAD,     /* in: y, dy -> y * (dy - sum_last(dy * y)) (y = softmax output) */
    G_OP_LAYERNORM_GRAD_X, /* in: x, gamma, dy. attrs: eps -> dx (mean/rstd recomputed) */
    G_OP_LAYERNORM_GRAD_GAMMA, /* in: x, dy. attrs: eps -> [C]: sum over rows of dy * xhat */
    G_OP_CONV2D_GRAD_INPUT,    /* in: dy [N,O,Ho,Wo], w [O,C,kh,kw]. attrs: stride, pad (kernel
                                * = kh, kw too) -> [N,C,H,W]; rows/cols of x that no window
                                * reaches (H+2p-kh not a multiple of the stride) get 0 */
    G_OP_CONV2D_GRAD_WEIGHT,   /* in: x [N,C,H,W], dy [N,O,Ho,Wo]. attrs: stride, pad, kernel -> [O,C,kh,kw] */
    G_OP_AVGPOOL2D_GRAD,   /* in: dy. attrs: kernel, stride, pad (count_include_pad) -> x's shape */
    G_OP_EMBEDDING_GRAD,   /* in: ids, dy [..., D] -> [V, D]: row v = sum of dy rows whose id is v */
    G_OP_SLICE_GRAD,       /* in: dy. attrs: axis, start, end, step (clamped as g_slice stores
                            * them: 0 <= start < end <= dim) -> x's shape, zeros off the slice */
    G_OP_L2NORM_GRAD,      /* in: x, dy. attrs: eps -> dx of x / max(||x||, eps) */
    G_OP_ATTENTION_GRAD,   /* in: q, k, v, dout. attrs: heads, causal, which (0 dq, 1 dk, 2 dv)
                            * -> q's shape (dq) or k's shape (dk, dv); the forward's math
                            * (scale 1/sqrt(C/heads), probabilities recomputed) */
    G_OP_BN_GRAD_SUMS,     /* in: x, stats [2, C], dy. attrs: eps -> [2, C]: per channel sum(dy) (row 0)
                            * and sum(dy * xhat) (row 1), xhat = (x - mean) / sqrt(var + eps) */
    G_OP_BN_GRAD_X,        /* in: x, gamma, stats, dy, sums (BN_GRAD_SUMS). attrs: eps -> dx of training
                            * BatchNorm: gamma rstd (dy - (sum(dy) + xhat sum(dy xhat)) / count) */
    G_OP_COUNT
} g_op;

/* Attributes for every op kind in one flat struct: each op reads only the
 * fields its comment above names; the rest stay zero. */
typedef struct g_attr {
    int trans_a, trans_b;
    float alpha;
    float eps;
    int causal;
    int heads;
    int kernel[2], stride[2], pad[2];
    int axis;
    int64_t start, end, step;
    int perm[G_MAX_DIMS];
    int which;               /* ATTENTION_GRAD: 0 dq, 1 dk, 2 dv */
} g_attr;

typedef struct g_node {
    g_op op;
    int n_in;
    int in[G_MAX_INPUTS];
    int out;
    g_attr attr;
    int dead;                  /* removed by a pass; skipped by the schedule */
    char name[G_NAME_LEN];     /* optional, for dumps and profiles */
} g_node;

typedef struct graph {
    g_tensor *tensors;
    int n_tensors, cap_tensors;
    g_node *nodes;
    int n_nodes, cap_nodes;
    int n_errors;              /* builder failures so far; see cc_last_error() */
} graph;

/* ---- lifetime ---- */
graph *g_new(void);
void g_free(graph *g);

/* ---- tensors ---- */
/* Declare a caller-supplied tensor. Returns the tensor id, or -1 (message in
 * cc_last_error()). */
int g_input(graph *g, const char *name, g_dtype dt, int ndim, const int64_t *shape);
int g_param(graph *g, const char *name, int ndim, const int64_t *shape);
void g_mark_output(graph *g, int t);
void g_set_name(graph *g, int t, const char *name);
int64_t g_numel(const graph *g, int t);
size_t g_nbytes(const graph *g, int t);
const char *g_op_name(g_op op);
const char *g_shape_str(const graph *g, int t, char *buf, size_t len); /* "[2, 3, 4]" */

/* ---- builders ----
 * Each infers and checks the output shape and returns the output tensor id,
 * or -1 with a message naming the op and the shapes (any input id of -1 makes
 * the builder return -1 at once, so a chain of builder calls can be checked
 * once at the end). Optional inputs take -1. */
int g_matmul(graph *g, int a, int b, int bias, int trans_a, int trans_b);
int g_add(graph *g, int a, int b);
int g_sub(graph *g, int a, int b);
int g_mul(graph *g, int a, int b);
int g_div(graph *g, int a, int b);
int g_scale(graph *g, int x, float alpha);
int g_gelu(graph *g, int x);
int g_quickgelu(graph *g, int x);
int g_relu(graph *g, int x);
int g_sigmoid(graph *g, int x);
int g_exp(graph *g, int x);
int g_silu(graph *g, int x);
int g_softmax(graph *g, int x, int causal);
int g_layernorm(graph *g, int x, int gamma, int beta, float eps);
int g_batchnorm(graph *g, int x, int gamma, int beta, int mean, int var, float eps);
int g_conv2d(graph *g, int x, int w, int bias, int stride_h, int stride_w, int pad_h, int pad_w);
int g_avgpool2d(graph *g, int x, int kernel, int stride, int pad);
int g_embedding(graph *g, int table, int ids);
int g_reshape(graph *g, int x, int ndim, const int64_t *shape); /* one dim may be -1 */
int g_permute(graph *g, int x, const int *perm);
int g_transpose(graph *g, int x, int dim0, int dim1);         /* a permute */
int g_slice(graph *g, int x, int axis, int64_t start, int64_t end, int64_t step);
int g_concat(graph *g, int n, const int *xs, int axis);
int g_sum(graph *g, int x);
int g_mean(graph *g, int x);
int g_max(graph *g, int x);
int g_argmax(graph *g, int x);
int g_l2norm(graph *g, int x, float eps);
int g_attention(graph *g, int q, int k, int v, int heads, int causal);

/* Builders of the backward/loss ops (graph/build_grad.c). Same conventions. */
int g_log(graph *g, int x);
int g_sum_to(graph *g, int x, int ndim, const int64_t *shape);
int g_broadcast_to(graph *g, int x, int ndim, const int64_t *shape);
int g_gelu_grad(graph *g, int x, int dy);
int g_quickgelu_grad(graph *g, int x, int dy);
int g_relu_grad(graph *g, int x, int dy);
int g_sigmoid_grad(graph *g, int y, int dy);
int g_softmax_grad(graph *g, int y, int dy);
int g_layernorm_grad_x(graph *g, int x, int gamma, int dy, float eps);
int g_layernorm_grad_gamma(graph *g, int x, int dy, float eps);
int g_conv2d_grad_input(graph *g, int dy, int w, int stride_h, int stride_w, int pad_h, int pad_w,
                        int ndim, const int64_t *x_shape);
int g_conv2d_grad_weight(graph *g, int x, int dy, int stride_h, int stride_w, int pad_h, int pad_w,
                         int kh, int kw);
int g_avgpool2d_grad(graph *g, int dy, int kernel, int stride, int pad, int ndim, const int64_t *x_shape);
int g_embedding_grad(graph *g, int ids, int dy, int64_t vocab);
int g_slice_grad(graph *g, int dy, int axis, int64_t start, int64_t end, int64_t step, int ndim,
                 const int64_t *x_shape);
int g_l2norm_grad(graph *g, int x, int dy, float eps);
int g_attention_grad(graph *g, int q, int k, int v, int dout, int heads, int causal, int which);

/* Appends a node of any kind whose output shape the caller already knows
 * (used by builders and by passes such as autodiff and fusion). The op
 * table's row (graph/op_table.h) checks the arity and that the output dtype
 * and shape are what the op makes of these inputs and attrs. */
int g_append_node(graph *g, g_op op, int n_in, const int *in, const g_attr *attr,
                  g_dtype out_dt, int out_ndim, const int64_t *out_shape);
/* The same without the op table's arity and output check: only for tests
 * that hand a backend a malformed node on purpose, to test its own checks. */
int g_append_node_unchecked(graph *g, g_op op, int n_in, const int *in, const g_attr *attr,
                            g_dtype out_dt, int out_ndim, const int64_t *out_shape);

/* ---- schedule ---- */
/* Topological order of the live nodes that some output depends on. Writes
 * node ids to order (capacity g->n_nodes) and returns how many, or -1 on a
 * cycle. */
int g_schedule(const graph *g, int *order);

/* ---- memory plan ----
 * Every ACT/GRAD tensor that is not a view gets a byte offset in one arena.
 * A tensor is live from the step that produces it to the last step that
 * reads it (or its views); outputs stay live to the end. Two tensors whose
 * live ranges overlap never share bytes. Offsets are multiples of align. */
typedef struct g_memplan {
    size_t *offset;        /* per tensor id; (size_t)-1 where not in the arena */
    size_t arena_bytes;    /* planned peak */
    size_t naive_bytes;    /* sum of all arena tensors, for comparison */
    int n_tensors;
} g_memplan;

int g_plan_memory(const graph *g, const int *order, int n_order, size_t align, g_memplan *out);
void g_memplan_free(g_memplan *p);
/* Storage root of a tensor (follows alias_of). */
int g_storage_root(const graph *g, int t);

/* ---- dumps ---- */
/* One line per live node: id, op, name, inputs with shapes, output shape. */
int g_dump_text(const graph *g, FILE *f);
/* Graphviz DOT: tensors as boxes (params/inputs styled apart), nodes as ellipses. */
int g_dump_dot(const graph *g, FILE *f);

/* ---- autodiff (graph/autodiff*.c; docs/autodiff.md) ----
 * Reverse mode from a scalar loss (f32, one element, e.g. [1]), appending the
 * backward nodes to the same graph so they are scheduled, fused and planned
 * like forward ones.
 *  - Seed: a new G_ROLE_INPUT tensor named "grad/<loss name>" with the loss's
 *    shape; the caller fills it with 1.0 (or any scale, e.g. 1/k for gradient
 *    accumulation over k micro-batches). Its id goes to *seed (may be NULL).
 *  - grads[i] receives the id of d loss / d wrt[i]: a G_ROLE_GRAD tensor of
 *    wrt[i]'s shape named "grad/<wrt name>", marked as an output. A wrt
 *    tensor the loss does not depend on gets zeros (broadcast of 0 * seed).
 *  - Every tensor the pass creates has role G_ROLE_GRAD; the final gradient
 *    of each intermediate tensor is named "grad/<its name>" (an identity
 *    gradient, e.g. through an add, keeps the name of the tensor it shares).
 *  - Only branches from the loss that reach a wrt tensor get backward nodes;
 *    gradients of a tensor feeding several nodes are summed with g_add.
 *  - SCALE by 0 stops the gradient (the idiom for constants built from
 *    tensors). MAX, ARGMAX and backward ops on a path from a wrt tensor to
 *    the loss fail with CC_ERR_UNSUPPORTED; BATCHNORM (inference) gives
 *    x, gamma and beta gradients and none to its running statistics.
 * Returns CC_OK or a cc_code (message in cc_last_error()); on failure the
 * nodes appended so far stay in the graph, unreferenced by any output. */
int g_backward(graph *g, int loss, int n_wrt, const int *wrt, int *grads, int *seed);

/* BatchNorm in training mode over x [N, C, H, W] or [N, C], as a composite
 * of existing ops (so autodiff needs no rule of its own): per-channel batch
 * mean and BIASED variance over N, H, W; y = (x - mean) / sqrt(var + eps) *
 * gamma + beta. *batch_mean and *batch_var (may be NULL) receive the [C]
 * statistics, marked as outputs: the trainer updates the running buffers
 * from them as PyTorch does (momentum 0.1, UNBIASED variance):
 *   running_mean = 0.9 running_mean + 0.1 batch_mean
 *   running_var  = 0.9 running_var  + 0.1 batch_var * M / (M - 1), M = N*H*W.
 * Returns y's id or -1, like every builder. */
int g_batchnorm_train(graph *g, int x, int gamma, int beta, float eps, int *batch_mean, int *batch_var);
/* The ops g_batchnorm_train is made of (x [N, C, H, W] or [N, C]): the
 * per-channel batch moments in one pass, the normalisation with them, and
 * the two ops of its backward rule (graph.h's enum says what each computes). */
int g_bn_stats(graph *g, int x);
int g_bn_train(graph *g, int x, int gamma, int beta, int stats, float eps);
int g_bn_grad_sums(graph *g, int x, int stats, int dy, float eps);
int g_bn_grad_x(graph *g, int x, int gamma, int stats, int dy, int sums, float eps);

/* The id of the first tensor named name, or -1 (binding grads by name). */
int g_find_tensor(const graph *g, const char *name);

/* Liveness as the memory planner sees it: for each tensor id, the first and
 * last schedule step (index into order) at which its storage is live, or -1
 * for both where it is not produced by the schedule; views extend their
 * root's range; outputs end at n_order. start/end have g->n_tensors slots. */
int g_live_ranges(const graph *g, const int *order, int n_order, int *start, int *end);

#endif
