/* Fusion at lowering time (docs/fused-kernels.md).
 *
 * The graph is never rewritten: while ocl_plan_create() walks the schedule,
 * each row of a table of patterns may claim a run of consecutive scheduled
 * nodes starting at position i and lower the whole run as one kernel launch
 * (plus launches that depend on params only, run once). The reference
 * backend and autodiff never see fusion: the reference stays the oracle, and
 * a fused plan must agree with it within the ops' usual tolerances.
 *
 * A pattern may claim nodes only when every tensor that the fused kernel no
 * longer writes (an "intermediate") has no reader outside the run and is not
 * a graph output: ocl_fusion_can_fuse() checks that over the whole graph.
 * That rule is why epilogue fusions do not fire in training graphs, where the
 * backward pass reads the pre-activation again.
 *
 * Launches of a fused run are attributed to the run's FIRST node (the anchor
 * the pattern matched at: the matmul, the add, the conv), so profiles and
 * ocl_plan_node_seconds() show the fused time there and -1 for the other
 * nodes of the run.
 *
 * Switches: CLIPCL_FUSION unset or "1" enables every pattern; "0" none;
 * "name1,name2" only those; "-name" every pattern but that one. The context's
 * device policy holds the setting (runtime/policy.c reads the variable);
 * ocl_fusion_on() applies it per pattern. */
#ifndef CLIPCL_OCL_FUSION_H
#define CLIPCL_OCL_FUSION_H

#include "backends/opencl/ocl_backend.h"

#define OCL_FUSION_MAX_RUN 4       /* nodes one pattern may claim */
#define OCL_FUSION_MAX_PATTERNS 32 /* rows of the table, with room for new ones */

/* What a match function sees: the graph, its schedule, and how many live
 * nodes read each tensor (over the whole graph, views included). */
typedef struct ocl_fusion_view {
    ocl_lower *lc;             /* for the device and the GEMM choice; no launches */
    const graph *g;
    const int *order;
    int n_order;
    const int *readers;        /* per tensor id */
} ocl_fusion_view;

/* Fills nodes[0..n) with the run it claims at schedule position i (nodes[0] =
 * order[i], then order[i+1], ...) and returns n >= 2, or 0 when it does not
 * match. The walk goes forward and calls it only at positions no earlier
 * run claimed, so every position from i on is free; ocl_fusion_at() returns
 * -1 past the end of the schedule. */
typedef int (*ocl_fusion_match_fn)(const ocl_fusion_view *v, int i, int *nodes);

/* Emits the launches of the claimed run (attributing them to nodes[0]). */
typedef int (*ocl_fusion_lower_fn)(ocl_lower *lc, const int *nodes, int n);

/* The example a pattern brings for its test and benchmark: builds the
 * unfused subgraph into g at a size (rows: 1, 3, 7, 33, 77, 513 ... in the
 * test; larger in bench/bench_fusion), marks its outputs, and lists tensors
 * that must be drawn from a positive range (a variance). Returns 0, or -1
 * when a builder failed. */
typedef struct ocl_fusion_example {
    int positive[4];
    int n_positive;
    float rtol;                /* the tolerance of the ops it replaces */
} ocl_fusion_example;
typedef int (*ocl_fusion_example_fn)(graph *g, int rows, int cols, ocl_fusion_example *ex);

typedef struct ocl_fusion_pattern {
    const char *name;          /* for CLIPCL_FUSION, stats and bench_fusion */
    ocl_fusion_match_fn match;
    ocl_fusion_lower_fn lower;
    ocl_fusion_example_fn example;
    const char *what;          /* one line: the nodes it replaces */
} ocl_fusion_pattern;

/* The table, in the order the walk tries it (longer runs first where two
 * patterns start at the same op). */
int ocl_fusion_count(void);
const ocl_fusion_pattern *ocl_fusion_get(int i);
/* Row index of a pattern, or -1. */
int ocl_fusion_find(const char *name);

/* Whether the pattern is switched on by the policy (see above). Fails with
 * CC_ERR_INVALID naming the entry when CLIPCL_FUSION names an unknown
 * pattern, so a typo does not silently switch fusion off. */
int ocl_fusion_on(const rt_policy *p, const char *name, int *on);

/* The check every match function makes (ggml_can_fuse at lowering): the
 * nodes are live, node k's op is ops[k], and every output of nodes[0..n-1)
 * not listed in kept[] (outputs the fused kernel still writes) has all its
 * readers inside the run and is not a graph output. The last node's output
 * is the run's result, always written. */
int ocl_fusion_can_fuse(const ocl_fusion_view *v, const int *nodes, int n, const g_op *ops, const int *kept,
                        int n_kept);
/* The node at schedule position pos, or -1 past the end. */
int ocl_fusion_at(const ocl_fusion_view *v, int pos);

/* ---- used by ocl_plan.c ---- */

/* The claims of one plan: for each schedule position, the pattern (or -1)
 * and the run length; counts per pattern for the stats. */
typedef struct ocl_fusion_claims {
    int *pattern;              /* per schedule position: row, -1 none; -2 inside an earlier run */
    int *len;                  /* per schedule position: nodes claimed from there */
    int *nodes;                /* per position: OCL_FUSION_MAX_RUN node ids of the run */
    int fired[OCL_FUSION_MAX_PATTERNS];
    int n_order;
} ocl_fusion_claims;

