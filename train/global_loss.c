/* train/global_loss.h: the contrastive and SigLIP losses over a global
 * feature set, gradients for a live slice of rows, in double precision on
 * the host. Streaming over rows, so memory stays O(N E) for any N. */
#include "train/global_loss.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/status.h"

#define NORM_EPS 1e-12 /* F.normalize's eps, as the in-graph loss */

typedef struct gl_ctx {
    const train_global_loss_in *in;
    int n, e;
    double scale;         /* exp(t) */
    double *a, *b;        /* normalised features [N, E] */
    double *inv_a, *inv_b;/* 1 / max(|x|, eps) per row */
    double *row_lse, *col_lse; /* contrastive only */
    double *row;          /* one row of logits [N] */
} gl_ctx;

static double dot(const double *x, const double *y, int e)
{
    double s = 0;
    for (int k = 0; k < e; k++)
        s += x[k] * y[k];
    return s;
}

static int normalise(const float *x, int n, int e, double *out, double *inv, const char *what)
{
    for (int i = 0; i < n; i++) {
        double s2 = 0;
        for (int k = 0; k < e; k++) {
            double v = x[(size_t)i * e + k];
            if (!isfinite(v))
                return cc_fail(CC_ERR_INVALID, "train_global_loss: %s feature [%d, %d] is %g", what, i, k, v);
            s2 += v * v;
        }
        double nrm = sqrt(s2);
        inv[i] = 1.0 / (nrm > NORM_EPS ? nrm : NORM_EPS);
        for (int k = 0; k < e; k++)
            out[(size_t)i * e + k] = x[(size_t)i * e + k] * inv[i];
    }
    return CC_OK;
}

/* logits row i: l_ij = exp(t) a_i . b_j */
static void logits_row(gl_ctx *c, int i, double *row)
{
    const double *ai = c->a + (size_t)i * c->e;
    for (int j = 0; j < c->n; j++)
        row[j] = c->scale * dot(ai, c->b + (size_t)j * c->e, c->e);
}

static double lse(const double *x, int n)
{
    double m = -INFINITY, s = 0;
    for (int j = 0; j < n; j++)
        m = x[j] > m ? x[j] : m;
    for (int j = 0; j < n; j++)
        s += exp(x[j] - m);
    return m + log(s);
}

/* log(1 + exp(-u)), stable for any u */
static double softplus_neg(double u) { return (u < 0 ? -u : 0) + log1p(exp(-fabs(u))); }

static double sigmoid(double u) { return u >= 0 ? 1.0 / (1.0 + exp(-u)) : exp(u) / (1.0 + exp(u)); }

/* Pass 1: the loss, and for the contrastive loss every row's and column's
 * log-sum-exp (columns by an online max-shifted sum). */
static double pass_loss(gl_ctx *c, double *col_max, double *col_sum)
{
    const int n = c->n, siglip = c->in->kind == CLIP_LOSS_SIGLIP;
    const double bias = c->in->logit_bias;
    double total = 0;
    for (int j = 0; j < n && !siglip; j++) {
        col_max[j] = -INFINITY;
        col_sum[j] = 0;
    }
    for (int i = 0; i < n; i++) {
        logits_row(c, i, c->row);
        if (siglip) {
            for (int j = 0; j < n; j++)
                total += softplus_neg((i == j ? 1.0 : -1.0) * (c->row[j] + bias));
            continue;
        }
        c->row_lse[i] = lse(c->row, n);
        total += c->row_lse[i] - 2.0 * c->row[i];
        for (int j = 0; j < n; j++) {
            double x = c->row[j];
            if (x > col_max[j]) {
                col_sum[j] = col_sum[j] * exp(col_max[j] - x) + 1.0;
                col_max[j] = x;
            } else {
                col_sum[j] += exp(x - col_max[j]);
            }
        }
    }
    if (siglip)
        return total / n;
    for (int j = 0; j < n; j++) {
        c->col_lse[j] = col_max[j] + log(col_sum[j]);
        total += c->col_lse[j];
    }
    return total / (2.0 * n);
}

/* d loss / d logit_ij, given l = logit_ij */
static double grad_logit(const gl_ctx *c, int i, int j, double l)
{
    const int n = c->n;
    if (c->in->kind == CLIP_LOSS_SIGLIP) {
        double z = i == j ? 1.0 : -1.0;
        return -z * sigmoid(-z * (l + c->in->logit_bias)) / n;
    }
    return (exp(l - c->row_lse[i]) + exp(l - c->col_lse[j]) - (i == j ? 2.0 : 0.0)) / (2.0 * n);
}

/* Through x -> x / max(|x|, eps): dx = (da - a (a . da)) / |x| (|x| > eps). */
static void normalise_grad(const double *a, double inv, const double *da, int e, float *dx)
{
    double p = inv < 1.0 / NORM_EPS ? dot(a, da, e) : 0.0;
    for (int k = 0; k < e; k++)
        dx[k] = (float)((da[k] - a[k] * p) * inv);
}

/* Pass 2: gradients of the live image rows (and the scalar shares, by row)
 * and of the live text rows (by column). */
