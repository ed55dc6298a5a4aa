/* The reference backend: plain C, one obvious loop nest per op, the oracle for
 * every test. Sums (matmul, conv, norms, softmax, attention, reductions)
 * accumulate in double so that the oracle is more accurate than the kernels
 * it judges. Speed is not a goal. */
#ifndef CLIPCL_REF_H
#define CLIPCL_REF_H

#include "graph/graph.h"

/* data has one slot per tensor id. The caller fills the slots of inputs and
 * params (float* or int32_t* by dtype). ref_eval() mallocs every ACT/GRAD
 * tensor left NULL (views point into their root), runs the schedule and
 * leaves results in data. Returns 0 or a cc_code with cc_last_error(). */
int ref_eval(const graph *g, void **data);
/* Runs one node; its inputs and output must already have storage. */
int ref_eval_node(const graph *g, int node, void **data);
/* 1 when the backend can run node (its op has a row in ref_op_table.c),
 * else 0. */
int ref_supports_op(const graph *g, int node);
/* Frees what ref_eval() allocated (ACT/GRAD roots) and NULLs those slots. */
void ref_free_acts(const graph *g, void **data);

#endif
