/* Internals shared by train/trainer*.c, train/checkpoint*.c and
 * train/init.c; not part of the public training API. */
#ifndef CLIPCL_TRAIN_TRAINER_INTERNAL_H
#define CLIPCL_TRAIN_TRAINER_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "backends/adamw.h"
#include "io/dataset.h"
#include "io/tokenizer.h"
#include "models/clip_train.h"
#include "train/accum.h"
#include "train/trainer.h"

/* ---- trainer_config.c ---- */
/* The model config object of a file (its "model_cfg" if it has one) as
 * compact JSON text (malloc'd). */
int train_config_model_text(const char *path, char **text);
/* Adds open_clip's init_logit_scale / init_logit_bias (SigLIP) to a model
 * config text (replaced), so open_clip builds the logit_bias parameter. */
int train_config_add_siglip(char **text);
/* CC_OK when every key of the model config mc is one training implements
 * (train/trainer_config_check.c); else CC_ERR_UNSUPPORTED naming it. */
struct json_object;
int train_config_check_options(const char *what, struct json_object *mc);
/* 1 when the model config names a timm trunk (vision_cfg timm_model_name):
 * SigLIP's architecture, read by train_config_siglip. */
int train_config_is_siglip(struct json_object *mc);
/* ---- trainer_config_siglip.c ---- */
/* SigLIP's architecture from an open_clip ViT-*-SigLIP config whose
 * vision_cfg also states the trunk's sizes (width, layers, patch_size,
 * image_size: open_clip hands timm none of them, so a scaled-down trunk is
 * described by them); cfg holds the sizes already read. Refuses by name
 * every SigLIP option it does not implement. */
int train_config_siglip(const char *what, struct json_object *mc, clip_config *cfg);
/* open_clip_config.json's text for a model config (malloc'd). */
int train_config_write_open_clip(const char *model_cfg_text, char **out);

/* ---- init.c ---- */
/* shapes_only: every tensor shares one dummy float (not owned), for
 * validating a checkpoint against the schema without allocating it. */
int train_init_weights_ex(const clip_config *cfg, clip_loss_kind kind, uint64_t seed,
                          int shapes_only, clip_wmap **out);
/* 1 for BatchNorm running buffers (not trained, not in the optimizer). */
int train_key_is_buffer(const char *key);

/* ---- trainer_exec*.c: one step on a backend ---- */
typedef struct train_exec train_exec;

/* device: backend_open's ("ref", or an OpenCL device); the backend's own
 * AdamW trains. Params are read from tg's weight map w once; train_exec_sync
 * copies the trained values back into it. */
int train_exec_create(const char *device, clip_train_graph *tg, clip_wmap *w,
                      const adamw_cfg *cfg, train_exec **out);
void train_exec_free(train_exec *e);
/* Forward + backward of one micro-batch; accumulates its gradients and
 * updates BatchNorm running buffers in w. */
int train_exec_micro(train_exec *e, const float *pixels, const int32_t *ids, float *loss);
/* Feature-gradient graphs (clip_train_build_feature_grad), exact
 * accumulation: the features of one micro-batch [B, E] each, from a run
 * that contributes no gradient (BatchNorm running buffers are updated, as
 * open_clip's no-grad feature pass in training mode does) ... */
int train_exec_features(train_exec *e, const float *pixels, const int32_t *ids, float *img, float *txt);
/* ... and the backward pass of one micro-batch given d loss / d its
 * features and the shares of d loss / d logit_scale, logit_bias
 * (train/global_loss.h); accumulates like train_exec_micro. */
int train_exec_micro_grad(train_exec *e, const float *pixels, const int32_t *ids, const float *d_img,
                          const float *d_txt, float d_scale, float d_bias);
/* One AdamW step over the accumulated micro-batches. */
int train_exec_step(train_exec *e, double lr, float *grad_norm);
int train_exec_sync(train_exec *e);
float train_exec_logit_scale(train_exec *e);
float train_exec_logit_bias(train_exec *e); /* NAN without one */
int64_t train_exec_steps(const train_exec *e);
void train_exec_set_steps(train_exec *e, int64_t t);
/* AdamW m and v of graph param i (tg->t->param_t[i]). */
int train_exec_get_state(train_exec *e, int i, float *m, float *v);
int train_exec_set_state(train_exec *e, int i, const float *m, const float *v);
const char *train_exec_device(const train_exec *e);
/* The backend the step runs on (for more plans on the same device). */
struct backend;
struct backend *train_exec_backend(train_exec *e);

