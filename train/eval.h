/* Evaluation of CLIP features (eval_ prefix): zero-shot classification,
 * image<->text retrieval, linear probe and few-shot probes, as in the CLIP
 * paper. Everything here works on host feature matrices (float32, row-major,
 * one row per image or text), so it needs no device and no model: the caller
 * (train/eval_run.c, behind `clipcl eval`) encodes, this module scores.
 *
 * Similarities are cosines: rows need not be normalised (norms are divided
 * out). Ranking ties are broken by index, lower first, as a stable
 * descending sort would: the true class of an image is at rank
 * #{c : s_c > s_true} + #{c < true : s_c == s_true} (0-based), and a hit at K
 * means rank < K. */
#ifndef CLIPCL_TRAIN_EVAL_H
#define CLIPCL_TRAIN_EVAL_H

#include <stddef.h>
#include <stdint.h>

/* ---- zero-shot ---- */

/* CLIP's prompt ensembling: prompts holds n_classes x n_templates rows of d
 * (class-major: row c * n_templates + t); each row is normalised, the rows of
 * a class averaged and the mean renormalised into out (n_classes x d).
 * A zero row stays zero (an all-zero class embedding is an error). */
int eval_ensemble(const float *prompts, int n_classes, int n_templates, int d, float *out);

typedef struct eval_zs_result {
    int64_t n;          /* images scored */
    int64_t top1, top5; /* hits */
    double acc1, acc5;  /* hits / n */
    /* mean over classes present in labels of their top-1 accuracy */
    double mean_per_class;
} eval_zs_result;

/* Top-1/top-5 zero-shot accuracy: img [n x d], cls [n_classes x d],
 * labels[i] in [0, n_classes). With fewer than 5 classes top-5 counts
 * every image. pred (may be NULL) receives each image's top-1 class. */
int eval_zeroshot(const float *img, int64_t n, const float *cls, int n_classes, int d,
                  const int32_t *labels, int32_t *pred, eval_zs_result *out);

/* ---- retrieval ---- */

enum { EVAL_N_RECALL = 3 };
extern const int eval_recall_ks[EVAL_N_RECALL]; /* 1, 5, 10 */

typedef struct eval_retrieval_result {
    int64_t n_images, n_texts;
    double i2t[EVAL_N_RECALL]; /* image->text recall@1/5/10 */
    double t2i[EVAL_N_RECALL]; /* text->image recall@1/5/10 */
} eval_retrieval_result;

/* img [n_img x d], txt [n_txt x d]; text j is a caption of image
 * txt_image[j]. Image->text: an image is a hit at K when any of its captions
 * ranks < K among all texts (an image without captions counts as a miss).
 * Text->image: a hit when its own image ranks < K among all images. */
int eval_retrieval(const float *img, int64_t n_img, const float *txt, int64_t n_txt, int d,
                   const int64_t *txt_image, eval_retrieval_result *out);

/* ---- linear probe (liblinear, L2-regularised logistic regression) ---- */

typedef struct eval_probe eval_probe;

/* Fits one-vs-rest L2-regularised logistic regression (liblinear's primal
 * trust-region solver L2R_LR, with a bias feature of value 1) minimising
 * 0.5 |w|^2 + C * sum_i log(1 + exp(-y_i w.x_i)) per class. Rows of x are
 * L2-normalised first (so one C grid suits every model). y[i] in
 * [0, n_classes); classes absent from y are never predicted. With three or
 * more classes the binary problems run on a thread each, up to the online
 * CPUs (CLIPCL_EVAL_THREADS overrides); results do not depend on the count. */
int eval_probe_fit(const float *x, const int32_t *y, int64_t n, int d, int n_classes, double c,
                   eval_probe **out);
/* pred[i]: the class with the largest decision value (ties: lowest class). */
int eval_probe_predict(const eval_probe *p, const float *x, int64_t n, int32_t *pred);
/* Class cls's weights (d values) and bias (the bias feature's weight), for a
 * class seen in training; CC_ERR_INVALID otherwise. */
int eval_probe_weights(const eval_probe *p, int cls, double *w, double *bias);
void eval_probe_free(eval_probe *p);

typedef struct eval_probe_opts {
    /* coarse grid: 10^lo .. 10^hi by one decade; then the best point's
     * neighbourhood at quarter decades, within 10^lo..10^hi (refine = 1).
     * Defaults (all zero):
     * lo -3, hi 3, refine 1. */
    int log10_lo, log10_hi;
    int refine; /* 0 default (on), 1 on, -1 off */
    double val_frac; /* share of each class held out for choosing C (0: 0.2) */
    uint64_t seed;
} eval_probe_opts;

/* Chooses C by validation accuracy (ties: the smaller C, i.e. the stronger
 * regularisation). Writes the chosen C and its validation accuracy. */
int eval_probe_select_c(const float *xtr, const int32_t *ytr, int64_t ntr, const float *xva,
                        const int32_t *yva, int64_t nva, int d, int n_classes,
                        const eval_probe_opts *o, double *best_c, double *best_acc);

typedef struct eval_probe_result {
    double c;          /* chosen C */
    double val_acc;    /* its accuracy on the validation split */
    double test_acc;   /* refit on the whole training set, scored on test */
    int64_t n_fit, n_val, n_test;
} eval_probe_result;

/* The CLIP paper's linear probe: a stratified, seeded split of the training
 * set (val_frac of each class with at least two samples) chooses C; the
 * probe is refit with it on the whole training set and scored on test. */
int eval_linear_probe(const float *xtr, const int32_t *ytr, int64_t ntr, const float *xte,
                      const int32_t *yte, int64_t nte, int d, int n_classes,
                      const eval_probe_opts *o, eval_probe_result *out);

/* Up to k indices per class (all of a class's indices when it has fewer),
 * drawn without replacement by a seeded shuffle of each class's indices, in
 * class order. Indices with skip[i] != 0 (skip may be NULL) are never drawn.
 * idx must hold n_classes * k entries; *n_out receives the count. */
int eval_sample_per_class(const int32_t *y, int64_t n, int n_classes, int k, uint64_t seed,
                          const unsigned char *skip, int64_t *idx, int64_t *n_out);

enum { EVAL_N_SHOTS = 5 };
extern const int eval_shots[EVAL_N_SHOTS]; /* 1, 2, 4, 8, 16 */

typedef struct eval_fewshot_result {
    int k;
    int n_seeds;
    double mean_acc, std_acc; /* over seeds (population std) */
    double mean_c;            /* geometric mean of the chosen C */
} eval_fewshot_result;

/* k-shot probe averaged over n_seeds seeds (o->seed + s): k per class drawn
 * from the training set, C chosen on a disjoint validation draw of min(k, 4)
 * per class from the rest (CoOp's protocol; a class with nothing left is
 * not validated), refit on the k-shot draw, scored on the test set. */
int eval_few_shot(const float *xtr, const int32_t *ytr, int64_t ntr, const float *xte,
                  const int32_t *yte, int64_t nte, int d, int n_classes, int k, int n_seeds,
                  const eval_probe_opts *o, eval_fewshot_result *out);

#endif
