/* Extra helpers for lowering code that ocl_backend.h does not declare:
 * the event slot for host calls, and the choice between the CPU-class and
 * GPU-class variants of a row kernel. Implemented in ocl_plan.c. */
#ifndef CLIPCL_OCL_PLAN_INTERNAL_H
#define CLIPCL_OCL_PLAN_INTERNAL_H

#include "backends/opencl/ocl_backend.h"

/* Inside a host call made by ocl_plan_run(): where the call should store the
 * event of the work it enqueues so its time is attributed to its node. NULL
 * when the context does not profile (CLBlast accepts a NULL event) and
 * outside a run. */
cl_event *ocl_lower_event_slot(void);

/* 1 when row ops (softmax, norms, reductions) should use the work-group-per-row
 * variant with a local-memory tree reduction, 0 for one work-item per row:
 * the context's policy.row_variant (runtime/policy.h; CLIPCL_FORCE_VARIANT
 * switches it, tests run both on PoCL). */
int ocl_lower_gpu_rows(ocl_lower *lc);
/* Work-group size for the GPU row variant: policy.row_wg, a power of two <=
 * the device's max work-group size. */
size_t ocl_lower_row_wg(ocl_lower *lc);

/* The kernel "<base>_wg" (GPU rows, built with -DWG=ocl_lower_row_wg) or
 * "<base>_rows" (CPU rows) from file, and its launch over nrows rows. */
int ocl_lower_row_kernel(ocl_lower *lc, const char *file, const char *base, cl_kernel *out);
int ocl_lower_row_launch(ocl_lower *lc, int node, cl_kernel k, int64_t nrows);

/* Collapse adjacent dims that are contiguous in every operand: on entry
 * shape[ndim] and nops stride arrays strides[op][ndim] (element strides, 0 for
 * a broadcast dim); size-1 dims are dropped. Returns the new ndim (>= 1; a
 * scalar becomes one dim of size 1). */
int ocl_collapse_dims(int ndim, int64_t *shape, int nops, int64_t strides[][G_MAX_DIMS]);

/* A plan-owned device buffer holding n int64 values (shape/stride tables for
 * kernels), written once at lowering time. */
int ocl_lower_const_i64(ocl_lower *lc, const int64_t *vals, int n, cl_mem *out);

/* Contiguous element strides of a tensor's shape. */
void ocl_contig_strides(const g_tensor *t, int64_t *strides);

/* A launch that reads params only and writes a plan-owned scratch buffer
 * nothing else writes (e.g. packing a weight into GEMM panels): run by the
 * first ocl_plan_run() and afterwards only when a param may have changed
 * (ocl_plan_write() to a PARAM tensor, ocl_plan_mem() handed one out, or the
 * owner called ocl_plan_params_changed(), as training must after each
 * in-place optimizer step). Saves re-packing every weight on every inference
 * run. Its output must depend on params only: no input, no activation. */
int ocl_lower_launch_static(ocl_lower *lc, int node, cl_kernel k, cl_uint dims, const size_t *gws,
                            const size_t *lws);
/* A memo for lowering code, alive while the plan is: nodes that need the
 * same derived data (the per-row softmax statistics shared by the dk and dv
 * nodes of one attention) compute it once, in whichever node is lowered
 * first, i.e. runs first. key: 1..OCL_MEMO_MAX_KEY ints naming the data
 * (op, input tensor ids, attributes). get returns 1 and the buffer when
 * found, 0 otherwise. Safe when every user reads the same input tensors (they
 * stay live until the last user runs) and the buffer is private scratch
 * (ocl_lower_scratch), never shared scratch. */
#define OCL_MEMO_MAX_KEY 12
int ocl_lower_memo_get(ocl_lower *lc, const int *key, int n, cl_mem *out);
int ocl_lower_memo_put(ocl_lower *lc, const int *key, int n, cl_mem mem);

/* 1 when the tensor is a G_ROLE_PARAM (persistent weights). */
int ocl_lower_is_param(ocl_lower *lc, int tensor);
/* 1 when the tensor's storage is a param's: the param or a view of one
 * (reshape), i.e. its data changes only with the params. */
int ocl_lower_is_param_data(ocl_lower *lc, int tensor);

/* Private scratch for data derived from params only (a launch_static
 * output: packed weights, a folded BatchNorm): like ocl_lower_scratch, but
 * counted in the memory check as params-derived, which a smaller batch does
 * not shrink. */
int ocl_lower_derived_scratch(ocl_lower *lc, size_t bytes, cl_mem *out);
/* A persistent copy of a weight in another layout (the GEMM's packed
 * panels), filled by launch_static: found by key in the plan memo (*found 1:
 * an earlier node made it and emitted its launches), else made as derived
 * scratch. *out is NULL (and *found 0) when the plan keeps no such copies:
 * ocl_plan_create lowers a plan a second time without them when the first
 * lowering ran out of device memory, so a tight device still gets the plan
 * that re-packs every run. */
int ocl_lower_weight_copy(ocl_lower *lc, const int *key, int n_key, size_t bytes, cl_mem *out, int *found);

/* The GEMM of node reads the param buffer src only through its persistent
 * packed copy (ocl_gemm.c). A param every reader of which says so is
 * released by ocl_plan_release_originals() once packed. Not a param: no-op.
 * The note covers the whole node: a lowering that also reads src in another
 * launch of the same node (not through a GEMM that packs it once) must give
 * that GEMM a sink without packed_only. */
int ocl_lower_note_packed_read(ocl_lower *lc, int node, cl_mem src);

/* Transient scratch for one node's launches, shared with every other node of
 * the plan (one buffer sized to the largest node's total; the queue is in
 * order). Contents live only within the node's own launches (never a
 * launch_static output). The handle is a placeholder re-bound to the real
 * buffer after lowering, so it must reach kernels through ocl_set_args (or
 * clSetKernelArg + ocl_ss_note_arg) and host-call data through
 * ocl_ss_note_slot (ocl_shared_scratch.h). Requests of one node never
 * overlap each other. */
int ocl_lower_shared_scratch(ocl_lower *lc, size_t bytes, cl_mem *out);

/* G_OP_ATTENTION for CPU-class devices (ocl_lower_attention_cpu.c): whether
 * it applies to the node (head dim a multiple of 4, CPU class or
 * CLIPCL_ATTENTION=cpu), and its lowering. ocl_lower_attention() chooses. */
int ocl_attention_use_cpu(ocl_lower *lc, int node);
int ocl_lower_attention_cpu(ocl_lower *lc, int node);

#endif
