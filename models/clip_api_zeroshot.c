/* clipcl_zeroshot_classifier / clipcl_zeroshot_probs (include/clipcl.h):
 * CLIP's zero-shot classification with prompt ensembling, through the public
 * encoders only, in the same arithmetic as `clipcl zeroshot`
 * (tools/cmd_zeroshot.c), so a binding reproduces the command's numbers. */
#include "clipcl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/clip.h"
#include "runtime/status.h"

#define DEFAULT_TEMPLATE "a photo of a {}."

char *clip_fill_template(const char *tpl, const char *label)
{
    size_t n = 1, ll = strlen(label);
    for (const char *p = tpl; *p; p++)
        n += (p[0] == '{' && p[1] == '}') ? ll : 1;
    char *o = malloc(n), *q = o;
    if (!o)
        return NULL;
    for (const char *p = tpl; *p; p++) {
        if (p[0] == '{' && p[1] == '}') {
            memcpy(q, label, ll);
            q += ll;
            p++;
        } else {
            *q++ = *p;
        }
    }
    *q = '\0';
    return o;
}

static void normalize_row(float *r, int d)
{
    double s = 0;
    for (int j = 0; j < d; j++)
        s += (double)r[j] * r[j];
    double inv = 1.0 / fmax(sqrt(s), 1e-12);
    for (int j = 0; j < d; j++)
        r[j] = (float)(r[j] * inv);
}

static int check_inputs(const char *const *labels, int L, const char *const *templates, int T)
{
    if (L < 1)
        return cc_fail(CC_ERR_INVALID, "zero-shot: %d labels: expected at least 1", L);
    if (T < 0 || (T > 0 && !templates))
        return cc_fail(CC_ERR_INVALID, "zero-shot: %d templates and %s", T,
                       templates ? "a list" : "no list");
    for (int l = 0; l < L; l++)
        if (!labels[l] || !labels[l][0])
            return cc_fail(CC_ERR_INVALID, "zero-shot: label %d is %s: expected a name", l,
                           labels[l] ? "empty" : "NULL");
    for (int t = 0; t < T; t++)
        if (!templates[t] || !strstr(templates[t], "{}"))
            return cc_fail(CC_ERR_INVALID, "zero-shot: template %d \"%s\": expected {} where the "
                                           "label goes", t, templates[t] ? templates[t] : "(NULL)");
    return CC_OK;
}

int clipcl_zeroshot_classifier(clipcl_model *m, const char *const *labels, int n_labels,
                               const char *const *templates, int n_templates, float *out,
                               int *n_truncated)
{
    if (n_truncated)
        *n_truncated = 0;
    if (!m || !labels || !out)
        return cc_fail(CC_ERR_INVALID, "zero-shot classifier: NULL argument");
    static const char *const default_templates[] = {DEFAULT_TEMPLATE};
    if (n_templates == 0) {
        templates = default_templates;
        n_templates = 1;
    }
    int rc = check_inputs(labels, n_labels, templates, n_templates);
    if (rc)
        return rc;
    int L = n_labels, T = n_templates, D = clipcl_embed_dim(m);
    if ((long long)L * T > 1 << 24)
        return cc_fail(CC_ERR_INVALID, "zero-shot: %d labels x %d templates: expected at most "
                                       "%d prompts", L, T, 1 << 24);
    size_t P = (size_t)L * (size_t)T;
    char **prompts = calloc(P, sizeof *prompts);
    float *f = malloc(P * (size_t)D * sizeof *f);
    if (!prompts || !f)
        rc = cc_fail(CC_ERR_NOMEM, "zero-shot: out of memory for %zu prompts", P);
    for (int l = 0; l < L && !rc; l++)
        for (int t = 0; t < T && !rc; t++)
            if (!(prompts[(size_t)l * T + t] = clip_fill_template(templates[t], labels[l])))
                rc = cc_fail(CC_ERR_NOMEM, "zero-shot: out of memory for a prompt");
    /* One call for every prompt, as the command makes it: the same batches,
     * so the same numbers. */
    if (!rc)
        rc = clipcl_encode_texts(m, (const char *const *)prompts, (int)P, CLIPCL_NORMALIZE, f,
                                 n_truncated);
    for (int l = 0; l < L && !rc; l++) {
        for (int j = 0; j < D; j++) {
            double s = 0;
            for (int t = 0; t < T; t++)
                s += f[((size_t)l * T + t) * D + j];
            out[(size_t)l * D + j] = (float)(s / T);
        }
        normalize_row(out + (size_t)l * D, D);
    }
    for (size_t i = 0; prompts && i < P; i++)
        free(prompts[i]);
    free(prompts);
    free(f);
    return rc;
}

int clipcl_zeroshot_probs(const float *images, int n_images, const float *classifier,
                          int n_labels, int dim, float logit_scale, double *probs)
{
    if (!images || !classifier || !probs)
        return cc_fail(CC_ERR_INVALID, "zero-shot probabilities: NULL argument");
    if (n_images < 1 || n_labels < 1 || dim < 1)
        return cc_fail(CC_ERR_INVALID, "zero-shot probabilities: %d images, %d labels, dimension "
                                       "%d: expected at least 1 each", n_images, n_labels, dim);
    double s = exp((double)logit_scale);
    for (int i = 0; i < n_images; i++) {
        double *p = probs + (size_t)i * n_labels, mx = -INFINITY, z = 0;
        for (int l = 0; l < n_labels; l++) {
            double d = 0;
            for (int j = 0; j < dim; j++)
                d += (double)images[(size_t)i * dim + j] * classifier[(size_t)l * dim + j];
            p[l] = s * d;
            mx = fmax(mx, p[l]);
        }
        for (int l = 0; l < n_labels; l++)
            z += (p[l] = exp(p[l] - mx));
        for (int l = 0; l < n_labels; l++)
            p[l] /= z;
    }
    return CC_OK;
}