static void pass_grad(gl_ctx *c, train_global_loss_out *out, double *acc)
{
    const int n = c->n, e = c->e, lb = c->in->live_begin, lc = c->in->live_count;
    double d_scale = 0, d_bias = 0;
    for (int r = 0; r < lc; r++) {
        const int i = lb + r;
        logits_row(c, i, c->row);
        memset(acc, 0, (size_t)e * sizeof *acc);
        for (int j = 0; j < n; j++) {
            double gij = grad_logit(c, i, j, c->row[j]);
            d_scale += gij * c->row[j];
            d_bias += gij;
            const double *bj = c->b + (size_t)j * e;
            for (int k = 0; k < e; k++)
                acc[k] += gij * bj[k];
        }
        for (int k = 0; k < e; k++)
            acc[k] *= c->scale;
        normalise_grad(c->a + (size_t)i * e, c->inv_a[i], acc, e, out->d_img + (size_t)r * e);
    }
    for (int r = 0; r < lc; r++) {
        const int j = lb + r;
        const double *bj = c->b + (size_t)j * e;
        memset(acc, 0, (size_t)e * sizeof *acc);
        for (int i = 0; i < n; i++) {
            const double *ai = c->a + (size_t)i * e;
            double gij = grad_logit(c, i, j, c->scale * dot(ai, bj, e));
            for (int k = 0; k < e; k++)
                acc[k] += gij * ai[k];
        }
        for (int k = 0; k < e; k++)
            acc[k] *= c->scale;
        normalise_grad(bj, c->inv_b[j], acc, e, out->d_txt + (size_t)r * e);
    }
    out->d_scale = d_scale;
    out->d_bias = c->in->kind == CLIP_LOSS_SIGLIP ? d_bias : 0.0;
}

static int check_args(const train_global_loss_in *in, const train_global_loss_out *out)
{
    if (!in || !out)
        return cc_fail(CC_ERR_INVALID, "train_global_loss: NULL argument");
    if (in->kind != CLIP_LOSS_CONTRASTIVE && in->kind != CLIP_LOSS_SIGLIP)
        return cc_fail(CC_ERR_INVALID, "train_global_loss: unknown loss kind %d", (int)in->kind);
    if (in->n < 1 || in->dim < 1 || !in->img || !in->txt)
        return cc_fail(CC_ERR_INVALID, "train_global_loss: %d rows of width %d: expected >= 1 of each "
                       "and both feature arrays", in->n, in->dim);
    if (in->live_begin < 0 || in->live_count < 0 || in->live_begin > in->n - in->live_count)
        return cc_fail(CC_ERR_INVALID, "train_global_loss: live rows [%d, %d + %d) outside [0, %d)",
                       in->live_begin, in->live_begin, in->live_count, in->n);
    if (in->live_count && (!out->d_img || !out->d_txt))
        return cc_fail(CC_ERR_INVALID, "train_global_loss: no buffers for the live rows' gradients");
    if (!isfinite(in->logit_scale) || (in->kind == CLIP_LOSS_SIGLIP && !isfinite(in->logit_bias)))
        return cc_fail(CC_ERR_INVALID, "train_global_loss: logit_scale %g / logit_bias %g not finite",
                       in->logit_scale, in->logit_bias);
    return CC_OK;
}

int train_global_loss(const train_global_loss_in *in, train_global_loss_out *out)
{
    int rc = check_args(in, out);
    if (rc)
        return rc;
    gl_ctx c = {.in = in, .n = in->n, .e = in->dim, .scale = exp((double)in->logit_scale)};
    const size_t ne = (size_t)in->n * (size_t)in->dim, n = (size_t)in->n;
    c.a = malloc(ne * sizeof *c.a);
    c.b = malloc(ne * sizeof *c.b);
    c.inv_a = malloc(n * sizeof *c.inv_a);
    c.inv_b = malloc(n * sizeof *c.inv_b);
    c.row_lse = malloc(n * sizeof *c.row_lse);
    c.col_lse = malloc(n * sizeof *c.col_lse);
    c.row = malloc(n * sizeof *c.row);
    double *col_max = malloc(n * sizeof *col_max), *col_sum = malloc(n * sizeof *col_sum);
    double *acc = malloc((size_t)in->dim * sizeof *acc);
    if (!c.a || !c.b || !c.inv_a || !c.inv_b || !c.row_lse || !c.col_lse || !c.row || !col_max ||
        !col_sum || !acc)
        rc = cc_fail(CC_ERR_NOMEM, "train_global_loss: out of memory for %d rows of width %d", in->n,
                     in->dim);
    if (!rc)
        rc = normalise(in->img, in->n, in->dim, c.a, c.inv_a, "image");
    if (!rc)
        rc = normalise(in->txt, in->n, in->dim, c.b, c.inv_b, "text");
    if (!rc) {
        out->loss = pass_loss(&c, col_max, col_sum);
        pass_grad(&c, out, acc);
    }
    free(c.a);
    free(c.b);
    free(c.inv_a);
    free(c.inv_b);
    free(c.row_lse);
    free(c.col_lse);
    free(c.row);
    free(col_max);
    free(col_sum);
    free(acc);
    return rc;
}

