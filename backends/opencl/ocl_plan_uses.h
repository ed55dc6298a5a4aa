/* The kernels a plan launches, as (function name, build options) pairs,
 * each once: what the device self-check (backends/selfcheck.c) checks for
 * the plan, so that it runs the programs the plan has compiled already and
 * nothing else. Internal to the OpenCL plan (ocl_plan.c). */
#ifndef CLIPCL_OCL_PLAN_USES_H
#define CLIPCL_OCL_PLAN_USES_H

typedef struct ocl_kernel_use {
    char *name;    /* kernel function name, or "clblast" for a CLBlast call */
    char *options; /* the build options the lowering asked for ("" none) */
} ocl_kernel_use;

typedef struct ocl_uses {
    ocl_kernel_use *u;
    int n, cap;
} ocl_uses;

/* Adds (name, options) unless it is there already; CC_ERR_NOMEM otherwise. */
int ocl_uses_note(ocl_uses *s, const char *name, const char *options);
void ocl_uses_free(ocl_uses *s);

#endif
