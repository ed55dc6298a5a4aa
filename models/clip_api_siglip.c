/* SigLIP's zero-shot probabilities (include/clipcl.h, "SigLIP"): a model
 * trained with the sigmoid loss scores every (image, label) pair on its own,
 * sigmoid(exp(logit_scale) * cos + logit_bias), as open_clip's and
 * transformers' SigLIP zero-shot examples do; a softmax over the labels
 * would drop the bias and rank the same labels with other numbers. */
#include "clipcl.h"

#include <math.h>

#include "models/clip_api_internal.h"
#include "runtime/status.h"

int clipcl_has_logit_bias(const clipcl_model *cm)
{
    return cm && cm->m->has_logit_bias;
}

float clipcl_logit_bias(const clipcl_model *cm)
{
    return cm && cm->m->has_logit_bias ? cm->m->logit_bias : 0.0f;
}

int clipcl_zeroshot_probs_sigmoid(const float *images, int n_images, const float *classifier,
                                  int n_labels, int dim, float logit_scale, float logit_bias,
                                  double *probs)
{
    if (!images || !classifier || !probs)
        return cc_fail(CC_ERR_INVALID, "zero-shot sigmoid probabilities: NULL argument");
    if (n_images < 1 || n_labels < 1 || dim < 1)
        return cc_fail(CC_ERR_INVALID, "zero-shot sigmoid probabilities: %d images, %d labels, "
                                       "dimension %d: expected at least 1 each", n_images, n_labels,
                       dim);
    double s = exp((double)logit_scale);
    for (int i = 0; i < n_images; i++) {
        for (int l = 0; l < n_labels; l++) {
            double d = 0;
            for (int j = 0; j < dim; j++)
                d += (double)images[(size_t)i * dim + j] * classifier[(size_t)l * dim + j];
            double z = s * d + (double)logit_bias;
            /* 1 / (1 + e^-z) without overflow for large |z| */
            probs[(size_t)i * n_labels + l] = z >= 0 ? 1.0 / (1.0 + exp(-z)) : exp(z) / (1.0 + exp(z));
        }
    }
    return CC_OK;
}

int clipcl_zeroshot_model_probs(const clipcl_model *cm, const float *images, int n_images,
                                const float *classifier, int n_labels, double *probs)
{
    if (!cm)
        return cc_fail(CC_ERR_INVALID, "zero-shot probabilities: NULL model");
    int dim = cm->m->cfg.embed_dim;
    if (cm->m->has_logit_bias)
        return clipcl_zeroshot_probs_sigmoid(images, n_images, classifier, n_labels, dim,
                                             cm->m->logit_scale, cm->m->logit_bias, probs);
    return clipcl_zeroshot_probs(images, n_images, classifier, n_labels, dim, cm->m->logit_scale,
                                 probs);
}