/* ---- trainer_accum.c: exact accumulation (train/accum.h) on a train_exec ----
 * The graph is clip_train_build_feature_grad's for micro-batches of B; its
 * seed must be K when the optimizer averages over accum_steps = K. */
struct train_loss_plan;
typedef struct train_accum_exec {
    train_accum acc;
    train_exec *ex;
    struct train_loss_plan *loss; /* the R*K*B loss on the step's device */
    int ranks;
    float *all_d_img, *all_d_txt; /* ranks > 1: every row's feature gradients */
    int b;
    size_t px_pair, ids_pair; /* floats per pair's pixels, ids per pair */
    float *px;                /* K*B pairs' pixels */
    int32_t *ids;             /* K*B pairs' ids */
} train_accum_exec;

/* ranks > 1: this rank's part of a global batch of ranks * k * B pairs
 * (features all-gathered; every rank runs the whole loss on its device and
 * keeps its rows' gradients). */
int train_accum_exec_init(train_accum_exec *a, train_exec *ex, const clip_train_graph *tg, int k,
                          size_t px_pair, int context, int ranks, int rank);
void train_accum_exec_free(train_accum_exec *a);
/* Copies micro-batch k's B pairs (pixels, ids) in. */
void train_accum_exec_take(train_accum_exec *a, int k, const float *px, const int32_t *ids);
/* Features of all K, the global loss, each micro-batch's backward
 * (accumulated into the optimizer); *loss: the K*B batch's loss. */
int train_accum_exec_run(train_accum_exec *a, double *loss);
/* The step's gradient of graph param i (numel floats), read or, with
 * write, replaced: data-parallel training sums it across ranks. */
int train_exec_grad(train_exec *e, int i, float *g, int write);
const clip_train_graph *train_exec_graph(const train_exec *e);

/* ---- trainer_data.c: dataset, loader position, tokens ---- */
typedef struct train_data {
    ds_dataset *ds;
    ds_loader *loader;
    ds_batch batch;
    tok_tokenizer *tok;
    int32_t *ids;            /* batch x context */
    int context;
    int64_t epoch, epoch_batches; /* position after the last batch taken */
    int64_t samples;
} train_data;

typedef struct train_data_opts {
    const char *data;
    const char *csv_img_key, *csv_caption_key;
    int batch, resolution, image_size, augment, workers;
    uint64_t seed;
    int part, parts;         /* data-parallel: this rank's part of each global batch */
    ds_warn_fn warn;
    void *warn_user;
} train_data_opts;

int train_data_open(train_data *d, const train_data_opts *o);
/* Loads the tokenizer files of dir (vocab.json + merges.txt, or
 * bpe_simple_vocab_16e6.txt[.gz]); checks ids fit the model's vocab. */
int train_data_tokenizer(train_data *d, const char *dir, int vocab, int context);
/* Learns BPE merges from the dataset's captions into dir (vocab.json +
 * merges.txt) with at most vocab ids. */
int train_data_learn_tokenizer(const train_data *d, const char *dir, int vocab);
/* Next full batch (crossing epochs), its pixels in d->batch and ids in
 * d->ids. */
int train_data_next(train_data *d);
/* Takes batches until the position is (epoch, epoch_batches). */
int train_data_seek(train_data *d, int64_t epoch, int64_t epoch_batches);
int64_t train_data_skipped(const train_data *d);
void train_data_close(train_data *d);

/* Copies a file atomically (tokenizer files into a run or checkpoint). */
int train_copy_file(const char *src, const char *dst);
/* mkdir -p of one level; an existing directory is fine. */
int train_mkdir(const char *dir);
/* Tokenizer file names a checkpoint may hold, NULL-terminated. */
extern const char *const train_tokenizer_files[];

#endif
