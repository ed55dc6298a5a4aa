/* The OpenCL backend: lowers a scheduled, memory-planned graph to a plan of
 * pre-bound launches. Running a plan is a loop over those launches with no
 * allocation, no string lookups and one clFinish at the end.
 *
 * Storage: every ACT/GRAD tensor is a sub-buffer of one arena at the offset
 * the memory planner gave it (offsets aligned to the device's
 * CL_DEVICE_MEM_BASE_ADDR_ALIGN); views share their root's sub-buffer;
 * inputs and params get buffers of their own. */
#ifndef CLIPCL_OCL_BACKEND_H
#define CLIPCL_OCL_BACKEND_H

#include "backends/opencl/ocl_plan_uses.h"
#include "graph/graph.h"
#include "runtime/rt.h"

typedef struct ocl_plan ocl_plan;

/* Schedules, plans memory, allocates, and lowers every node. */
int ocl_plan_create(rt_ctx *ctx, const graph *g, ocl_plan **out);
void ocl_plan_free(ocl_plan *p);

/* Copy host data into an input/param tensor, or read any tensor back. */
int ocl_plan_write(ocl_plan *p, int tensor, const void *host, size_t bytes);
int ocl_plan_read(ocl_plan *p, int tensor, void *host, size_t bytes);
cl_mem ocl_plan_mem(ocl_plan *p, int tensor);

/* Tell the plan that parameter values changed on the device behind its back
 * (e.g. an optimizer step updating params in place through cl_mems from
 * ocl_plan_mem()). Launches that derive data from params only (packed GEMM
 * weights, batchnorm's per-channel sqrt(var + eps)) run once and are skipped
 * afterwards until a param changes: ocl_plan_write() to a param and handing
 * out a param's cl_mem notice that by themselves, an in-place update does
 * not. Call this after every such update, before the next ocl_plan_run();
 * forgetting it runs the plan on the stale derived data. Cheap: sets a flag. */
void ocl_plan_params_changed(ocl_plan *p);

/* Inference plans: after the next run that packs the weights (the first),
 * release each param whose only readers are GEMMs using its packed copy
 * (ocl_gemm.c), so no weight is kept twice on the device. The params are
 * then frozen: writing one (ocl_plan_write, ocl_plan_mem) fails, and the
 * packing launches never run again. A training plan must not call it. */
void ocl_plan_release_originals(ocl_plan *p);
/* Bytes of params released by ocl_plan_release_originals so far. */
size_t ocl_plan_released_bytes(const ocl_plan *p);

/* Enqueue every launch in order and wait once. */
int ocl_plan_run(ocl_plan *p);
/* A prefix run: the launches of the schedule up to the last node that writes
 * one of tensors[0..n), then wait (backend_plan_run_for). */
int ocl_plan_run_for(ocl_plan *p, int n, const int *tensors);
/* Launches (and host calls) the last ocl_plan_run() enqueued: all of them
 * after a param change, the static ones skipped otherwise; 0 before a run. */
int ocl_plan_last_run_launches(const ocl_plan *p);

/* Profiling (ctx created with profiling): seconds per node from the last
 * run, summed over that node's launches; -1 where the node had none. */
int ocl_plan_node_seconds(const ocl_plan *p, double *per_node /* g->n_nodes */);
size_t ocl_plan_arena_bytes(const ocl_plan *p);
/* Device bytes of all plan scratch: private (ocl_lower_scratch) + shared. */
size_t ocl_plan_scratch_bytes(const ocl_plan *p);
/* Device bytes of data derived from params only (packed weights, folded
 * BatchNorm: ocl_lower_derived_scratch), not part of the scratch above. */
size_t ocl_plan_derived_bytes(const ocl_plan *p);
/* The kernels the plan launches, each (function name, build options as the
 * lowering asked for them) once, "clblast" for CLBlast's calls; *n of them,
 * owned by the plan. What the device self-check checks for the plan. */
const ocl_kernel_use *ocl_plan_kernel_uses(const ocl_plan *p, int *n);

/* ---------------------------------------------------------------------
 * For lowering code (ocl_lower_*.c). One lowering function per op kind
 * appends launches for one node through the helpers below. */
typedef struct ocl_lower ocl_lower;

typedef int (*ocl_host_call)(rt_ctx *ctx, void *data); /* e.g. a CLBlast call */

rt_ctx *ocl_lower_ctx(ocl_lower *lc);
const graph *ocl_lower_graph(ocl_lower *lc);
cl_mem ocl_lower_mem(ocl_lower *lc, int tensor);
/* A device buffer owned by the plan, e.g. for packed weights or im2col. */
int ocl_lower_scratch(ocl_lower *lc, size_t bytes, cl_mem *out);
/* A fresh kernel from kernels/<file> built with options; owned by the plan. */
int ocl_lower_kernel(ocl_lower *lc, const char *file, const char *name, const char *options, cl_kernel *out);
/* Append a launch of k (args already set). lws may be NULL. */
int ocl_lower_launch(ocl_lower *lc, int node, cl_kernel k, cl_uint dims, const size_t *gws, const size_t *lws);
/* Append a host call made at run time in launch order; data is freed with
 * free() when the plan is freed. The call may enqueue work and, when
 * profiling, should store its event through ocl_lower_event_slot(). */
int ocl_lower_call(ocl_lower *lc, int node, ocl_host_call fn, void *data);
/* Records that the plan uses a kernel it made no cl_kernel of (a library
 * call: "clblast"), for ocl_plan_kernel_uses(). */
int ocl_lower_note_use(ocl_lower *lc, const char *name, const char *options);

/* Set kernel args from a format: 'm' cl_mem, 'i' int, 'u' unsigned,
 * 'l' long (int64_t), 'f' float. */
int ocl_set_args(cl_kernel k, const char *fmt, ...);

/* Round n up to a multiple of m. */
static inline size_t ocl_round_up(size_t n, size_t m) { return (n + m - 1) / m * m; }

/* The per-op lowering functions are declared in ocl_lower_ops.h and listed
 * in ocl_op_table.c. */

/* 1 when ocl_plan_create() can lower node: its op has a lowering in
 * ocl_op_table.c and its inputs have element types the kernels take; else 0.
 * ctx may be NULL (the answer does not depend on the device today). */
int ocl_supports_op(rt_ctx *ctx, const graph *g, int node);

#endif
