/* The device self-check: the kernel variants of an OpenCL device (row ops
 * cpu/gpu, the own GEMM in both styles and CLBlast, attention cpu/rows) and
 * the fusion patterns run small graphs of odd shapes and are compared with
 * the reference backend. A variant is checked in parts, one per kernel that
 * carries it ("row_variant=cpu:softmax", "gemm=own/cpu:packed_a"; one table
 * in selfcheck.c maps kernel names to parts).
 *
 * Lazy, per plan: backend_open checks nothing (it applies what is known);
 * backend_plan_create, once a plan is lowered, checks the parts of the
 * kernels that plan launches (built for the same program the plan compiled:
 * same build options and kernel selection, so the check compiles nothing)
 * and the fusion patterns it fused, those not known yet. A part that
 * disagrees (or fails to build or run) disables its whole variant for the
 * device: the policy overlay rt_policy_apply_selfcheck() moves its fields
 * to a working variant (source "selfcheck" in `clipcl devices --policy`),
 * the plan is lowered again and what the new lowering uses is checked in
 * turn. Compiling and running kernels the model never uses cost most of a
 * cold start. SC_ALL (`clipcl devices --check`) checks every part of every
 * variant and every pattern.
 *
 * It sits in the backends layer because it needs graph/, backends/ref and
 * backends/opencl; runtime/ only applies its result. The result is cached
 * with the tuning data, rt_cache_dir()/tuning/selfcheck-<hash>.txt, keyed by
 * platform, device, driver and the kernel sources as resolved (so an edited
 * kernel or a CLIPCL_KERNEL_DIR override is checked again); a process
 * remembers it per device too (one check at a time: a lock). Off with
 * CLIPCL_SELFCHECK=0. */
#ifndef CLIPCL_BACKEND_SELFCHECK_H
#define CLIPCL_BACKEND_SELFCHECK_H

#include "backends/backend.h"
#include "runtime/rt.h"

#define SC_MAX_ITEMS 48

/* One checked item: a part of a policy variant, or a fusion pattern. */
typedef struct sc_item {
    char name[48];    /* "gemm=own/cpu:packed_a", "attention=cpu", "fusion=matmul_gelu" */
    int disabled;     /* 1: disagreed with the reference, or failed */
    char why[240];    /* for a disabled one: the error or the disagreement */
    double seconds;   /* time of its check (0 when from the cache) */
    int now;          /* 1: checked by this call (0: known before) */
} sc_item;

typedef struct sc_report {
    sc_item item[SC_MAX_ITEMS];
    int n_items;
    unsigned disabled;      /* 1u << rt_variant */
    char fusion_off[160];   /* disabled fusion patterns, "a,b" */
    int ran;                /* 1: something checked now; 0: all known (cache or this process's memory) */
    double seconds;         /* the whole check (0 when not run) */
    char cache_file[1000];  /* where the result is stored ("" without a cache folder) */
} sc_report;

enum {
    SC_FRESH = 1, /* forget the known result (cache file, process memory) first */
    SC_ALL = 2,   /* every part of every variant and every fusion pattern (clipcl devices --check) */
};

/* Takes the known result for ctx's device (SC_FRESH: none) and applies it
 * to ctx->policy. SC_ALL: first checks every part and pattern it does not
 * hold yet and adds them to the cached result. Without SC_ALL nothing is
 * checked (with SC_FRESH the result is forgotten, its file removed).
 * Returns an error only when the check itself cannot run (the reference
 * backend, host memory); a failing part is a result, not an error. */
int backend_selfcheck(rt_ctx *ctx, int flags, sc_report *out);

/* What a plan uses: the kernels it launches (backend_plan_kernels) and the
 * fusion patterns it fused. */
typedef struct sc_uses {
    const backend_kernel_use *kernels;
    int n_kernels;
    const char *const *patterns;
    int n_patterns;
} sc_uses;

/* Checks the parts of uses' kernels that the known result does not hold yet
 * (on the shapes their build options say), then uses' fusion patterns not
 * known yet (skipped when a part failed now: the plan is lowered again and
 * asks again), adds them to the cached result and applies it to
 * ctx->policy. *n_disabled: how many were disabled now (the plan must then
 * be lowered again). */
int backend_selfcheck_uses(rt_ctx *ctx, const sc_uses *uses, sc_report *out, int *n_disabled);

/* The item a kernel's check is ("row_variant=cpu:softmax" for
 * "softmax_rows") in buf, or NULL when no part is carried by that kernel. */
const char *backend_selfcheck_part(const char *kernel, char *buf, size_t len);

/* Applies the result known for ctx's device (this process's memory, then the
 * cache file) without running anything; 1 when one was known. For
 * `clipcl devices --policy`. */
int backend_selfcheck_apply_cached(rt_ctx *ctx);

/* The one-line warning for a disabled item: "device self-check: gemm=own/cpu
 * disagrees with the reference on <device> (...): disabled, using ...". */
void backend_selfcheck_warning(const rt_ctx *ctx, const sc_report *r, int item, char *buf, size_t len);

/* Forget the results remembered in this process (tests). */
void backend_selfcheck_reset(void);

#endif
