/* CLIP's losses (models/clip_loss.c) on the ref backend against
 * double-precision computations written here: both cross-entropy directions,
 * the temperature at its clamp (logit gaps of 200, where a log of a softmax
 * would underflow), SigLIP, and gradients from g_backward against central
 * differences of the double loss. */
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

#define MAXN 8
#define MAXE 8

/* ---- double references ---- */
static void d_cos(int n, int e, const double *I, const double *T, double *cos)
{
    double ni[MAXN], nt[MAXN];
    for (int i = 0; i < n; i++) {
        double a = 0, b = 0;
        for (int k = 0; k < e; k++)
            a += I[i * e + k] * I[i * e + k], b += T[i * e + k] * T[i * e + k];
        ni[i] = fmax(sqrt(a), 1e-12), nt[i] = fmax(sqrt(b), 1e-12);
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double d = 0;
            for (int k = 0; k < e; k++)
                d += I[i * e + k] * T[j * e + k];
            cos[i * n + j] = d / (ni[i] * nt[j]);
        }
}

/* Mean over rows (dir 0) or columns (dir 1) of lse - diagonal, lse with
 * the max shift. */
static double d_ce(int n, const double *x, int dir)
{
    double total = 0;
    for (int i = 0; i < n; i++) {
        double m = -INFINITY, s = 0;
        for (int j = 0; j < n; j++)
            m = fmax(m, dir ? x[j * n + i] : x[i * n + j]);
        for (int j = 0; j < n; j++)
            s += exp((dir ? x[j * n + i] : x[i * n + j]) - m);
        total += m + log(s) - x[i * n + i];
    }
    return total / n;
}

static double d_contrastive(int n, int e, const double *I, const double *T, double t, double *ce_row,
                            double *ce_col, double *logits)
{
    double cos[MAXN * MAXN], x[MAXN * MAXN];
    d_cos(n, e, I, T, cos);
    for (int i = 0; i < n * n; i++)
        x[i] = exp(t) * cos[i];
    if (logits)
        memcpy(logits, x, sizeof(double) * n * n);
    double r = d_ce(n, x, 0), c = d_ce(n, x, 1);
    if (ce_row)
        *ce_row = r, *ce_col = c;
    return (r + c) / 2;
}

static double d_siglip(int n, int e, const double *I, const double *T, double t, double b)
{
    double cos[MAXN * MAXN], total = 0;
    d_cos(n, e, I, T, cos);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double u = (i == j ? 1.0 : -1.0) * (exp(t) * cos[i * n + j] + b);
            total += fmin(u, 0.0) - log1p(exp(-fabs(u)));
        }
    return -total / n;
}

/* ---- graph helpers ---- */
typedef struct lg {
    graph *g;
    clip_loss L;
    int img, txt;
    void **d;
    float I[MAXN * MAXE], T[MAXN * MAXE], t, b, labels[MAXN * MAXN];
} lg;

static void ok(int rc)
{
    if (rc)
        print_error("%s\n", cc_last_error());
    assert_int_equal(rc, 0);
}

/* Features as params so that g_backward can differentiate them too. */
static void lg_build(lg *s, int n, int e, clip_loss_kind kind, const double *I, const double *T, double t,
                     double b)
{
    s->g = g_new();
    const int64_t sh[2] = {n, e};
    s->img = g_param(s->g, "img", 2, sh);
    s->txt = g_param(s->g, "txt", 2, sh);
    ok(clip_loss_build(s->g, s->img, s->txt, kind, &s->L));
    g_mark_output(s->g, s->L.logits);
    for (int i = 0; i < n * e; i++)
        s->I[i] = (float)I[i], s->T[i] = (float)T[i];
    s->t = (float)t, s->b = (float)b;
    clip_loss_fill_labels(kind, n, s->labels);
}

static void lg_bind(lg *s)
{
    s->d = calloc((size_t)s->g->n_tensors, sizeof *s->d);
    assert_non_null(s->d);
    s->d[s->img] = s->I, s->d[s->txt] = s->T, s->d[s->L.logit_scale] = &s->t, s->d[s->L.labels] = s->labels;
    if (s->L.logit_bias >= 0)
        s->d[s->L.logit_bias] = &s->b;
}

static float lg_eval(lg *s)
{
    lg_bind(s);
    ok(ref_eval(s->g, s->d));
    return ((float *)s->d[s->L.loss])[0];
}

static void lg_free(lg *s)
{
    ref_free_acts(s->g, s->d);
    free(s->d);
    g_free(s->g);
}

static void fill(double *a, int n, unsigned seed)
{
    for (int i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        a[i] = (double)(float)((seed >> 8) * (1.0 / 16777216.0) * 2.0 - 1.0);
    }
}

static void expect_close(const char *what, double got, double want, double rtol)
{
    if (!(fabs(got - want) <= rtol * fmax(1.0, fabs(want)))) {
        print_error("%s: got %.9g want %.9g\n", what, got, want);
        fail();
    }
}

