/* The test graphs of the device self-check and their runs (selfcheck_cases.c):
 * one small graph per part (selfcheck.c's table), run on the reference
 * backend once and on the device under a policy that takes the part's
 * kernel. Internal to backends/selfcheck.c. */
#ifndef CLIPCL_BACKEND_SELFCHECK_CASES_H
#define CLIPCL_BACKEND_SELFCHECK_CASES_H

#include <stddef.h>

#include "backends/backend.h"
#include "graph/graph.h"
#include "runtime/rt.h"

typedef enum sc_graph {
    SCG_SOFTMAX,   /* softmax, plain and causal */
    SCG_LAYERNORM,
    SCG_L2NORM,
    SCG_REDUCE,    /* sum, mean, max */
    SCG_BN_STATS,  /* training BatchNorm's batch moments */
    SCG_BN_GRAD,   /* and its backward's per-channel sums */
    SCG_GEMM,      /* a linear layer and a row-major B (long K, N > two panels), batched */
    SCG_GEMV,      /* M = 1 */
    SCG_ATTENTION, /* plain and causal, head dim and keys as the plan's program */
} sc_graph;

/* Shape choices a part takes from the plan's program (its build options),
 * so that the check compiles nothing the plan did not. */
typedef struct sc_shape {
    int head_dim, keys; /* attention */
} sc_shape;

typedef struct sc_case {
    graph *g;
    float **data;   /* per tensor: host values of inputs and params */
    float **want;   /* per tensor: the reference's outputs */
    int outs[8], n_outs;
} sc_case;

/* The K and N of the GEMM graphs: N is the GEMM fusion examples' N for
 * K (ocl_fusion_gemm.c), which the check builds with this K too. */
#define SC_GEMM_K 801
#define SC_GEMM_N (SC_GEMM_K + 6)

/* Builds graph kind (example: a fusion pattern's instead, NULL otherwise)
 * into a new case, draws its inputs (tensors in positive[] from (0.5, 1.5),
 * others from (-1, 1); params on a grid that 16-bit weight storage keeps
 * exactly when quantize is set) and computes the reference's outputs. */
int sc_case_prepare(sc_case *c, backend *ref, sc_graph kind, const sc_shape *shape, int quantize);
/* The same for a graph built by the caller into c->g. */
int sc_case_prepare_graph(sc_case *c, backend *ref, const int *positive, int n_positive, int quantize);
void sc_case_free(sc_case *c);

/* Runs c on ctx under policy pol. Returns 0 when every output agrees with
 * the reference, 1 with *why filled when one does not or the plan fails. */
int sc_case_run(rt_ctx *ctx, const rt_policy *pol, const sc_case *c, char *why, size_t len);

#endif
