/* The op table: one row of metadata per op kind (graph/op_table.c), the one
 * place that says what each g_op is. Rows are positional, in g_op order, and
 * a static check makes a missing row a build error. Backends keep tables of
 * their own (backends/ref/ref_op_table.c, backends/opencl/ocl_op_table.c);
 * docs/adding-an-op.md lists every place a new op touches. */
#ifndef CLIPCL_OP_TABLE_H
#define CLIPCL_OP_TABLE_H

#include "graph/graph.h"

struct ad_ctx; /* graph/autodiff_internal.h */

/* Output inference (graph/op_infer.h) of a node about to be appended (its
 * n->out not yet set): writes the output dtype and shape to out, or, for ops
 * whose output shape is a parameter, validates the one out holds on entry.
 * 0, or -1 after recording an error naming the op and the shapes. */
typedef int (*g_infer_fn)(graph *g, const g_node *n, g_tensor *out);
/* Floating-point operations of a node (multiply-adds count 2). */
typedef double (*g_flops_fn)(const graph *g, const g_node *n);
/* The backward rule of graph/autodiff.c (see ad_rule there). */
typedef int (*g_ad_rule)(struct ad_ctx *c, const g_node *n, int dy);

typedef struct g_op_row {
    g_op op;            /* equals the row's index (tests/graph/test_op_table.c) */
    const char *name;   /* g_op_name() */
    int min_in, max_in; /* arity, checked by g_append_node() */
    g_infer_fn infer;   /* the output dtype/shape from the inputs and attrs */
    g_flops_fn flops;   /* NULL: not arithmetic-bound, counted as 0 */
    g_ad_rule backward; /* NULL: no gradient (g_backward fails naming the op) */
    int view;           /* 1: the output aliases input 0's storage (reshape) */
} g_op_row;

/* The row of op, or NULL for a value outside [0, G_OP_COUNT). */
const g_op_row *g_op_info(g_op op);

/* Appends a node of kind op whose output dtype and shape the op table's row
 * infers from the inputs and attrs (the builders' path). Same contract as
 * g_append_node; ops whose output shape is a parameter (reshape, sum_to,
 * broadcast_to, conv2d_grad_input, avgpool2d_grad, embedding_grad,
 * slice_grad) go through g_append_node with it instead. */
int g_op_append(graph *g, g_op op, int n_in, const int *in, const g_attr *attr);

/* FLOPs of node (0 where the row has no count or the id is bad). */
double g_node_flops(const graph *g, int node);

#endif
