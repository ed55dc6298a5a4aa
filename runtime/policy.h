/* The device policy: every kernel-variant choice the OpenCL backend makes,
 * filled once per context (rt_ctx.policy) and read by the lowerings, so that
 * no lowering looks at device properties or the environment itself.
 *
 * One rule decides the kernel style: a device is GPU-style when it is not CPU
 * class and its local memory is real (CL_LOCAL); otherwise CPU-style (PoCL
 * emulates local memory and barriers expensively, and vectorises nothing
 * across work-items of local size 1, so CPU-style kernels put vectors and
 * loops inside one work-item). Every style-dependent field follows it.
 *
 * Values come from, in increasing precedence:
 *   1. defaults: a table keyed by device class, local memory, vendor and
 *      device name, most specific row first (policy.c), and for the GEMM
 *      tile and implementation the database of GEMM defaults
 *      (runtime/gemm_db.h: device > architecture > vendor > class, like
 *      CLBlast's database);
 *   2. tuned: results measured on this device and cached under
 *      $CLIPCL_CACHE_DIR/tuning/ (the GEMM choice and tile, overlaid by
 *      backends/opencl/ocl_gemm_select.c when it reads or measures them);
 *   3. the environment: CLIPCL_FORCE_VARIANT switches the style of every
 *      style-dependent field, then each field's own variable (settings.h).
 * Each field remembers which of these set it (`clipcl devices --policy`). */
#ifndef CLIPCL_POLICY_H
#define CLIPCL_POLICY_H

#include <stddef.h>

typedef struct rt_device_info rt_device_info;

/* The two kernel styles; choice fields store one of these or their own
 * small enum, named in the field table. */
typedef enum rt_style { RT_STYLE_CPU = 0, RT_STYLE_GPU = 1 } rt_style;

typedef enum rt_gemm_impl_choice {
    RT_GEMM_MEASURE = 0, /* measured once per device, cached (ocl_gemm_select.c) */
    RT_GEMM_OWN = 1,
    RT_GEMM_CLBLAST = 2,
} rt_gemm_impl_choice;

/* IN_PLACE (gemm_pack_a only): the row-tile kernel whatever the row-tile
 * count, an activation A read in place (a weight A is still packed once). */
typedef enum rt_pack_choice { RT_PACK_AUTO = 0, RT_PACK_ALWAYS = 1, RT_PACK_NEVER = 2, RT_PACK_IN_PLACE = 3 } rt_pack_choice;
/* ROWS: row groups the fastest grid dimension (work-items in a row share a
 * B panel, A is re-read per panel); PANELS: panels fastest (they share a
 * row group of A, B is re-read per row group). */
typedef enum rt_gemm_order { RT_ORDER_AUTO = 0, RT_ORDER_ROWS = 1, RT_ORDER_PANELS = 2 } rt_gemm_order;

/* conv2d lowering: im2col + GEMM, the CPU-style implicit GEMM on the input
 * in place (kernels/conv_direct.cl) or the GPU-style one with local-memory
 * tiles (kernels/conv_local.cl); shapes a variant does not cover use im2col. */
typedef enum rt_conv_choice { RT_CONV_IM2COL = 0, RT_CONV_DIRECT = 1, RT_CONV_LOCAL = 2 } rt_conv_choice;

typedef enum rt_policy_source {
    RT_SRC_DEFAULT = 0, /* the defaults table row (rt_policy.default_row) */
    RT_SRC_TUNED = 1,   /* a measurement cached for this device */
    RT_SRC_ENV = 2,     /* an environment variable (rt_policy.env_var[field]) */
    RT_SRC_SELFCHECK = 3, /* a variant the device self-check found wrong was replaced */
} rt_policy_source;

/* Kernel variants the device self-check (backends/selfcheck.c) runs against
 * the reference backend; a bit per variant in rt_policy.selfcheck_disabled. */
typedef enum rt_variant {
    RT_VAR_ROW_CPU = 0,   /* row ops, a work-item per row */
    RT_VAR_ROW_GPU,       /* row ops, a work-group per row */
    RT_VAR_GEMM_OWN_CPU,  /* own GEMM, register tiles on packed panels */
    RT_VAR_GEMM_OWN_GPU,  /* own GEMM, local-memory tiles */
    RT_VAR_GEMM_CLBLAST,
    RT_VAR_ATTENTION_CPU,
    RT_VAR_ATTENTION_ROWS,
    RT_VAR_COUNT
} rt_variant;

typedef enum rt_policy_field {
    RT_POL_STYLE = 0,
    RT_POL_ROW_VARIANT,
    RT_POL_ROW_WG,
    RT_POL_GEMM_IMPL,
    RT_POL_GEMM_VARIANT,
    RT_POL_GEMM_TILE,
    RT_POL_GEMM_RT,
    RT_POL_GEMM_KC,
    RT_POL_GEMM_PACK_B,
    RT_POL_GEMM_PACK_A,
    RT_POL_ATTENTION,
    RT_POL_ATTENTION_GRAD,
    RT_POL_CONV_SCRATCH,
    RT_POL_CONV_ROWS,
    RT_POL_CONV_VARIANT,
    RT_POL_OPTIM_VPI,
    RT_POL_FUSION,
    RT_POL_GEMM_SMALL_M,
    RT_POL_GEMM_ORDER,
    RT_POL_COUNT
} rt_policy_field;

#define RT_POLICY_FUSION_LEN 256

