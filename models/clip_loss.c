/* CLIP's contrastive and SigLIP losses built from graph ops (models/clip_loss.h
 * explains the stable compositions). Every builder call may return -1; the
 * chain is checked once at the end, as graph.h allows. */
#include "models/clip_loss.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "runtime/status.h"

float clip_loss_init_scale(clip_loss_kind kind)
{
    return kind == CLIP_LOSS_SIGLIP ? (float)log(10.0) : (float)log(1.0 / 0.07);
}

float clip_loss_init_bias(void) { return -10.0f; }

float clip_logit_scale_clamp(float t)
{
    if (isnan(t))
        return t;
    return t < CLIP_LOGIT_SCALE_MIN ? CLIP_LOGIT_SCALE_MIN : t > CLIP_LOGIT_SCALE_MAX ? CLIP_LOGIT_SCALE_MAX : t;
}

void clip_loss_fill_labels(clip_loss_kind kind, int n, float *labels)
{
    const float off = kind == CLIP_LOSS_SIGLIP ? -1.0f : 0.0f;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            labels[(size_t)i * n + j] = i == j ? 1.0f : off;
}

/* A [1] param by name: reuse the graph's own if present, else declare it. */
static int scalar_param(graph *g, const char *name)
{
    int t = g_find_tensor(g, name);
    if (t < 0) {
        const int64_t one[1] = {1};
        return g_param(g, name, 1, one);
    }
    const g_tensor *T = &g->tensors[t];
    if (T->dtype != G_F32 || T->ndim != 1 || T->shape[0] != 1)
        return cc_fail(CC_ERR_SHAPE, "clip_loss_build: tensor '%s' exists but is not f32 [1]", name), -1;
    return t;
}

/* log-sum-exp over the last dim of x [N, N] -> [N], shifted by the
 * softmax-weighted row mean (stable, and differentiable without MAX). */
static int row_lse(graph *g, int x, int64_t n)
{
    const int64_t col[2] = {n, 1};
    int c = g_sum(g, g_mul(g, g_softmax(g, x, 0), x));
    int e = g_exp(g, g_sub(g, x, g_reshape(g, c, 2, col)));
    return g_add(g, c, g_log(g, g_sum(g, e)));
}

static int sum_all(graph *g, int x)
{
    const int64_t one[1] = {1};
    return g_sum_to(g, x, 1, one);
}

static int contrastive(graph *g, clip_loss *L, int cos)
{
    L->logits = g_mul(g, cos, g_exp(g, L->logit_scale));
    int diag = sum_all(g, g_mul(g, L->logits, L->labels));
    int lse_img = sum_all(g, row_lse(g, L->logits, L->n));
    int lse_txt = sum_all(g, row_lse(g, g_transpose(g, L->logits, 0, 1), L->n));
    int total = g_sub(g, g_add(g, lse_img, lse_txt), g_scale(g, diag, 2.0f));
    return g_scale(g, total, (float)(1.0 / (2.0 * L->n)));
}

static int siglip(graph *g, clip_loss *L, int cos)
{
    L->logits = g_mul(g, cos, g_exp(g, L->logit_scale));
    int u = g_mul(g, g_add(g, L->logits, L->logit_bias), L->labels);
    int neg_part = g_relu(g, g_scale(g, u, -1.0f));           /* -min(u, 0) */
    int abs_u = g_add(g, g_relu(g, u), neg_part);
    int log_sig_abs = g_log(g, g_sigmoid(g, abs_u));          /* -log(1 + exp(-|u|)) */
    int total = g_sub(g, sum_all(g, neg_part), sum_all(g, log_sig_abs));
    return g_scale(g, total, (float)(1.0 / L->n));
}

/* Re-records a builder's message under this function's name. */
static int builder_failed(void) { return cc_wrap(CC_ERR_SHAPE, "clip_loss_build"); }

int clip_loss_build(graph *g, int img, int txt, clip_loss_kind kind, clip_loss *out)
{
    if (!g || !out)
        return cc_fail(CC_ERR_INVALID, "clip_loss_build: graph and out must not be NULL");
    if (kind != CLIP_LOSS_CONTRASTIVE && kind != CLIP_LOSS_SIGLIP)
        return cc_fail(CC_ERR_INVALID, "clip_loss_build: unknown loss kind %d", (int)kind);
    if (img < 0 || txt < 0 || img >= g->n_tensors || txt >= g->n_tensors)
        return cc_fail(CC_ERR_INVALID, "clip_loss_build: feature ids %d, %d out of range", img, txt);
    const g_tensor *I = &g->tensors[img], *T = &g->tensors[txt];
    if (I->ndim != 2 || T->ndim != 2 || I->shape[0] != T->shape[0] || I->shape[1] != T->shape[1] ||
        I->dtype != G_F32 || T->dtype != G_F32) {
        char a[64], b[64];
        return cc_fail(CC_ERR_SHAPE, "clip_loss_build: image features %s and text features %s: expected "
                       "f32 [N, E] both", g_shape_str(g, img, a, sizeof a), g_shape_str(g, txt, b, sizeof b));
    }
    clip_loss L = {.kind = kind, .n = (int)I->shape[0], .loss = -1, .logits = -1, .logit_bias = -1};
    L.logit_scale = scalar_param(g, "logit_scale");
    if (kind == CLIP_LOSS_SIGLIP)
        L.logit_bias = scalar_param(g, "logit_bias");
    const int64_t nn[2] = {L.n, L.n};
    L.labels = g_input(g, kind == CLIP_LOSS_SIGLIP ? "loss/siglip_z" : "loss/labels", G_F32, 2, nn);
    if (L.logit_scale < 0 || L.labels < 0 || (kind == CLIP_LOSS_SIGLIP && L.logit_bias < 0))
        return builder_failed();
    /* open_clip's F.normalize eps */
    int cos = g_matmul(g, g_l2norm(g, img, 1e-12f), g_l2norm(g, txt, 1e-12f), -1, 0, 1);
    L.loss = kind == CLIP_LOSS_SIGLIP ? siglip(g, &L, cos) : contrastive(g, &L, cos);
    if (L.loss < 0 || L.logits < 0)
        return builder_failed();
    g_set_name(g, L.logits, "logits_per_image");
    g_set_name(g, L.loss, "loss");
    g_mark_output(g, L.loss);
    *out = L;
    return CC_OK;
}
