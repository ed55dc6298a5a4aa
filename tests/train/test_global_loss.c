/* train/global_loss.h against the in-graph losses of models/clip_loss.c
 * differentiated by g_backward on the ref backend (an independent path):
 * for the contrastive and the SigLIP loss, with N = 12 rows cut into the
 * slices [0, 5), [5, 9), [9, 12), each slice's d_img / d_txt must equal
 * those rows of the full-batch gradient (rel 1e-5), the shares of
 * d logit_scale / d logit_bias must add up to the full gradient, every
 * slice must report the full-batch loss, and an empty slice contributes
 * nothing. Also: exp(t) at its clamp 100 with anti-aligned pairs (logit gaps
 * of 200), a zero feature row (F.normalize's eps), and bad arguments.
 * train_global_loss_terms (each slice's loss terms, gradients for every
 * row): over the same partition, the summed gradients and loss shares must
 * be the full-batch ones. train_loss_plan (the same loss as a graph on the
 * ref backend and on OpenCL, all rows live) against the host: rel 1e-5. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/ref/ref.h"
#include "models/clip_loss.h"
#include "runtime/status.h"
#include "runtime/settings.h"
#include "train/global_loss.h"
#include "train/global_loss_plan.h"

enum { N = 12, E = 6 };

static void ok(int rc)
{
    if (rc)
        print_error("%s\n", cc_last_error());
    assert_int_equal(rc, 0);
}

static void fill(float *a, int n, unsigned seed)
{
    for (int i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        a[i] = (float)((seed >> 8) * (1.0 / 16777216.0) * 2.0 - 1.0);
    }
}

/* The full-batch loss and gradients from the graph. */
typedef struct full {
    float loss, d_img[N * E], d_txt[N * E], d_scale, d_bias;
} full;

static void graph_full(clip_loss_kind kind, const float *img, const float *txt, float t, float b, full *f)
{
    graph *g = g_new();
    const int64_t sh[2] = {N, E};
    int pi = g_param(g, "img", 2, sh), pt = g_param(g, "txt", 2, sh);
    clip_loss L;
    ok(clip_loss_build(g, pi, pt, kind, &L));
    int wrt[4] = {pi, pt, L.logit_scale, L.logit_bias}, grads[4], seed = -1;
    ok(g_backward(g, L.loss, kind == CLIP_LOSS_SIGLIP ? 4 : 3, wrt, grads, &seed));
    void **d = calloc((size_t)g->n_tensors, sizeof *d);
    assert_non_null(d);
    float labels[N * N], one = 1.0f, tt = t, bb = b;
    clip_loss_fill_labels(kind, N, labels);
    d[pi] = (void *)img, d[pt] = (void *)txt, d[L.logit_scale] = &tt, d[L.labels] = labels, d[seed] = &one;
    if (L.logit_bias >= 0)
        d[L.logit_bias] = &bb;
    ok(ref_eval(g, d));
    f->loss = ((float *)d[L.loss])[0];
    memcpy(f->d_img, d[grads[0]], sizeof f->d_img);
    memcpy(f->d_txt, d[grads[1]], sizeof f->d_txt);
    f->d_scale = ((float *)d[grads[2]])[0];
    f->d_bias = kind == CLIP_LOSS_SIGLIP ? ((float *)d[grads[3]])[0] : 0.0f;
    ref_free_acts(g, d);
    free(d);
    g_free(g);
}

static double rel(const float *got, const float *want, int n)
{
    double d2 = 0, r2 = 0;
    for (int i = 0; i < n; i++) {
        d2 += ((double)got[i] - want[i]) * ((double)got[i] - want[i]);
        r2 += (double)want[i] * want[i];
    }
    return sqrt(d2 / r2);
}