typedef struct rt_policy {
    rt_style style;            /* the one rule above, or CLIPCL_FORCE_VARIANT */
    rt_style row_variant;      /* row ops: CPU = a work-item per row, GPU = a work-group per row */
    int row_wg;                /* work-group size of the GPU row variant (<= device max) */
    rt_gemm_impl_choice gemm_impl;
    rt_style gemm_variant;     /* own GEMM: CPU = register tiles on packed panels, GPU = local-memory tiles */
    int gemm_tm, gemm_vw, gemm_nv; /* tile of the CPU-style own GEMM */
    int gemm_rt;               /* row tiles per work-item of the packed-A GEMM; 0 = from the shape */
    int gemm_kc;               /* K block of the packed-A GEMM; 0 = none */
    rt_pack_choice gemm_pack_b, gemm_pack_a; /* AUTO = by shape (ocl_gemm.c) */
    rt_style attention;        /* CPU = attention_cpu where the head dim allows (% 4, <= 256), GPU = attention_rows */
    rt_style attention_grad;   /* CPU = the float16 CPU kernels where they apply, GPU = the row kernels */
    size_t conv_scratch_bytes; /* im2col scratch cap per conv node */
    int conv_rows;             /* small-output conv path: -1 = by shape, 0 = off, 1 = on */
    rt_conv_choice conv_variant; /* conv2d lowering (rt_conv_choice) */
    int optim_vpi;             /* optimizer float8 vectors per work-item */
    int fusion_enabled;        /* fusion at lowering, globally */
    int gemm_small_m;          /* CPU-style own GEMM: 1 = fewer tile rows for a small M (auto), 0 = off */
    rt_gemm_order gemm_order;  /* grid order of the row-tile GEMM (gemm_tiled_pa); AUTO = by the cache (ocl_gemm.c) */
    /* ",name,-name," as parsed from CLIPCL_FUSION: a pattern named without
     * '-' is on, with '-' off; unnamed patterns follow fusion_enabled */
    char fusion_patterns[RT_POLICY_FUSION_LEN];
    /* a CLIPCL_GEMM value that is none of own|clblast|auto: the GEMM choice
     * fails with this message (the context itself still works) */
    char gemm_impl_error[160];

    rt_policy_source source[RT_POL_COUNT];
    const char *env_var[RT_POL_COUNT]; /* the variable when source is RT_SRC_ENV */
    const char *default_row;           /* the defaults table row that matched, e.g. "class cpu" */
    /* the GEMM database entry that set the fields in db_fields (bits
     * 1u << rt_policy_field), e.g. "database arch pthread-haswell"; "" none */
    char db_entry[160];
    unsigned db_fields;
    /* the entry's implementation (RT_GEMM_MEASURE: none). gemm_impl stays
     * "measure" until the backend resolves it: the per-device cache first,
     * then this (ocl_gemm_select.c), so a cached measurement wins */
    rt_gemm_impl_choice db_gemm_impl;
    char tuned_note[96];               /* how the tuned values were measured, e.g. "clipcl tune, load 0.31" */
    unsigned selfcheck_disabled;       /* 1u << rt_variant: found wrong on this device */
} rt_policy;

/* Defaults for dev (the table, then the GEMM database), then the
 * environment. No tuned overlay (the backend adds it when it reads its
 * cache). Never fails: a malformed variable is ignored as it always was
 * (CLIPCL_GEMM's is kept in gemm_impl_error, and so is a malformed
 * CLIPCL_GEMM_DB file's: the GEMM then fails with that line). */
void rt_policy_fill(rt_policy *p, const rt_device_info *dev);

/* Re-reads the environment into ctx's policy (defaults and environment
 * again; the backend re-applies tuned values on its next use). For tests,
 * which switch variants with setenv() on one context per process. */
typedef struct rt_ctx rt_ctx;
void rt_policy_reload(rt_ctx *ctx);

/* The tuned overlay: sets the field unless the environment set it. */
void rt_policy_tune_gemm_impl(rt_policy *p, rt_gemm_impl_choice impl);
void rt_policy_tune_gemm_tile(rt_policy *p, int tm, int vw, int nv);
/* What `clipcl devices --policy` says of the tuned fields ("clipcl tune,
 * load 0.31"); NULL or "" clears it. */
void rt_policy_tune_note(rt_policy *p, const char *note);

/* The self-check overlay: records `disabled` (bits 1u << rt_variant) and
 * moves each field that uses a disabled variant to a working one, and turns
 * off the fusion patterns named in fusion_off ("a,b"; NULL or "" none), with
 * source RT_SRC_SELFCHECK, unless the environment set the field. Applies a
 * result computed and cached by backends/selfcheck.c; runs nothing itself. */
void rt_policy_apply_selfcheck(rt_policy *p, unsigned disabled, const char *fusion_off);
/* "gemm=own/cpu", ... : the variant as the self-check names it. */
const char *rt_variant_name(rt_variant v);

/* 1 when the fusion pattern is on: named in CLIPCL_FUSION (on, or off with
 * '-'), else fusion_enabled. */
int rt_policy_fusion_on(const rt_policy *p, const char *pattern_name);

/* Description of every field, for `clipcl devices --policy` and the docs. */
const char *rt_policy_field_name(rt_policy_field f);
const char *rt_policy_field_meaning(rt_policy_field f);
/* The field's value as text ("gpu", "6x16x4", "16777216", "on,-gelu"). */
void rt_policy_value_text(const rt_policy *p, rt_policy_field f, char *buf, size_t len);
/* Where the value came from: "default (class cpu)", "tuned", "env CLIPCL_GEMM". */
void rt_policy_source_text(const rt_policy *p, rt_policy_field f, char *buf, size_t len);
const char *rt_policy_source_name(rt_policy_source s);

#endif