/* ---- tests ---- */

static void test_contrastive_random(void **state)
{
    (void)state;
    enum { N = 5, E = 7 };
    double I[N * E], T[N * E], r, c, logits[N * N];
    fill(I, N * E, 1), fill(T, N * E, 2);
    double t = clip_loss_init_scale(CLIP_LOSS_CONTRASTIVE);
    double want = d_contrastive(N, E, I, T, (float)t, &r, &c, logits);
    assert_true(fabs(r - c) > 1e-2); /* the two directions differ here, so both are checked */
    lg s;
    lg_build(&s, N, E, CLIP_LOSS_CONTRASTIVE, I, T, t, 0);
    float got = lg_eval(&s);
    expect_close("loss", got, want, 2e-6);
    const float *gl = s.d[s.L.logits];
    for (int i = 0; i < N * N; i++)
        expect_close("logits", gl[i], logits[i], 2e-6);
    assert_int_equal(s.L.logit_bias, -1);
    lg_free(&s);
}

/* exp(t) at its clamp 100 with anti-aligned pairs: row 0's correct logit is
 * -100 and another is +100, a cross-entropy of ~200 (exp(-200) underflows
 * f32, so only a shifted log-sum-exp gets this right). */
static void test_contrastive_at_clamp(void **state)
{
    (void)state;
    enum { N = 3, E = 3 };
    const double I[N * E] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    const double T[N * E] = {-1, 0, 0, 1, 0, 0, 0, 0, 1};
    double r, c;
    double want = d_contrastive(N, E, I, T, (double)CLIP_LOGIT_SCALE_MAX, &r, &c, NULL);
    assert_true(r > 60); /* row 0 alone contributes ~200/3 */
    lg s;
    lg_build(&s, N, E, CLIP_LOSS_CONTRASTIVE, I, T, CLIP_LOGIT_SCALE_MAX, 0);
    float got = lg_eval(&s);
    assert_true(isfinite(got));
    expect_close("loss at exp(t) = 100", got, want, 1e-5);
    lg_free(&s);
}

static void test_temperature_values(void **state)
{
    (void)state;
    expect_close("exp(init)", exp(clip_loss_init_scale(CLIP_LOSS_CONTRASTIVE)), 1 / 0.07, 1e-6);
    expect_close("exp(siglip init)", exp(clip_loss_init_scale(CLIP_LOSS_SIGLIP)), 10, 1e-6);
    assert_true(clip_loss_init_bias() == -10.0f);
    expect_close("exp(max)", exp(CLIP_LOGIT_SCALE_MAX), 100, 1e-6);
    assert_true(clip_logit_scale_clamp(5.0f) == CLIP_LOGIT_SCALE_MAX);
    assert_true(clip_logit_scale_clamp(-0.5f) == 0.0f);
    assert_true(clip_logit_scale_clamp(2.5f) == 2.5f);
    /* the loss sees exp(t): doubling the temperature's exp doubles every logit */
    enum { N = 4, E = 5 };
    double I[N * E], T[N * E];
    fill(I, N * E, 3), fill(T, N * E, 4);
    lg a, b;
    lg_build(&a, N, E, CLIP_LOSS_CONTRASTIVE, I, T, 1.0, 0);
    lg_build(&b, N, E, CLIP_LOSS_CONTRASTIVE, I, T, 1.0 + log(2.0), 0);
    lg_eval(&a), lg_eval(&b);
    const float *la = a.d[a.L.logits], *lb = b.d[b.L.logits];
    for (int i = 0; i < N * N; i++)
        expect_close("2x logits", lb[i], 2.0 * la[i], 1e-6);
    lg_free(&a), lg_free(&b);
}

static void test_siglip(void **state)
{
    (void)state;
    enum { N = 4, E = 6 };
    double I[N * E], T[N * E];
    fill(I, N * E, 5), fill(T, N * E, 6);
    double t = clip_loss_init_scale(CLIP_LOSS_SIGLIP), b = clip_loss_init_bias();
    lg s;
    lg_build(&s, N, E, CLIP_LOSS_SIGLIP, I, T, t, b);
    assert_true(s.L.logit_bias >= 0);
    expect_close("siglip", lg_eval(&s), d_siglip(N, E, I, T, (float)t, b), 2e-6);
    lg_free(&s);
    /* |u| up to 100: log sigmoid(-100) = -100 - log1p(e^-100) needs the stable form */
    const double I3[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1}, T3[9] = {-1, 0, 0, 1, 0, 0, 0, 0, 1};
    lg_build(&s, 3, 3, CLIP_LOSS_SIGLIP, I3, T3, CLIP_LOGIT_SCALE_MAX, 0);
    float got = lg_eval(&s);
    double want = d_siglip(3, 3, I3, T3, (double)CLIP_LOGIT_SCALE_MAX, 0);
    assert_true(want > 60);
    expect_close("siglip at clamp", got, want, 1e-5);
    lg_free(&s);
}