static void check_slices(clip_loss_kind kind, const float *img, const float *txt, float t, float b, double tol)
{
    full f;
    graph_full(kind, img, txt, t, b, &f);
    static const int cut[][2] = {{0, 5}, {5, 4}, {9, 3}, {3, 0}};
    double scale_sum = 0, bias_sum = 0, worst = 0;
    float d_img[N * E], d_txt[N * E];
    for (size_t s = 0; s < sizeof cut / sizeof cut[0]; s++) {
        train_global_loss_in in = {kind, N, E, img, txt, t, b, cut[s][0], cut[s][1]};
        train_global_loss_out out = {.d_img = d_img, .d_txt = d_txt};
        ok(train_global_loss(&in, &out));
        if (!(fabs(out.loss - f.loss) <= tol * fabs(f.loss))) {
            print_error("slice %zu: loss %.9g, graph %.9g\n", s, out.loss, (double)f.loss);
            fail();
        }
        scale_sum += out.d_scale;
        bias_sum += out.d_bias;
        if (!cut[s][1]) {
            assert_true(out.d_scale == 0 && out.d_bias == 0);
            continue;
        }
        const int off = cut[s][0] * E, n = cut[s][1] * E;
        double ei = rel(d_img, f.d_img + off, n), et = rel(d_txt, f.d_txt + off, n);
        if (!(ei <= tol) || !(et <= tol)) {
            print_error("slice [%d, +%d): d_img rel %.3e, d_txt rel %.3e > %.1e\n", cut[s][0], cut[s][1], ei, et, tol);
            fail();
        }
        worst = fmax(worst, fmax(ei, et));
    }
    double es = fabs(scale_sum - f.d_scale) / fabs(f.d_scale);
    double eb = kind == CLIP_LOSS_SIGLIP ? fabs(bias_sum - f.d_bias) / fabs(f.d_bias) : fabs(bias_sum);
    printf("  %s t=%.3f: loss %.9g, features worst rel %.2e, d_scale %.9g vs %.9g (rel %.2e), d_bias rel %.2e\n",
           kind == CLIP_LOSS_SIGLIP ? "siglip" : "clip", t, f.loss, worst, scale_sum, (double)f.d_scale, es, eb);
    assert_true(es <= tol);
    assert_true(eb <= tol);
}

/* train_global_loss_terms: the slices' terms, gradients for every row,
 * summed over the partition (a reduce-scatter's sum), equal the full ones. */
static void check_terms(clip_loss_kind kind, const float *img, const float *txt, float t, float b, double tol)
{
    full f;
    graph_full(kind, img, txt, t, b, &f);
    static const int cut[][2] = {{0, 5}, {5, 4}, {9, 3}, {3, 0}};
    double loss = 0, d_scale = 0, d_bias = 0, sum_img[N * E] = {0}, sum_txt[N * E] = {0};
    float d_img[N * E], d_txt[N * E];
    for (size_t s = 0; s < sizeof cut / sizeof cut[0]; s++) {
        train_global_loss_in in = {kind, N, E, img, txt, t, b, cut[s][0], cut[s][1]};
        train_global_loss_terms_out out = {.d_img = d_img, .d_txt = d_txt};
        ok(train_global_loss_terms(&in, &out));
        loss += out.loss;
        d_scale += out.d_scale;
        d_bias += out.d_bias;
        for (int i = 0; i < N * E; i++) {
            if (!cut[s][1])
                assert_true(d_img[i] == 0 && d_txt[i] == 0);
            sum_img[i] += d_img[i];
            sum_txt[i] += d_txt[i];
        }
    }
    float si[N * E], st[N * E];
    for (int i = 0; i < N * E; i++)
        si[i] = (float)sum_img[i], st[i] = (float)sum_txt[i];
    double ei = rel(si, f.d_img, N * E), et = rel(st, f.d_txt, N * E);
    double el = fabs(loss - f.loss) / f.loss, es = fabs(d_scale - f.d_scale) / fabs(f.d_scale);
    double eb = kind == CLIP_LOSS_SIGLIP ? fabs(d_bias - f.d_bias) / fabs(f.d_bias) : fabs(d_bias);
    printf("  terms %s t=%.3f: loss shares %.9g vs %.9g, summed d_img rel %.2e, d_txt %.2e, d_scale %.2e, "
           "d_bias %.2e\n", kind == CLIP_LOSS_SIGLIP ? "siglip" : "clip", t, loss, (double)f.loss, ei, et, es, eb);
    assert_true(ei <= tol && et <= tol && el <= tol && es <= tol && eb <= tol);
}

