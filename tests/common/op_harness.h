/* Test harness for ops: fills a graph's inputs and params with seeded random
 * values, runs it on the ref backend and on the OpenCL backend (device from
 * $CLIPCL_DEVICE, default selection otherwise; the suite runs on PoCL in CI),
 * and compares every tensor marked as output.
 *
 * Agreement: max |ocl - ref| <= atol + rtol * max |ref| over each output
 * (scale-aware, so tolerances mean the same for large and small values).
 * Prints one line per output: label, shape, max abs error, max |ref|. */
#ifndef CLIPCL_OP_HARNESS_H
#define CLIPCL_OP_HARNESS_H

#include <stdint.h>

#include "graph/graph.h"
#include "runtime/rt.h"

/* One context for the whole test process (created on first use). Each call
 * re-reads its device policy from the environment (rt_policy_reload), so a
 * test selects a variant with setenv(CLIPCL_FORCE_VARIANT, ...) and the next
 * oh_check / oh_ctx() uses it. */
rt_ctx *oh_ctx(void);

typedef struct oh_opts {
    float rtol, atol;
    unsigned seed;
    float lo, hi;          /* uniform range for f32 inputs/params; default [-1, 1] */
} oh_opts;

/* Integer inputs (ids) are drawn from [lo, hi]; set before oh_check. */
void oh_int_range(int tensor, int32_t lo, int32_t hi);
/* Give a tensor a fixed positive range (e.g. a variance) instead of [lo, hi]. */
void oh_f32_range(int tensor, float lo, float hi);

/* Returns 0 when every output agrees; otherwise prints the first mismatch
 * (index, values) and returns 1. Resets the per-tensor ranges afterwards. */
int oh_check(graph *g, const oh_opts *opts, const char *label);

/* Default opts: rtol, atol 0, seed 1234, range [-1, 1]. */
oh_opts oh_tol(float rtol);

#endif
