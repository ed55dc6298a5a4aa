/* The contrastive loss over a global feature set of which only a slice of
 * rows is live: the primitive exact gradient accumulation (--accum K, one
 * process) and data parallelism (each rank's slice of all-gathered
 * features, open_clip's gather-with-grad) are built on.
 *
 * Given the features of ALL N pairs (image and text, projected, not
 * normalised, f32 [N, E] row-major, as the towers give them) and the rows
 * [live_begin, live_begin + live_count) that this caller computed (its
 * micro-batch, or its rank's part), it returns
 *   - loss:    the loss of the whole batch of N (every caller gets the same),
 *   - d_img, d_txt [live_count, E]: d loss / d features of the live rows:
 *              exactly those rows of the full-batch gradient,
 *   - d_scale, d_bias: the live rows' share of d loss / d logit_scale (and
 *              d loss / d logit_bias for SigLIP): the sum over image rows i
 *              in the slice of sum_j dL/dlogit_ij * dlogit_ij/dt, so the
 *              shares of slices that partition [0, N) add up to the
 *              full-batch gradient.
 * Summing what each slice's backward pass gives (parameters through its
 * features, logit_scale / logit_bias through the shares) over a partition
 * of the rows therefore gives the gradient of one batch of N. For ranks:
 * all-reduce the parameter gradients with a SUM (or multiply by the rank
 * count before an averaging all-reduce).
 *
 * The losses are models/clip_loss.h's, evaluated here in double precision:
 * contrastive (open_clip ClipLoss, mean of the two cross-entropies over N
 * rows) and SigLIP (open_clip SigLipLoss with every pair of the N,
 * normalised by N). Features are L2-normalised as F.normalize (eps 1e-12).
 * Cost: O(N^2 E) for the loss (and the log-sum-exps the contrastive
 * gradient needs), O(live N E) for the gradient, memory O(N E). */
#ifndef CLIPCL_TRAIN_GLOBAL_LOSS_H
#define CLIPCL_TRAIN_GLOBAL_LOSS_H

#include "models/clip_loss.h"

typedef struct train_global_loss_in {
    clip_loss_kind kind;
    int n;                  /* N: rows of img and txt, >= 1 */
    int dim;                /* E */
    const float *img;       /* [N, E] */
    const float *txt;       /* [N, E] */
    float logit_scale;      /* t (the loss uses exp(t)) */
    float logit_bias;       /* b, SigLIP only */
    int live_begin;         /* first live row */
    int live_count;         /* live rows, >= 0; live_begin + live_count <= N */
} train_global_loss_in;

typedef struct train_global_loss_out {
    double loss;            /* full-batch loss */
    float *d_img;           /* caller's [live_count, E] buffer, filled */
    float *d_txt;           /* caller's [live_count, E] buffer, filled */
    double d_scale;         /* the live rows' share of d loss / d logit_scale */
    double d_bias;          /* ... of d loss / d logit_bias (SigLIP; 0 otherwise) */
} train_global_loss_out;

/* CC_OK, or CC_ERR_INVALID (bad sizes, NULL buffers, a non-finite feature)
 * / CC_ERR_NOMEM with a message naming the problem. */
int train_global_loss(const train_global_loss_in *in, train_global_loss_out *out);

/* The other split, for ranks that cannot afford O(N^2 E) each (open_clip's
 * local_loss with gather_with_grad): the slice's rows say which loss TERMS
 * this caller computes, not which gradients it wants. The terms are, for
 * the contrastive loss, the image rows' cross-entropies over all texts and
 * the text rows' over all images (both within the slice); for SigLIP, every
 * pair of the slice's image rows. Out:
 *   - loss: those terms' share of the full-batch loss (the shares of slices
 *     that partition [0, N) add up to it),
 *   - d_img, d_txt [N, E]: the gradient of that share with respect to EVERY
 *     row's features,
 *   - d_scale, d_bias: its gradient with respect to logit_scale, logit_bias.
 * Summing d_img / d_txt over the slices (MPI_Reduce_scatter_block with
 * MPI_SUM hands each rank its own rows of the sum) gives exactly
 * train_global_loss's full-batch gradient. Cost O(live N E), memory O(N E). */
typedef struct train_global_loss_terms_out {
    double loss;            /* the slice's share of the full-batch loss */
    float *d_img;           /* caller's [N, E] buffer, filled */
    float *d_txt;           /* caller's [N, E] buffer, filled */
    double d_scale;         /* d share / d logit_scale */
    double d_bias;          /* d share / d logit_bias (SigLIP; 0 otherwise) */
} train_global_loss_terms_out;

int train_global_loss_terms(const train_global_loss_in *in, train_global_loss_terms_out *out);

#endif
