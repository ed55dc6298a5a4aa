/* Shared by the models/ tests: paths under $CLIPCL_TEST_DATA, golden .npy
 * reading, loading a model, the towers' acceptance rule, and the tower
 * and logits checks both backends run. Static
 * functions: each test executable includes this once. */
#ifndef CLIPCL_TEST_CLIP_GOLDEN_H
#define CLIPCL_TEST_CLIP_GOLDEN_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/npy.h"
#include "models/clip.h"
#include "runtime/status.h"
#include "runtime/settings.h"

static char g_data[1024];

static const char *data_path(const char *rel)
{
    static char buf[4][1200];
    static int next;
    char *b = buf[next++ & 3];
    int n = snprintf(b, sizeof buf[0], "%s/%s", g_data, rel);
    assert_true(n > 0 && (size_t)n < sizeof buf[0]);
    return b;
}

static void golden_init(void)
{
    const char *d = rt_setting_value(RT_SET_TEST_DATA);
    snprintf(g_data, sizeof g_data, "%s", d ? d : "tests/data");
}

static clip_model *load_ok(const char *rel)
{
    clip_model *m = NULL;
    int rc = clip_load(data_path(rel), &m);
    if (rc)
        print_error("clip_load %s: %s\n", rel, cc_last_error());
    assert_int_equal(rc, CC_OK);
    return m;
}

/* The towers' acceptance rule, with the measured numbers printed. */
static void compare(const char *what, const float *got, const npy_array *ref)
{
    assert_int_equal(ref->ndim, 2);
    int64_t R = ref->shape[0], C = ref->shape[1];
    const float *r = ref->data;
    double maxref = 0, maxerr = 0, mincos = 2;
    for (int64_t i = 0; i < R * C; i++) {
        maxref = fmax(maxref, fabs(r[i]));
        maxerr = fmax(maxerr, fabs((double)got[i] - r[i]));
    }
    for (int64_t i = 0; i < R; i++) {
        double d = 0, na = 0, nb = 0;
        for (int64_t j = 0; j < C; j++) {
            d += (double)got[i * C + j] * r[i * C + j];
            na += (double)got[i * C + j] * got[i * C + j];
            nb += (double)r[i * C + j] * r[i * C + j];
        }
        mincos = fmin(mincos, d / sqrt(na * nb));
    }
    printf("  %-28s [%lld x %lld] min cosine %.9f, max |err| %.3g = %.2e x max|ref| (%.3g)\n",
           what, (long long)R, (long long)C, mincos, maxerr, maxerr / maxref, maxref);
    assert_true(maxref > 0);
    assert_true(mincos >= 0.99999);
    assert_true(maxerr <= 1e-4 * maxref);
}

static void read_npy(const char *rel, npy_dtype dt, npy_array *a)
{
    int rc = npy_read(data_path(rel), dt, a);
    if (rc)
        print_error("%s\n", cc_last_error());
    assert_int_equal(rc, CC_OK);
}

/* The goldens of one model directory. */
typedef struct golden {
    npy_array px, ids, img, txt, logits;
} golden;

static void golden_read(const char *dir, golden *g)
{
    char rel[256];
    npy_array *a[5] = {&g->px, &g->ids, &g->img, &g->txt, &g->logits};
    const char *names[5] = {"pixels", "ids", "image_features", "text_features",
                            "logits_per_image"};
    for (int i = 0; i < 5; i++) {
        snprintf(rel, sizeof rel, "%s/%s.npy", dir, names[i]);
        read_npy(rel, i == 1 ? NPY_I32 : NPY_F32, a[i]);
    }
}

static void golden_free(golden *g)
{
    npy_free(&g->px);
    npy_free(&g->ids);
    npy_free(&g->img);
    npy_free(&g->txt);
    npy_free(&g->logits);
}

/* A backend's half of the model tests: runs g with its inputs and params
 * bound in slots and copies tensor `out` (n floats) into dst, asserting
 * success. ctx is the backend's own (NULL for ref). */
typedef void (*golden_run_fn)(void *ctx, graph *g, void **slots, int out, float *dst);

/* Builds a tower, runs it; returns malloc'd [B, E] features. */
static float *run_tower(golden_run_fn run, void *ctx, const clip_model *m, int text, int batch,
                        const void *input)
{
    clip_tower *t = NULL;
    int rc = text ? clip_build_text(m->w, &m->cfg, batch, &t)
                  : clip_build_image(m->w, &m->cfg, batch, &t);
    if (rc)
        print_error("build %s tower: %s\n", text ? "text" : "image", cc_last_error());
    assert_int_equal(rc, CC_OK);
    void **slots = calloc((size_t)t->g->n_tensors, sizeof *slots);
    assert_non_null(slots);
    assert_int_equal(clip_tower_bind(t, slots, input), CC_OK);
    int64_t n = g_numel(t->g, t->out);
    assert_int_equal(n, (int64_t)batch * m->cfg.embed_dim);
    float *out = malloc((size_t)n * sizeof *out);
    assert_non_null(out);
    run(ctx, t->g, slots, t->out, out);
    free(slots);
    clip_tower_free(t);
    return out;
}

static float *run_logits(golden_run_fn run, void *ctx, const clip_model *m, const float *img,
                         int n_img, const float *txt, int n_txt)
{
    clip_logits_graph l;
    assert_int_equal(clip_build_logits(n_img, n_txt, m->cfg.embed_dim, m->logit_scale, &l), CC_OK);
    void **slots = calloc((size_t)l.g->n_tensors, sizeof *slots);
    assert_non_null(slots);
    slots[l.img] = (void *)img;
    slots[l.txt] = (void *)txt;
    assert_int_equal(g_numel(l.g, l.out), (int64_t)n_img * n_txt);
    float *out = malloc((size_t)n_img * n_txt * sizeof *out);
    assert_non_null(out);
    run(ctx, l.g, slots, l.out, out);
    free(slots);
    clip_logits_free(&l);
    return out;
}

/* One model directory's towers and logits against its goldens. */
static void check_model(golden_run_fn run, void *ctx, const char *backend, const char *dir,
                        const char *sub)
{
    char rel[256];
    snprintf(rel, sizeof rel, "%s/%s", dir, sub);
    clip_model *m = load_ok(rel);
    golden gd;
    golden_read(dir, &gd);
    int ni = (int)gd.px.shape[0], nt = (int)gd.ids.shape[0];
    assert_int_equal(gd.ids.shape[1], m->cfg.text.context);
    printf("%s/%s (%s naming), %s backend:\n", dir, sub, clip_naming_name(m->cfg.naming), backend);
    float *img = run_tower(run, ctx, m, 0, ni, gd.px.data);
    compare("image features", img, &gd.img);
    float *txt = run_tower(run, ctx, m, 1, nt, gd.ids.data);
    compare("text features", txt, &gd.txt);
    float *l = run_logits(run, ctx, m, img, ni, txt, nt);
    compare("logits_per_image", l, &gd.logits);
    free(img);
    free(txt);
    free(l);
    golden_free(&gd);
    clip_model_free(m);
}

#endif
