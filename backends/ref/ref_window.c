/* The sliding window of the reference spatial ops (see ref_window.h). */
#include "backends/ref/ref_window.h"

#include <stdlib.h>

int ref_need4(const g_node *n, const g_tensor *t)
{
    if (t->ndim != 4)
        return cc_fail(CC_ERR_SHAPE, "%s: '%s' must be 4-D NCHW, has %d dims",
                       g_op_name(n->op), t->name, t->ndim);
    return CC_OK;
}

void ref_pool_attr(const g_attr *a, int64_t *kh, int64_t *kw, int64_t *sh, int64_t *sw,
                   int64_t *ph, int64_t *pw)
{
    int both = a->kernel[1] != 0;
    *kh = a->kernel[0];
    *kw = both ? a->kernel[1] : a->kernel[0];
    *sh = a->stride[0];
    *sw = both ? a->stride[1] : a->stride[0];
    *ph = a->pad[0];
    *pw = both ? a->pad[1] : a->pad[0];
}

static int check_window(const g_node *n, const ref_window *w, const char *out)
{
    if (w->sh < 1 || w->sw < 1 || w->KH < 1 || w->KW < 1 || w->ph < 0 || w->pw < 0)
        return cc_fail(CC_ERR_INVALID, "%s: kernel %lldx%lld stride %lldx%lld pad %lldx%lld",
                       g_op_name(n->op), (long long)w->KH, (long long)w->KW, (long long)w->sh,
                       (long long)w->sw, (long long)w->ph, (long long)w->pw);
    int64_t oh = (w->H + 2 * w->ph - w->KH) / w->sh + 1, ow = (w->W + 2 * w->pw - w->KW) / w->sw + 1;
    if (w->OH != oh || w->OW != ow)
        return cc_fail(CC_ERR_SHAPE, "%s: '%s' is %lldx%lld spatially, the window over %lldx%lld gives %lldx%lld",
                       g_op_name(n->op), out, (long long)w->OH, (long long)w->OW, (long long)w->H,
                       (long long)w->W, (long long)oh, (long long)ow);
    return CC_OK;
}

int ref_taps_init(ref_taps *t, const g_node *n, const ref_window *w, const char *out)
{
    t->idx = NULL;
    t->rows = NULL;
    t->acc = NULL;
    int rc = check_window(n, w, out);
    if (rc)
        return rc;
    t->w = *w;
    t->P = w->OH * w->OW;
    t->K = w->C * w->KH * w->KW;
    size_t cells = (size_t)(t->P * t->K > 0 ? t->P * t->K : 1);
    t->idx = malloc(cells * sizeof *t->idx);
    t->rows = malloc(cells * sizeof *t->rows);
    int64_t plane = w->C * w->H * w->W;
    t->acc = malloc((size_t)(plane > 0 ? plane : 1) * sizeof *t->acc);
    if (!t->idx || !t->rows || !t->acc) {
        ref_taps_free(t);
        return cc_fail(CC_ERR_NOMEM, "%s: %lld x %lld window taps for '%s'", g_op_name(n->op),
                       (long long)t->P, (long long)t->K, out);
    }
    int64_t *ix = t->idx;
    for (int64_t oy = 0; oy < w->OH; oy++)
        for (int64_t ox = 0; ox < w->OW; ox++)
            for (int64_t c = 0; c < w->C; c++)
                for (int64_t ky = 0; ky < w->KH; ky++) {
                    int64_t iy = oy * w->sh - w->ph + ky;
                    for (int64_t kx = 0; kx < w->KW; kx++) {
                        int64_t jx = ox * w->sw - w->pw + kx;
                        int inside = iy >= 0 && iy < w->H && jx >= 0 && jx < w->W;
                        *ix++ = inside ? (c * w->H + iy) * w->W + jx : -1;
                    }
                }
    return CC_OK;
}

void ref_taps_free(ref_taps *t)
{
    free(t->idx);
    free(t->rows);
    free(t->acc);
    t->idx = NULL;
    t->rows = NULL;
    t->acc = NULL;
}

void ref_taps_gather(ref_taps *t, const float *x)
{
    for (int64_t i = 0; i < t->P * t->K; i++)
        t->rows[i] = t->idx[i] >= 0 ? (double)x[t->idx[i]] : 0.0;
}

void ref_taps_scatter(ref_taps *t, float *dx)
{
    int64_t plane = t->w.C * t->w.H * t->w.W;
    for (int64_t i = 0; i < plane; i++)
        t->acc[i] = 0.0;
    for (int64_t i = 0; i < t->P * t->K; i++)
        if (t->idx[i] >= 0)
            t->acc[t->idx[i]] += t->rows[i];
    for (int64_t i = 0; i < plane; i++)
        dx[i] = (float)t->acc[i];
}
