/* What a backend implements for backends/backend.h: a table of function
 * pointers, one per operation, over the backend's own plan and optimizer
 * objects (void * here, the backend's types inside it). For backend
 * implementations (backends/ref/ref_backend.c,
 * backends/opencl/ocl_backend_iface.c) and backends/backend.c
 * only; users include backends/backend.h. */
#ifndef CLIPCL_BACKEND_IMPL_H
#define CLIPCL_BACKEND_IMPL_H

#include "backends/backend.h"

typedef struct backend_iface {
    void (*close)(void *impl);
    int (*finish)(void *impl);
    int (*supports_op)(void *impl, const graph *g, int node);

    int (*plan_create)(void *impl, const graph *g, void **plan);
    void (*plan_free)(void *plan);
    int (*plan_write)(void *plan, int tensor, const void *host, size_t bytes);
    int (*plan_read)(void *plan, int tensor, void *host, size_t bytes);
    int (*plan_run)(void *plan);
    int (*plan_run_for)(void *plan, int n, const int *tensors); /* NULL: plan_run */
    int (*plan_node_seconds)(const void *plan, double *per_node);
    size_t (*plan_arena_bytes)(const void *plan);
    size_t (*plan_scratch_bytes)(const void *plan);
    void (*plan_params_changed)(void *plan);
    void (*plan_release_originals)(void *plan); /* optional (NULL: nothing to release) */
    int (*plan_stats)(const void *plan, backend_plan_stats *out);
    int (*plan_kernels)(const void *plan, backend_kernel_use *out, int max); /* optional (NULL: none) */

    /* cfg is checked and never NULL */
    int (*optim_create)(void *plan, const adamw_cfg *cfg, int n_params, void **opt);
    void (*optim_free)(void *opt);
    int (*optim_add)(void *opt, int index, int param, int grad);
    int (*optim_set_clamp)(void *opt, int i, float lo, float hi);
    int (*optim_accumulate)(void *opt);
    int (*optim_step)(void *opt, double lr, float *grad_norm);
    int64_t (*optim_steps)(const void *opt);
    void (*optim_set_steps)(void *opt, int64_t t);
    int (*optim_get_state)(void *opt, int i, float *m, float *v);
    int (*optim_set_state)(void *opt, int i, const float *m, const float *v);
    int (*optim_grad)(void *opt, int i, float *g, int write); /* write: g -> the step's gradient */
} backend_iface;

/* What a backend's open fills in. */
typedef struct backend_desc {
    const backend_iface *iface;
    void *impl;
    const rt_device_info *device; /* NULL: not an OpenCL device */
    rt_ctx *ctx;                  /* the OpenCL context (NULL on ref): the self-check runs on it */
    int profiling;
    char name[600];
} backend_desc;

/* The backends' openers (backend_open picks one from the device string). */
int ref_backend_open(backend_desc *out);
int ocl_backend_open(const char *device, int profiling, backend_desc *out);

#endif