static void test_build_errors_and_reuse(void **state)
{
    (void)state;
    graph *g = g_new();
    const int64_t a[2] = {3, 4}, b[2] = {3, 5}, one[1] = {1}, two[1] = {2};
    int i = g_input(g, "i", G_F32, 2, a), t = g_input(g, "t", G_F32, 2, b);
    clip_loss L;
    assert_int_equal(clip_loss_build(g, i, t, CLIP_LOSS_CONTRASTIVE, &L), CC_ERR_SHAPE);
    assert_non_null(strstr(cc_last_error(), "[3, 5]"));
    int t2 = g_input(g, "t2", G_F32, 2, a);
    int ls = g_param(g, "logit_scale", 1, one);
    ok(clip_loss_build(g, i, t2, CLIP_LOSS_CONTRASTIVE, &L));
    assert_int_equal(L.logit_scale, ls);
    g_free(g);
    g = g_new();
    i = g_input(g, "i", G_F32, 2, a), t = g_input(g, "t", G_F32, 2, a);
    g_param(g, "logit_scale", 1, two);
    assert_int_equal(clip_loss_build(g, i, t, CLIP_LOSS_CONTRASTIVE, &L), CC_ERR_SHAPE);
    g_free(g);
}

/* g_backward through the loss vs central differences of the double loss. */
static void check_grads(clip_loss_kind kind, double t, double b, unsigned seed)
{
    enum { N = 4, E = 5 };
    double I[N * E], T[N * E];
    fill(I, N * E, seed), fill(T, N * E, seed + 1);
    lg s;
    lg_build(&s, N, E, kind, I, T, t, b);
    t = s.t, b = s.b; /* the f32 values the graph sees */
    int wrt[4] = {s.img, s.txt, s.L.logit_scale, s.L.logit_bias}, grads[4], seed_t;
    int nw = kind == CLIP_LOSS_SIGLIP ? 4 : 3;
    ok(g_backward(s.g, s.L.loss, nw, wrt, grads, &seed_t));
    lg_bind(&s);
    float one = 1.0f;
    s.d[seed_t] = &one;
    ok(ref_eval(s.g, s.d));
    const double h = 1e-5;
#define LOSS_AT() \
    (kind == CLIP_LOSS_SIGLIP ? d_siglip(N, E, I, T, t, b) : d_contrastive(N, E, I, T, t, NULL, NULL, NULL))
    double *vars[2] = {I, T};
    for (int w = 0; w < 2; w++)
        for (int k = 0; k < N * E; k++) {
            double keep = vars[w][k];
            vars[w][k] = keep + h;
            double up = LOSS_AT();
            vars[w][k] = keep - h;
            double dn = LOSS_AT();
            vars[w][k] = keep;
            double fd = (up - dn) / (2 * h), got = ((float *)s.d[grads[w]])[k];
            if (!(fabs(got - fd) <= 1e-4 + 1e-3 * fabs(fd))) {
                print_error("d loss / d %s[%d]: autodiff %.7g, finite difference %.7g\n", w ? "txt" : "img", k,
                            got, fd);
                fail();
            }
        }
    double *sc[2] = {&t, &b};
    for (int w = 0; w < nw - 2; w++) {
        double keep = *sc[w];
        *sc[w] = keep + h;
        double up = LOSS_AT();
        *sc[w] = keep - h;
        double dn = LOSS_AT();
        *sc[w] = keep;
        double fd = (up - dn) / (2 * h), got = ((float *)s.d[grads[2 + w]])[0];
        if (!(fabs(got - fd) <= 1e-4 + 1e-3 * fabs(fd))) {
            print_error("d loss / d %s: autodiff %.7g, finite difference %.7g\n", w ? "bias" : "scale", got, fd);
            fail();
        }
        assert_true(fabs(fd) > 1e-3); /* the check has teeth */
    }
#undef LOSS_AT
    lg_free(&s);
}

static void test_grad_contrastive(void **state)
{
    (void)state;
    check_grads(CLIP_LOSS_CONTRASTIVE, log(1 / 0.07), 0, 11);
    check_grads(CLIP_LOSS_CONTRASTIVE, 1.5, 0, 13);
}

static void test_grad_siglip(void **state)
{
    (void)state;
    check_grads(CLIP_LOSS_SIGLIP, 1.0, -0.5, 17);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_contrastive_random),
        cmocka_unit_test(test_contrastive_at_clamp),
        cmocka_unit_test(test_temperature_values),
        cmocka_unit_test(test_siglip),
        cmocka_unit_test(test_build_errors_and_reuse),
        cmocka_unit_test(test_grad_contrastive),
        cmocka_unit_test(test_grad_siglip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
