/* Shared by the training-step tests (tests/train/test_train_step*.c): the
 * goldens of tests/reference/make_train_goldens.py (and
 * make_train_siglip_goldens.py: no params_after, the sigmoid loss), and comparisons of
 * per-parameter tensors (graph params, with OpenAI's packed in_proj split in
 * three) against the checkpoint-keyed golden tensors. Static functions: each
 * test executable includes this once. */
#ifndef CLIPCL_TEST_TRAIN_STEP_UTIL_H
#define CLIPCL_TEST_TRAIN_STEP_UTIL_H

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
#include "io/safetensors.h"
#include "models/clip.h"
#include "models/clip_train.h"
#include "runtime/status.h"
#include "runtime/settings.h"

#define TS_BATCH 4

static void ts_ok(int rc, const char *what)
{
    if (rc)
        print_error("%s: %s\n", what, cc_last_error());
    assert_int_equal(rc, CC_OK);
}

static const char *ts_path(const char *dir, const char *file)
{
    static char buf[4][1200];
    static int next;
    char *b = buf[next++ & 3];
    const char *d = rt_setting_value(RT_SET_TEST_DATA);
    int n = snprintf(b, sizeof buf[0], "%s/%s/%s", d ? d : "tests/data", dir, file);
    assert_true(n > 0 && (size_t)n < sizeof buf[0]);
    return b;
}

/* One model directory's inputs and goldens. */
typedef struct ts_golden {
    clip_model *model;
    npy_array px, ids, loss;
    st_file *grads, *after, *bn_after; /* bn_after NULL without BatchNorm */
} ts_golden;

static void ts_golden_read(const char *dir, ts_golden *gd)
{
    memset(gd, 0, sizeof *gd);
    ts_ok(clip_load(ts_path(dir, ""), &gd->model), "clip_load");
    ts_ok(npy_read(ts_path(dir, "pixels.npy"), NPY_F32, &gd->px), "pixels.npy");
    ts_ok(npy_read(ts_path(dir, "ids.npy"), NPY_I32, &gd->ids), "ids.npy");
    ts_ok(npy_read(ts_path(dir, "loss.npy"), NPY_F32, &gd->loss), "loss.npy");
    assert_int_equal(gd->px.shape[0], TS_BATCH);
    assert_int_equal(gd->ids.shape[0], TS_BATCH);
    assert_int_equal(gd->ids.shape[1], gd->model->cfg.text.context);
    ts_ok(st_open(ts_path(dir, "grads.safetensors"), &gd->grads), "grads.safetensors");
    FILE *f = fopen(ts_path(dir, "params_after.safetensors"), "rb"); /* none for SigLIP */
    if (f) {
        fclose(f);
        ts_ok(st_open(ts_path(dir, "params_after.safetensors"), &gd->after),
              "params_after.safetensors");
    }
    f = fopen(ts_path(dir, "bn_after.safetensors"), "rb");
    if (f) {
        fclose(f);
        ts_ok(st_open(ts_path(dir, "bn_after.safetensors"), &gd->bn_after), "bn_after.safetensors");
    }
}

static void ts_golden_free(ts_golden *gd)
{
    clip_model_free(gd->model);
    npy_free(&gd->px);
    npy_free(&gd->ids);
    npy_free(&gd->loss);
    st_close(gd->grads);
    st_close(gd->after);
    st_close(gd->bn_after);
}

static clip_train_graph *ts_build(const ts_golden *gd)
{
    clip_train_graph *tg = NULL;
    /* SigLIP's architecture trains with its sigmoid loss */
    clip_loss_kind kind = gd->model->cfg.siglip ? CLIP_LOSS_SIGLIP : CLIP_LOSS_CONTRASTIVE;
    ts_ok(clip_train_build(gd->model->w, &gd->model->cfg, TS_BATCH, kind, &tg), "clip_train_build");
    return tg;
}

/* The golden tensor of checkpoint key `key` as f32 (malloc'd). */
static float *ts_load(const st_file *f, const char *key, int64_t *numel)
{
    const st_tensor *t = NULL;
    ts_ok(st_find(f, key, &t), key);
    float *d = malloc((size_t)t->numel * sizeof *d);
    assert_non_null(d);
    ts_ok(st_read_f32(f, t, d, (size_t)t->numel), key);
    *numel = t->numel;
    return d;
}

/* L2 norm of elements [off, off + cnt) of golden tensor key (cnt < 0: all
 * of it), or of every tensor of f together (key NULL). */
