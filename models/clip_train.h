/* CLIP in training mode: one graph from a batch of (image, token ids) pairs
 * to the loss and the gradient of every parameter.
 *
 * The image tower, the text tower and the loss (models/clip_loss.h) are
 * built into ONE graph, so g_backward sees the whole path; BatchNorm layers
 * (ResNet tower) use batch statistics (g_batchnorm_train) and expose them,
 * and the caller updates the running buffers with clip_bn_update_running()
 * after the step, as PyTorch's BatchNorm does during its forward.
 *
 * Parameters are graph params that point into the weight map (never
 * copied), exactly as the inference towers do: OpenAI's packed in_proj is
 * three params "<key>[i/3]" (rows i*d..(i+1)*d). clip_param_key() maps a
 * graph param back to its checkpoint key. Running statistics are not
 * params in training mode. */
#ifndef CLIPCL_MODELS_CLIP_TRAIN_H
#define CLIPCL_MODELS_CLIP_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "models/clip.h"
#include "models/clip_loss.h"

/* One BatchNorm layer in training mode. */
typedef struct clip_bn_stat {
    char prefix[G_NAME_LEN]; /* checkpoint prefix ending in '.', e.g. "visual.layer1.0.bn1." */
    int mean, var;           /* batch statistics [C] (biased variance), graph outputs */
    int64_t channels;
    int64_t count;           /* values per channel, N*H*W (for the unbiased variance) */
} clip_bn_stat;

typedef struct clip_train_graph {
    clip_tower *t;      /* owns the graph, the params (both towers + loss) and host inputs */
    graph *g;           /* = t->g */
    int batch;
    int pixels, ids;    /* inputs: f32 [B, 3, R, R], i32 [B, T] */
    int img, txt;       /* features [B, E], projected, not normalised */
    clip_loss loss;
    int seed;           /* gradient seed input [1] ("grad/loss"): 1.0 for a plain step */
    int *grad_t;        /* per param i (t->param_t[i]): its gradient tensor, an output */
    int n_bn;
    clip_bn_stat *bn;
    float scalars[2];   /* logit_scale / logit_bias values when the map has none */
    float seed_value;
    float *labels;      /* host data of loss.labels */
    /* Feature-gradient graphs only (clip_train_build_feature_grad), else 0 / -1: */
    int feature_grad;   /* 1: the head is the surrogate below, not the loss */
    int dim;            /* E, the feature width */
    int d_img, d_txt;   /* inputs [B, E]: d loss / d features of this micro-batch */
    int d_scale, d_bias;/* inputs [1]: d loss / d logit_scale (logit_bias, SigLIP) */
    float *d_host;      /* their host data: d_img (B*E), d_txt (B*E), d_scale, d_bias */
} clip_train_graph;

/* Builds towers + loss + backward for a fixed batch. logit_scale (and, for
 * SigLIP, logit_bias) are read from the map (shape [] or [1]) when present,
 * else start at clip_loss_init_scale() / clip_loss_init_bias(). The map
 * must outlive the graph. */
int clip_train_build(const clip_wmap *m, const clip_config *cfg, int batch, clip_loss_kind kind,
                     clip_train_graph **out);
void clip_train_free(clip_train_graph *tg);

/* The same towers with the loss replaced by a head that takes the loss's
 * gradient from outside (exact accumulation, data parallelism: the loss is
 * computed over a global feature set by train/global_loss.h):
 *   surrogate = sum(img * d_img) + sum(txt * d_txt) + t * d_scale [+ b * d_bias]
 * so backward gives every parameter d loss / d param through this
 * micro-batch's features, and logit_scale (logit_bias) exactly d_scale
 * (d_bias), all times the seed. img and txt are graph outputs: a run with
 * zero d_* returns the features (and contributes nothing). The caller
 * fills tg->d_host (clip_train_graph) before each run; loss.loss is the
 * surrogate, loss.logits and loss.labels are -1. */
int clip_train_build_feature_grad(const clip_wmap *m, const clip_config *cfg, int batch,
                                  clip_loss_kind kind, clip_train_graph **out);

/* Fills slots (one per tensor id) with params, pixels, ids, host inputs,
 * the labels and the seed (1.0). pixels and ids must outlive the run. */
int clip_train_bind(clip_train_graph *tg, void **slots, const float *pixels, const int32_t *ids);

/* The checkpoint key of a graph param name: "a.in_proj_weight[1/3]" ->
 * "a.in_proj_weight", part 1 of 3; other names map to themselves, part 0
 * of 1. Returns CC_OK or CC_ERR_INVALID when the key does not fit in len. */
int clip_param_key(const char *param_name, char *key, size_t len, int *part, int *nparts);

/* PyTorch's BatchNorm running-statistics update (training mode):
 *   mean <- (1 - momentum) mean + momentum batch_mean
 *   var  <- (1 - momentum) var  + momentum batch_var * count / (count - 1)
 * (the batch variance given is the biased one the forward normalised with). */
void clip_bn_update_running(float *run_mean, float *run_var, const float *batch_mean,
                            const float *batch_var, int64_t channels, int64_t count, float momentum);

#endif