/* Walks the schedule once, trying the enabled patterns at every unclaimed
 * position. */
int ocl_fusion_claim(ocl_lower *lc, const graph *g, const int *order, int n_order, ocl_fusion_claims *out);
void ocl_fusion_claims_free(ocl_fusion_claims *c);

/* g_plan_memory as if every claimed run were one step: the fused launch
 * runs at the run's first position but writes outputs that the unfused
 * schedule produces later, so the inputs of every node of the run must stay
 * live to the run's last position (or the planner could hand their bytes to
 * those outputs). */
int ocl_fusion_plan_memory(const graph *g, const ocl_fusion_claims *c, const int *order, int n_order,
                           size_t align, g_memplan *out);

/* Lowers the run claimed at schedule position i (its launches attributed to
 * order[i]); errors name the pattern and the node. */
int ocl_fusion_lower_run(ocl_lower *lc, const ocl_fusion_claims *c, int i);

/* From ocl_plan.c: the plan's launch list and claims, for the stats. */
void ocl_plan_launch_counts(const ocl_plan *p, int *n_launches, int *n_static, const ocl_fusion_claims **claims);

/* What fired in a plan. */
typedef struct ocl_fusion_stats {
    int n_launches;            /* launches and host calls of one run, once-only ones included */
    int n_static;              /* of those, launches that depend on params only (run once) */
    int n_patterns;
    const char *name[OCL_FUSION_MAX_PATTERNS];
    int fired[OCL_FUSION_MAX_PATTERNS]; /* runs each pattern claimed */
    int nodes_fused;           /* nodes lowered inside a fused run */
} ocl_fusion_stats;
int ocl_plan_fusion_stats(const ocl_plan *p, ocl_fusion_stats *out);

/* The lowerings of the shipped patterns (ocl_fusion_gemm.c, ocl_fusion_norm.c,
 * ocl_fusion_conv.c, ocl_fusion_silu.c), referenced by the table in ocl_fusion.c. */
int ocl_fusion_match_matmul_gelu(const ocl_fusion_view *v, int i, int *nodes);
int ocl_fusion_match_matmul_quickgelu(const ocl_fusion_view *v, int i, int *nodes);
int ocl_fusion_match_matmul_residual(const ocl_fusion_view *v, int i, int *nodes);
int ocl_fusion_lower_matmul_gelu(ocl_lower *lc, const int *nodes, int n);
int ocl_fusion_lower_matmul_quickgelu(ocl_lower *lc, const int *nodes, int n);
int ocl_fusion_lower_matmul_residual(ocl_lower *lc, const int *nodes, int n);
int ocl_fusion_example_matmul_gelu(graph *g, int rows, int cols, ocl_fusion_example *ex);
int ocl_fusion_example_matmul_quickgelu(graph *g, int rows, int cols, ocl_fusion_example *ex);
int ocl_fusion_example_matmul_residual(graph *g, int rows, int cols, ocl_fusion_example *ex);

int ocl_fusion_match_add_layernorm(const ocl_fusion_view *v, int i, int *nodes);
int ocl_fusion_lower_add_layernorm(ocl_lower *lc, const int *nodes, int n);
int ocl_fusion_example_add_layernorm(graph *g, int rows, int cols, ocl_fusion_example *ex);

int ocl_fusion_match_conv_bn_relu(const ocl_fusion_view *v, int i, int *nodes);
int ocl_fusion_match_conv_bn(const ocl_fusion_view *v, int i, int *nodes);
int ocl_fusion_lower_conv_bn(ocl_lower *lc, const int *nodes, int n);
int ocl_fusion_example_conv_bn_relu(graph *g, int rows, int cols, ocl_fusion_example *ex);
int ocl_fusion_example_conv_bn(graph *g, int rows, int cols, ocl_fusion_example *ex);
int ocl_fusion_match_conv_bn_add_relu(const ocl_fusion_view *v, int i, int *nodes);
int ocl_fusion_example_conv_bn_add_relu(graph *g, int rows, int cols, ocl_fusion_example *ex);

int ocl_fusion_match_silu_mul(const ocl_fusion_view *v, int i, int *nodes);
int ocl_fusion_lower_silu_mul(ocl_lower *lc, const int *nodes, int n);
int ocl_fusion_example_silu_mul(graph *g, int rows, int cols, ocl_fusion_example *ex);

/* conv2d lowered with a replacement weight, bias (bias_mode ROW, NULL none),
 * output buffer and epilogue activation (ocl_lower_conv.c): the folded
 * conv + batchnorm. w must derive from params only (a static launch's
 * output): the GEMM packs it once per param change. */
int ocl_lower_conv2d_with(ocl_lower *lc, int node, cl_mem w, cl_mem bias, cl_mem y, int act, cl_mem res);
/* 1 when conv node `node` lowers through an implicit GEMM that adds a
 * residual before its ReLU (ocl_lower_conv_direct.c). */
int ocl_conv_takes_residual(ocl_lower *lc, int node);

#endif