static void test_terms(void **state)
{
    (void)state;
    float img[N * E], txt[N * E];
    fill(img, N * E, 8), fill(txt, N * E, 9);
    check_terms(CLIP_LOSS_CONTRASTIVE, img, txt, clip_loss_init_scale(CLIP_LOSS_CONTRASTIVE), 0, 1e-5);
    check_terms(CLIP_LOSS_SIGLIP, img, txt, 1.0f, 0.5f, 1e-5);
    check_terms(CLIP_LOSS_SIGLIP, img, txt, clip_loss_init_scale(CLIP_LOSS_SIGLIP), clip_loss_init_bias(), 1e-5);
    train_global_loss_in in = {CLIP_LOSS_CONTRASTIVE, N, E, img, txt, 2.0f, 0, 0, 3};
    train_global_loss_terms_out none = {0};
    assert_int_equal(train_global_loss_terms(&in, &none), CC_ERR_INVALID);
}

/* train_loss_plan (the in-graph loss on a backend, every row live) against
 * the host's double precision: rel 1e-5 per output. */
static void check_plan(const char *device, clip_loss_kind kind, float t, float b)
{
    backend *be = NULL;
    int rc = backend_open(device, 0, &be);
    if (rc == CC_ERR_NO_PLATFORM || rc == CC_ERR_NO_DEVICE) {
        printf("  no OpenCL device: %s\n", cc_last_error());
        return;
    }
    ok(rc);
    float img[N * E], txt[N * E], hi[N * E], ht[N * E], pi[N * E], pt[N * E];
    fill(img, N * E, 10), fill(txt, N * E, 11);
    train_global_loss_in in = {kind, N, E, img, txt, t, b, 0, N};
    train_global_loss_out host = {.d_img = hi, .d_txt = ht}, dev = {.d_img = pi, .d_txt = pt};
    ok(train_global_loss(&in, &host));
    train_loss_plan *p = NULL;
    ok(train_loss_plan_create(be, kind, N, E, &p));
    for (int run = 0; run < 2; run++) { /* a second run: the constant inputs are written again */
        ok(train_loss_plan_run(p, &in, &dev));
        double ei = rel(pi, hi, N * E), et = rel(pt, ht, N * E);
        double el = fabs(dev.loss - host.loss) / host.loss, es = fabs(dev.d_scale - host.d_scale) / fabs(host.d_scale);
        double eb = kind == CLIP_LOSS_SIGLIP ? fabs(dev.d_bias - host.d_bias) / fabs(host.d_bias) : fabs(dev.d_bias);
        printf("  plan on %s, %s: loss rel %.2e, d_img %.2e, d_txt %.2e, d_scale %.2e, d_bias %.2e\n",
               backend_name(be), kind == CLIP_LOSS_SIGLIP ? "siglip" : "clip", el, ei, et, es, eb);
        assert_true(ei <= 1e-5 && et <= 1e-5 && el <= 1e-5 && es <= 1e-5 && eb <= 1e-5);
    }
    in.live_count = N - 1; /* the plan takes every row or nothing */
    assert_int_equal(train_loss_plan_run(p, &in, &dev), CC_ERR_INVALID);
    train_loss_plan_free(p);
    backend_close(be);
}

