/* The device self-check: the kernel variants of an OpenCL device (row ops
 * cpu/gpu, the own GEMM in both styles and CLBlast, attention cpu/rows, each
 * fusion pattern) run small graphs of odd shapes and are compared with the
 * reference backend. On first use only the variants the context's policy
 * uses are checked (its row variant, GEMM as measured, attention variant and
 * enabled fusion patterns), an alternative only once the chosen one fails:
 * compiling variants the device never runs cost most of a cold start.
 * SC_ALL checks every variant. A variant that disagrees (or fails to build
 * or run) is disabled for the device: the policy overlay
 * rt_policy_apply_selfcheck() moves its fields to a working variant (source
 * "selfcheck" in `clipcl devices --policy`).
 *
 * It sits in the backends layer because it needs graph/, backends/ref and
 * backends/opencl; runtime/ only applies its result. The result is cached
 * with the tuning data, rt_cache_dir()/tuning/selfcheck-<hash>.txt, keyed by
 * platform, device, driver and the kernel sources as resolved (so an edited
 * kernel or a CLIPCL_KERNEL_DIR override is checked again); a process
 * remembers it per device too. backend_open() runs it for OpenCL devices
 * unless CLIPCL_SELFCHECK=0; `clipcl devices --check` runs it afresh. */
#ifndef CLIPCL_BACKEND_SELFCHECK_H
#define CLIPCL_BACKEND_SELFCHECK_H

#include "runtime/rt.h"

#define SC_MAX_ITEMS 24

/* One checked variant: a policy variant, or a fusion pattern. */
typedef struct sc_item {
    char name[48];    /* "gemm=own/cpu", "fusion=matmul_gelu" */
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
    SC_FRESH = 1, /* forget the known result (cache file, process memory): check again */
    SC_ALL = 2,   /* every variant, not only those ctx's policy uses (clipcl devices --check) */
    SC_VARIANTS = 4 /* the policy's variants only: each fusion pattern waits for the first plan
                       that fuses it (backend_selfcheck_fusions; backend_open's check) */
};

/* Takes the known result for ctx's device, checks what ctx's policy uses and
 * the result does not hold yet (flags SC_*; measuring the GEMM choice first
 * when it is not cached), adds that to the cached result, and applies it to
 * ctx->policy. Returns an error only when the check itself cannot run (the reference backend, host
 * memory); a failing variant is a result, not an error. */
int backend_selfcheck(rt_ctx *ctx, int flags, sc_report *out);

/* The fusion patterns named (n of them, e.g. those a new plan fused) that
 * the known result does not hold yet, checked as backend_selfcheck does,
 * added to the cached result and applied to ctx->policy. *n_disabled: how
 * many of them were disabled now (the plan must then be lowered again). */
int backend_selfcheck_fusions(rt_ctx *ctx, const char *const *names, int n, sc_report *out,
                              int *n_disabled);

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