/* ---- the loss terms of a slice, gradients for every row ---- */

/* Adds loss term gradient g of logit (i, j) = l to every accumulator. */
static void add_term(gl_ctx *c, int i, int j, double g, double l, double *da, double *db, double *d_scale)
{
    const int e = c->e;
    const double sg = c->scale * g, *ai = c->a + (size_t)i * e, *bj = c->b + (size_t)j * e;
    double *dai = da + (size_t)i * e, *dbj = db + (size_t)j * e;
    for (int k = 0; k < e; k++) {
        dai[k] += sg * bj[k];
        dbj[k] += sg * ai[k];
    }
    *d_scale += g * l;
}

static double terms_contrastive(gl_ctx *c, double *da, double *db, double *d_scale)
{
    const int n = c->n, lb = c->in->live_begin, lc = c->in->live_count;
    const double w = 1.0 / (2.0 * n);
    double total = 0;
    for (int i = lb; i < lb + lc; i++) { /* image rows: CE over all texts */
        logits_row(c, i, c->row);
        double r = lse(c->row, n);
        total += r - c->row[i];
        for (int j = 0; j < n; j++)
            add_term(c, i, j, w * (exp(c->row[j] - r) - (i == j)), c->row[j], da, db, d_scale);
    }
    for (int j = lb; j < lb + lc; j++) { /* text rows: CE over all images */
        const double *bj = c->b + (size_t)j * c->e;
        for (int i = 0; i < n; i++)
            c->row[i] = c->scale * dot(c->a + (size_t)i * c->e, bj, c->e);
        double col = lse(c->row, n);
        total += col - c->row[j];
        for (int i = 0; i < n; i++)
            add_term(c, i, j, w * (exp(c->row[i] - col) - (i == j)), c->row[i], da, db, d_scale);
    }
    return total * w;
}

static double terms_siglip(gl_ctx *c, double *da, double *db, double *d_scale, double *d_bias)
{
    const int n = c->n, lb = c->in->live_begin, lc = c->in->live_count;
    const double bias = c->in->logit_bias;
    double total = 0;
    for (int i = lb; i < lb + lc; i++) { /* every pair of the slice's image rows */
        logits_row(c, i, c->row);
        for (int j = 0; j < n; j++) {
            double z = i == j ? 1.0 : -1.0, u = z * (c->row[j] + bias);
            total += softplus_neg(u);
            double g = -z * sigmoid(-u) / n;
            *d_bias += g;
            add_term(c, i, j, g, c->row[j], da, db, d_scale);
        }
    }
    return total / n;
}

int train_global_loss_terms(const train_global_loss_in *in, train_global_loss_terms_out *out)
{
    train_global_loss_out probe = {.d_img = out ? out->d_img : NULL, .d_txt = out ? out->d_txt : NULL};
    int rc = check_args(in, out ? &probe : NULL);
    if (rc)
        return rc;
    if (!out->d_img || !out->d_txt)
        return cc_fail(CC_ERR_INVALID, "train_global_loss_terms: no buffers for the gradients of all rows");
    gl_ctx c = {.in = in, .n = in->n, .e = in->dim, .scale = exp((double)in->logit_scale)};
    const size_t ne = (size_t)in->n * (size_t)in->dim, n = (size_t)in->n;
    c.a = malloc(ne * sizeof *c.a);
    c.b = malloc(ne * sizeof *c.b);
    c.inv_a = malloc(n * sizeof *c.inv_a);
    c.inv_b = malloc(n * sizeof *c.inv_b);
    c.row = malloc(n * sizeof *c.row);
    double *da = calloc(ne, sizeof *da), *db = calloc(ne, sizeof *db);
    if (!c.a || !c.b || !c.inv_a || !c.inv_b || !c.row || !da || !db)
        rc = cc_fail(CC_ERR_NOMEM, "train_global_loss_terms: out of memory for %d rows of width %d", in->n,
                     in->dim);
    if (!rc)
        rc = normalise(in->img, in->n, in->dim, c.a, c.inv_a, "image");
    if (!rc)
        rc = normalise(in->txt, in->n, in->dim, c.b, c.inv_b, "text");
    if (!rc) {
        double d_scale = 0, d_bias = 0;
        out->loss = in->kind == CLIP_LOSS_SIGLIP ? terms_siglip(&c, da, db, &d_scale, &d_bias)
                                                 : terms_contrastive(&c, da, db, &d_scale);
        out->d_scale = d_scale;
        out->d_bias = d_bias;
        for (int i = 0; i < in->n; i++) {
            const size_t o = (size_t)i * in->dim;
            normalise_grad(c.a + o, c.inv_a[i], da + o, in->dim, out->d_img + o);
            normalise_grad(c.b + o, c.inv_b[i], db + o, in->dim, out->d_txt + o);
        }
    }
    free(c.a);
    free(c.b);
    free(c.inv_a);
    free(c.inv_b);
    free(c.row);
    free(da);
    free(db);
    return rc;
}
