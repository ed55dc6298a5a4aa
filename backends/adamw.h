/* The AdamW configuration both backends' optimizers share (the OpenCL one
 * in backends/opencl/ocl_optim.c, the host one in backends/ref/ref_adamw.c):
 * torch.optim.AdamW's single-tensor semantics, spelled out in ocl_optim.h. */
#ifndef CLIPCL_BACKENDS_ADAMW_H
#define CLIPCL_BACKENDS_ADAMW_H

typedef struct adamw_cfg {
    /* doubles, as PyTorch's Python scalars are: factors such as 1 - beta1
     * are formed in double and rounded to float once, like torch does */
    double beta1, beta2, eps;
    double weight_decay; /* for the tensors that decay (adamw_param_decays) */
    double clip_norm;    /* > 0: clip by global gradient norm; <= 0: off */
    int accum_steps;     /* K >= 1 micro-batches per optimizer step */
    /* With clipping off, whether each step also computes the global
     * gradient norm (the trainer logs it). It is folded into the update pass
     * (no second read of the gradients), so it costs one small finalize
     * launch; 0 skips even that, and asking for the norm then fails.
     * Clipping on always computes it. */
    int track_grad_norm;
} adamw_cfg;

/* b1 0.9, b2 0.98, eps 1e-6, wd 0.2, no clipping, K = 1, norm tracked. */
adamw_cfg adamw_defaults(void);

/* open_clip's exclusion rule, widened to embeddings as CLIP's recipe asks:
 * no decay where ndim < 2 or the name contains "bn", "ln", "bias",
 * "logit_scale", "token_embedding", "positional_embedding",
 * "position_embedding" (Hugging Face) or "class_embedding". Everything else
 * (linear and conv weights, projections, HF's patch_embedding conv) decays.
 * Note: open_clip itself decays the 2-D token and positional embeddings;
 * CLIP's paper and this runtime do not. */
int adamw_param_decays(const char *name, int ndim);

/* CC_OK, or CC_ERR_INVALID naming `who` and the field out of range. */
int adamw_cfg_check(const adamw_cfg *c, const char *who);

#endif