static void test_plan(void **state)
{
    (void)state;
    const char *dev = rt_setting_value(RT_SET_DEVICE) ? rt_setting_value(RT_SET_DEVICE) : "";
    const char *devices[2] = {"ref", dev};
    for (int d = 0; d < 2; d++) {
        check_plan(devices[d], CLIP_LOSS_CONTRASTIVE, clip_loss_init_scale(CLIP_LOSS_CONTRASTIVE), 0);
        check_plan(devices[d], CLIP_LOSS_SIGLIP, 1.0f, 0.5f);
    }
}

static void test_contrastive_slices(void **state)
{
    (void)state;
    float img[N * E], txt[N * E];
    fill(img, N * E, 1), fill(txt, N * E, 2);
    check_slices(CLIP_LOSS_CONTRASTIVE, img, txt, clip_loss_init_scale(CLIP_LOSS_CONTRASTIVE), 0, 1e-5);
}

static void test_siglip_slices(void **state)
{
    (void)state;
    float img[N * E], txt[N * E];
    fill(img, N * E, 3), fill(txt, N * E, 4);
    check_slices(CLIP_LOSS_SIGLIP, img, txt, clip_loss_init_scale(CLIP_LOSS_SIGLIP), clip_loss_init_bias(), 1e-5);
    /* a bias near the logits, so that positives and negatives both matter */
    check_slices(CLIP_LOSS_SIGLIP, img, txt, 1.0f, 0.5f, 1e-5);
}

/* exp(t) = 100 and pairs pointing apart: logit gaps of 200 (an unshifted
 * exp overflows double's range of such sums only far later, but a log of a
 * softmax computed in f32 would underflow); and row 7 all zero. */
static void test_at_clamp(void **state)
{
    (void)state;
    float img[N * E], txt[N * E];
    fill(img, N * E, 5);
    for (int i = 0; i < N * E; i++)
        txt[i] = -img[i];
    for (int j = 0; j < E; j++)
        txt[1 * E + j] = img[1 * E + j], img[7 * E + j] = 0.0f;
    check_slices(CLIP_LOSS_CONTRASTIVE, img, txt, CLIP_LOGIT_SCALE_MAX, 0, 1e-5);
    check_slices(CLIP_LOSS_SIGLIP, img, txt, CLIP_LOGIT_SCALE_MAX, -10.0f, 1e-5);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    float img[N * E], txt[N * E], d[N * E];
    fill(img, N * E, 6), fill(txt, N * E, 7);
    train_global_loss_out out = {.d_img = d, .d_txt = d};
    train_global_loss_in in = {CLIP_LOSS_CONTRASTIVE, N, E, img, txt, 2.0f, 0, 10, 3};
    assert_int_equal(train_global_loss(&in, &out), CC_ERR_INVALID); /* rows 10..12 past N */
    assert_non_null(strstr(cc_last_error(), "live rows"));
    in.live_begin = -1;
    assert_int_equal(train_global_loss(&in, &out), CC_ERR_INVALID);
    in.live_begin = 0;
    in.n = 0;
    assert_int_equal(train_global_loss(&in, &out), CC_ERR_INVALID);
    in.n = N;
    in.kind = (clip_loss_kind)7;
    assert_int_equal(train_global_loss(&in, &out), CC_ERR_INVALID);
    in.kind = CLIP_LOSS_CONTRASTIVE;
    img[5] = NAN;
    assert_int_equal(train_global_loss(&in, &out), CC_ERR_INVALID);
    assert_non_null(strstr(cc_last_error(), "image feature [0, 5]"));
    img[5] = 0.5f;
    train_global_loss_out none = {0};
    assert_int_equal(train_global_loss(&in, &none), CC_ERR_INVALID);
    assert_int_equal(train_global_loss(NULL, &out), CC_ERR_INVALID);
    ok(train_global_loss(&in, &out));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_contrastive_slices),
        cmocka_unit_test(test_siglip_slices),
        cmocka_unit_test(test_at_clamp),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_terms),
        cmocka_unit_test(test_plan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
