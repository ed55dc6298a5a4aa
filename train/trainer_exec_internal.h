/* The backend record behind train_exec (train/trainer_exec*.c only). */
#ifndef CLIPCL_TRAIN_TRAINER_EXEC_INTERNAL_H
#define CLIPCL_TRAIN_TRAINER_EXEC_INTERNAL_H

#include "backends/opencl/ocl_backend.h"
#include "runtime/rt.h"
#include "train/trainer_internal.h"

struct train_exec {
    clip_train_graph *tg;
    clip_wmap *w;
    int is_ref;
    int accum;                /* micro-batches per step */
    int scale_param;          /* graph param index of logit_scale, or -1 */
    char device[600];
    /* ref */
    void **slots;
    train_host_adamw *host;
    /* OpenCL */
    rt_ctx *ctx;
    ocl_plan *plan;
    train_optim *opt;
    float **bn_host;          /* 2 * n_bn read-back buffers: means then vars */
};

int train_exec_bn_update(train_exec *e, float *const *bmean, float *const *bvar);
/* Sets the clamp of param i; returns 1 for logit_scale. */
int train_exec_param_clamp(const train_exec *e, int i, float *lo, float *hi);

int train_exec_ocl_create(train_exec *e, const char *device, const train_adamw_cfg *cfg);
void train_exec_ocl_free(train_exec *e);
int train_exec_ocl_micro(train_exec *e, const float *pixels, const int32_t *ids, float *loss);
int train_exec_ocl_step(train_exec *e, double lr, float *grad_norm);
int train_exec_ocl_sync(train_exec *e);
float train_exec_ocl_scalar(train_exec *e, int param);

#endif
