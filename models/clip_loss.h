/* CLIP's training losses as graph ops, so g_backward differentiates them.
 *
 * Contrastive (CLIP / open_clip ClipLoss):
 *   logits = exp(t) * l2norm(I) @ l2norm(T)^T          [N, N], t = logit_scale
 *   loss   = (CE(logits, diag) + CE(logits^T, diag)) / 2
 * with each cross-entropy a mean over rows of lse(row) - logits[i, i].
 * The log-sum-exp is stable without a MAX node (MAX has no gradient rule):
 * each row is shifted by c = sum_j softmax(x)_j x_j, the softmax-weighted
 * mean, which lies within log N below the row maximum, so exp(x - c) <= N
 * never overflows and the maximal term is >= 1, so the sum never underflows;
 * lse = c + log(sum_j exp(x_j - c)) is exact for any c, and the gradients
 * through c cancel (they sum to zero), so autodiff stays correct.
 * The diagonal is read through a host-filled identity input `labels`.
 *
 * SigLIP (Zhai et al. 2023, open_clip SigLipLoss):
 *   u_ij   = z_ij * (exp(t) * cos_ij + b),  z = +1 on the diagonal, -1 elsewhere
 *   loss   = -(1/N) sum_ij log sigmoid(u_ij)
 * (normalised by N, not N^2, like the paper and open_clip), with
 * log sigmoid(u) = min(u, 0) - log(1 + exp(-|u|)) composed as
 * -relu(-u) + log(sigmoid(relu(u) + relu(-u))): sigmoid(|u|) >= 1/2, so no
 * log of an underflowed value. t starts at ln 10, b at -10.
 *
 * The temperature: exp(t) <= 100 is kept, as open_clip does, by clamping t
 * to [0, ln 100] AFTER each optimizer step (backend_optim_set_clamp on the
 * logit_scale parameter with CLIP_LOGIT_SCALE_MIN/MAX), not inside the
 * graph, so the gradient of t is never cut by a clamp. */
#ifndef CLIPCL_MODELS_CLIP_LOSS_H
#define CLIPCL_MODELS_CLIP_LOSS_H

#include "graph/graph.h"

#define CLIP_LOGIT_SCALE_MIN 0.0f
#define CLIP_LOGIT_SCALE_MAX 4.605170185988091f /* ln 100 */

typedef enum clip_loss_kind { CLIP_LOSS_CONTRASTIVE = 0, CLIP_LOSS_SIGLIP = 1 } clip_loss_kind;

typedef struct clip_loss {
    clip_loss_kind kind;
    int n;           /* batch N */
    int loss;        /* [1] f32, marked as an output */
    int logits;      /* [N, N] logits_per_image (before the SigLIP bias) */
    int logit_scale; /* param [1]: t */
    int logit_bias;  /* param [1]: b (SigLIP), else -1 */
    int labels;      /* input [N, N]: identity (contrastive) or z (SigLIP); clip_loss_fill_labels */
} clip_loss;

/* Appends the loss over img [N, E] and txt [N, E] (f32, same shapes) to g.
 * Creates the params "logit_scale" (and "logit_bias") unless the graph
 * already has tensors of those names of shape [1], which are then used. */
int clip_loss_build(graph *g, int img, int txt, clip_loss_kind kind, clip_loss *out);

/* Host data for the labels input: n*n floats. */
void clip_loss_fill_labels(clip_loss_kind kind, int n, float *labels);

/* Initial values: ln(1/0.07) contrastive, ln 10 SigLIP; bias -10. */
float clip_loss_init_scale(clip_loss_kind kind);
float clip_loss_init_bias(void);

/* open_clip's post-step clamp of t, for host-side copies. */
float clip_logit_scale_clamp(float t);

#endif