static double ts_norm(const st_file *f, const char *key, int64_t off, int64_t cnt)
{
    double s2 = 0;
    for (size_t k = 0; k < st_count(f); k++) {
        const char *name = st_at(f, k)->name;
        if (key && strcmp(key, name) != 0)
            continue;
        int64_t n;
        float *r = ts_load(f, name, &n);
        int64_t end = key && cnt >= 0 ? off + cnt : n;
        assert_true(end <= n);
        for (int64_t j = key ? off : 0; j < end; j++)
            s2 += (double)r[j] * r[j];
        free(r);
    }
    return sqrt(s2);
}

static double ts_norm_all(const st_file *f)
{
    return ts_norm(f, NULL, 0, -1);
}

/* Whether an exact gradient (a tensor or a block of it) is zero: its norm
 * is at the float64 rounding level of the whole gradient, e.g. an attention
 * key bias, whose gradient softmax cancels exactly. */
static int ts_is_zero(double norm, double all)
{
    return norm <= 1e-7 * all;
}

/* Block of graph param i inside its checkpoint tensor: key, offset, count. */
static void ts_param_block(const clip_train_graph *tg, int i, char *key, size_t len, int64_t *off,
                           int64_t *n)
{
    int part = 0, nparts = 1;
    const g_tensor *T = &tg->g->tensors[tg->t->param_t[i]];
    ts_ok(clip_param_key(T->name, key, len, &part, &nparts), "clip_param_key");
    *n = g_numel(tg->g, tg->t->param_t[i]);
    *off = (int64_t)part * *n;
}

/* Per-parameter values (one array per graph param, numel of that param)
 * assembled into checkpoint tensors and compared with the golden file f:
 *   err = ||got - ref|| / ||ref|| <= rtol per tensor.
 * A tensor whose exact value is zero (||ref|| <= 1e-7 ||everything||, e.g.
 * the gradient of an attention key bias, which softmax cancels) must
 * instead have ||got|| <= zero_tol ||everything||. Every golden tensor must
 * be covered by the params, element for element. Returns the worst err. */
static double ts_compare_params(const clip_train_graph *tg, float *const *got, const st_file *f,
                                const char *what, double rtol, double zero_tol)
{
    size_t nt = st_count(f);
    double all = ts_norm_all(f);
    double worst = 0;
    char worst_name[G_NAME_LEN] = "";
    int covered_params = 0;
    for (size_t k = 0; k < nt; k++) {
        const char *name = st_at(f, k)->name;
        int64_t n;
        float *ref = ts_load(f, name, &n);
        float *mine = malloc((size_t)n * sizeof *mine);
        char *seen = calloc((size_t)n, 1);
        assert_true(mine && seen);
        for (int i = 0; i < tg->t->n_params; i++) {
            char key[G_NAME_LEN];
            int64_t off, cnt;
            ts_param_block(tg, i, key, sizeof key, &off, &cnt);
            if (strcmp(key, name) != 0)
                continue;
            assert_true(off + cnt <= n);
            memcpy(mine + off, got[i], (size_t)cnt * sizeof *mine);
            memset(seen + off, 1, (size_t)cnt);
            covered_params++;
        }
        double d2 = 0, r2 = 0, m2 = 0;
        for (int64_t j = 0; j < n; j++) {
            if (!seen[j]) {
                print_error("%s '%s': element %lld not produced by any graph param\n", what, name,
                            (long long)j);
                fail();
            }
            double d = (double)mine[j] - ref[j];
            d2 += d * d;
            r2 += (double)ref[j] * ref[j];
            m2 += (double)mine[j] * mine[j];
        }
        int zero = ts_is_zero(sqrt(r2), all);
        double err = zero ? sqrt(m2) / all : sqrt(d2) / sqrt(r2);
        double lim = zero ? zero_tol : rtol;
        if (!(err <= lim)) {
            print_error("%s '%s' [%lld]: %s %.3e > %.1e\n", what, name, (long long)n,
                        zero ? "||got|| / ||all|| (exact value 0)" : "rel err", err, lim);
            fail();
        }
        if (!zero && err > worst) {
            worst = err;
            snprintf(worst_name, sizeof worst_name, "%s", name);
        }
        free(ref);
        free(mine);
        free(seen);
    }
    assert_int_equal(covered_params, tg->t->n_params);
    printf("  %-30s %zu tensors, worst rel err %.2e (%s)\n", what, nt, worst, worst_name);
    return worst;
}

static void ts_compare_loss(const char *what, float got, const ts_golden *gd)
{
    double ref = ((const float *)gd->loss.data)[0];
    double err = fabs(got - ref) / fabs(ref);
    printf("  %-30s %.9f vs %.9f (PyTorch f64), rel err %.2e\n", what, got, ref, err);
    assert_true(err <= 1e-4);
}

#endif
