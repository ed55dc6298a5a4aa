/* AdamW kernels (backends/opencl/ocl_optim.c) on the OpenCL device against torch.optim.AdamW
 * goldens (adamw_golden.h, made by make_adamw_golden.py) and against an
 * independent double-precision AdamW written here; weight-decay groups by
 * name; clipping by global norm; accumulation equals one big batch;
 * checkpoint state round trip; the temperature clamp; vector tails and the
 * norm modes (tracked, untracked, clipping). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/clip_loss.h"
#include "tests/common/op_harness.h"
#include "tests/train/adamw_golden.h"
#include "backends/opencl/ocl_optim.h"

/* A device tensor and its host mirror. */
typedef struct dt {
    cl_mem p, g;
    int n;
} dt;

static dt dt_new(const float *p0, int n)
{
    dt t = {NULL, NULL, n};
    rt_ctx *ctx = oh_ctx();
    assert_non_null(ctx);
    assert_int_equal(rt_alloc(ctx, (size_t)n * sizeof(float), &t.p), 0);
    assert_int_equal(rt_alloc(ctx, (size_t)n * sizeof(float), &t.g), 0);
    assert_int_equal(rt_upload(ctx, t.p, 0, p0, (size_t)n * sizeof(float)), 0);
    return t;
}

static void dt_grad(dt *t, const float *g) { assert_int_equal(rt_upload(oh_ctx(), t->g, 0, g, (size_t)t->n * 4), 0); }
static void dt_read(dt *t, float *out) { assert_int_equal(rt_download(oh_ctx(), t->p, 0, out, (size_t)t->n * 4), 0); }
static void dt_free(dt *t)
{
    clReleaseMemObject(t->p);
    clReleaseMemObject(t->g);
}

static void ok(int rc)
{
    if (rc)
        print_error("%s\n", cc_last_error());
    assert_int_equal(rc, 0);
}

/* |got - want| <= atol + rtol |want| */
static void near(const char *what, const float *got, const double *want, int n, double atol, double rtol)
{
    for (int i = 0; i < n; i++) {
        double err = fabs((double)got[i] - want[i]);
        if (!(err <= atol + rtol * fabs(want[i]))) {
            print_error("%s[%d]: got %.9g want %.9g (err %.3g)\n", what, i, got[i], want[i], err);
            fail();
        }
    }
}

static void nearf(const char *what, const float *got, const float *want, int n, double atol, double rtol)
{
    double w[64];
    assert_true(n <= 64);
    for (int i = 0; i < n; i++)
        w[i] = want[i];
    near(what, got, w, n, atol, rtol);
}

/* ---- independent double AdamW ---- */
typedef struct dadam {
    double p[2048], m[2048], v[2048];
    int n;
    double wd;
} dadam;

static void dadam_init(dadam *a, const float *p0, int n, double wd)
{
    assert_true(n <= 2048);
    a->n = n;
    a->wd = wd;
    for (int i = 0; i < n; i++)
        a->p[i] = p0[i], a->m[i] = 0, a->v[i] = 0;
}

/* g already averaged and clipped. t is the 1-based step. */
static void dadam_step(dadam *a, const double *g, double lr, int t)
{
    const double b1 = 0.9, b2 = 0.98, eps = 1e-6;
    double bc1 = 1 - pow(b1, t), bc2 = 1 - pow(b2, t);
    for (int i = 0; i < a->n; i++) {
        a->p[i] *= 1 - lr * a->wd;
        a->m[i] = b1 * a->m[i] + (1 - b1) * g[i];
        a->v[i] = b2 * a->v[i] + (1 - b2) * g[i] * g[i];
        a->p[i] -= lr / bc1 * a->m[i] / (sqrt(a->v[i]) / sqrt(bc2) + eps);
    }
}

static float frand(unsigned *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (float)((*s >> 8) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
}

/* ---- tests ---- */

static void test_decay_groups(void **state)
{
    (void)state;
    static const struct { const char *name; int ndim, decays; } cases[] = {
        {"visual.conv1.weight", 4, 1},
        {"visual.transformer.resblocks.0.attn.in_proj_weight", 2, 1},
        {"visual.transformer.resblocks.0.attn.in_proj_bias", 1, 0},
        {"visual.transformer.resblocks.0.ln_1.weight", 1, 0},
        {"visual.transformer.resblocks.0.mlp.c_fc.weight", 2, 1},
        {"visual.ln_post.weight", 1, 0},
        {"visual.proj", 2, 1},
        {"text_projection", 2, 1},
        {"token_embedding.weight", 2, 0},
        {"positional_embedding", 2, 0},
        {"visual.positional_embedding", 2, 0},
        {"visual.class_embedding", 1, 0},
        {"logit_scale", 0, 0},
        {"logit_scale", 1, 0},
        {"logit_bias", 1, 0},
        {"visual.bn1.weight", 1, 0},
        {"visual.layer1.0.conv1.weight", 4, 1},
        {"visual.layer1.0.downsample.1.weight", 1, 0},
        {"visual.attnpool.positional_embedding", 2, 0},
        {"visual.attnpool.q_proj.weight", 2, 1},
        {"text_model.embeddings.token_embedding.weight", 2, 0},
        {"vision_model.embeddings.position_embedding.weight", 2, 0},
        {"vision_model.embeddings.patch_embedding.weight", 4, 1},
        {"vision_model.pre_layrnorm.weight", 1, 0},
        {"text_model.encoder.layers.0.self_attn.k_proj.weight", 2, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int got = adamw_param_decays(cases[i].name, cases[i].ndim);
        if (got != cases[i].decays) {
            print_error("%s (ndim %d): decays %d, want %d\n", cases[i].name, cases[i].ndim, got, cases[i].decays);
            fail();
        }
    }
}

/* Zero gradients make Adam's update exactly 0 (m = v = 0), so only the
 * decoupled decay moves a parameter: p (1 - lr wd) where it decays. */
static void test_decay_applied_by_group(void **state)
{
    (void)state;
    float p0[6] = {1, -2, 3, 0.5f, -0.25f, 4}, zeros[6] = {0}, got[6];
    dt w = dt_new(p0, 6), b = dt_new(p0, 6);
    dt_grad(&w, zeros), dt_grad(&b, zeros);
    ocl_optim *o;
    ok(ocl_optim_create(oh_ctx(), NULL, &o));
    int64_t sw[2] = {2, 3}, sb[1] = {6};
    int iw, ib;
    ok(ocl_optim_add(o, "visual.proj", 2, sw, w.p, w.g, &iw));
    ok(ocl_optim_add(o, "visual.ln_post.bias", 1, sb, b.p, b.g, &ib));
    assert_int_equal(ocl_optim_decays(o, iw), 1);
    assert_int_equal(ocl_optim_decays(o, ib), 0);
    ok(ocl_optim_step(o, 0.1));
    double want[6];
    for (int i = 0; i < 6; i++)
        want[i] = p0[i] * (1 - 0.1 * 0.2);
    dt_read(&w, got);
    near("decayed", got, want, 6, 0, 1e-7);
    for (int i = 0; i < 6; i++)
        want[i] = p0[i];
    dt_read(&b, got);
    near("not decayed", got, want, 6, 0, 0);
    ocl_optim_free(o);
    dt_free(&w), dt_free(&b);
}

/* Three steps against torch.optim.AdamW, with and without clip_grad_norm_. */
static void run_golden(double clip, const float *want_w, const float *want_b, const float *want_mw,
                       const float *want_vw, const float *want_mb, const float *want_vb, const float *norms)
{
    dt w = dt_new(ag_w0, 12), b = dt_new(ag_b0, 5);
    adamw_cfg cfg = adamw_defaults();
    cfg.clip_norm = clip;
    ocl_optim *o;
    ok(ocl_optim_create(oh_ctx(), &cfg, &o));
    int64_t sw[2] = {3, 4}, sb[1] = {5};
    ok(ocl_optim_add(o, "w", 2, sw, w.p, w.g, NULL));
    ok(ocl_optim_add(o, "b", 1, sb, b.p, b.g, NULL));
    for (int s = 0; s < AG_STEPS; s++) {
        dt_grad(&w, ag_gw + 12 * s), dt_grad(&b, ag_gb + 5 * s);
        ok(ocl_optim_step(o, ag_lr[s]));
        if (norms) {
            float nrm;
            ok(ocl_optim_grad_norm(o, &nrm));
            nearf("grad norm", &nrm, norms + s, 1, 0, 1e-6);
        }
    }
    float gw[12], gb[5], m[12], v[12];
    dt_read(&w, gw), dt_read(&b, gb);
    nearf("w", gw, want_w, 12, 1e-7, 1e-6);
    nearf("b", gb, want_b, 5, 1e-7, 1e-6);
    ok(ocl_optim_get_state(o, 0, m, v));
    nearf("exp_avg w", m, want_mw, 12, 1e-8, 1e-6);
    nearf("exp_avg_sq w", v, want_vw, 12, 1e-9, 1e-6);
    ok(ocl_optim_get_state(o, 1, m, v));
    nearf("exp_avg b", m, want_mb, 5, 1e-8, 1e-6);
    nearf("exp_avg_sq b", v, want_vb, 5, 1e-9, 1e-6);
    assert_int_equal(ocl_optim_steps(o), AG_STEPS);
    ocl_optim_free(o);
    dt_free(&w), dt_free(&b);
}

static void test_torch_golden_plain(void **state)
{
    (void)state;
    run_golden(0, ag_plain_w, ag_plain_b, ag_plain_mw, ag_plain_vw, ag_plain_mb, ag_plain_vb, NULL);
}

static void test_torch_golden_clip(void **state)
{
    (void)state;
    run_golden(1.0, ag_clip_w, ag_clip_b, ag_clip_mw, ag_clip_vw, ag_clip_mb, ag_clip_vb, ag_clip_norms);
}

/* Five steps on three tensors (one of odd size 37x29 spanning many
 * work-items) against the double AdamW, with clipping that is active on
 * some steps and not on others. */
static void test_vs_double(void **state)
{
    (void)state;
    enum { NA = 37 * 29, NB = 7, NC = 6 };
    static float pa[NA], pb[NB], pc[NC], ga[NA], gb[NB], gc[NC], got[NA];
    static dadam A, B, C;
    static double da[NA], db[NB], dc[NC];
    unsigned s = 7;
    for (int i = 0; i < NA; i++)
        pa[i] = frand(&s);
    for (int i = 0; i < NB; i++)
        pb[i] = frand(&s);
    for (int i = 0; i < NC; i++)
        pc[i] = frand(&s);
    dt a = dt_new(pa, NA), b = dt_new(pb, NB), c = dt_new(pc, NC);
    adamw_cfg cfg = adamw_defaults();
    cfg.clip_norm = 20.0; /* the norm of NA uniform[-1,1]*amp values: amp*sqrt(NA/3) ~ 18*amp */
    ocl_optim *o;
    ok(ocl_optim_create(oh_ctx(), &cfg, &o));
    int64_t sa[2] = {37, 29}, sb[1] = {NB}, sc[2] = {2, 3};
    ok(ocl_optim_add(o, "visual.transformer.resblocks.0.mlp.c_fc.weight", 2, sa, a.p, a.g, NULL));
    ok(ocl_optim_add(o, "visual.transformer.resblocks.0.ln_1.weight", 1, sb, b.p, b.g, NULL));
    ok(ocl_optim_add(o, "visual.class_embedding.x", 2, sc, c.p, c.g, NULL));
    dadam_init(&A, pa, NA, 0.2), dadam_init(&B, pb, NB, 0), dadam_init(&C, pc, NC, 0);
    const float amp[5] = {0.5f, 3.0f, 1.0f, 0.01f, 2.0f};
    int clipped = 0, unclipped = 0;
    for (int t = 1; t <= 5; t++) {
        double ss = 0, lr = 1e-2 / t;
        for (int i = 0; i < NA; i++)
            ga[i] = amp[t - 1] * frand(&s), ss += (double)ga[i] * ga[i];
        for (int i = 0; i < NB; i++)
            gb[i] = amp[t - 1] * frand(&s), ss += (double)gb[i] * gb[i];
        for (int i = 0; i < NC; i++)
            gc[i] = amp[t - 1] * frand(&s), ss += (double)gc[i] * gc[i];
        double norm = sqrt(ss), f = 20.0 / (norm + 1e-6);
        if (f > 1)
            f = 1, unclipped++;
        else
            clipped++;
        for (int i = 0; i < NA; i++)
            da[i] = ga[i] * f;
        for (int i = 0; i < NB; i++)
            db[i] = gb[i] * f;
        for (int i = 0; i < NC; i++)
            dc[i] = gc[i] * f;
        dadam_step(&A, da, lr, t), dadam_step(&B, db, lr, t), dadam_step(&C, dc, lr, t);
        dt_grad(&a, ga), dt_grad(&b, gb), dt_grad(&c, gc);
        ok(ocl_optim_step(o, lr));
        float nrm;
        ok(ocl_optim_grad_norm(o, &nrm));
        near("norm", &nrm, &norm, 1, 0, 1e-5);
    }
    assert_true(clipped >= 2 && unclipped >= 2); /* the case exercises both branches */
    dt_read(&a, got);
    near("a", got, A.p, NA, 2e-6, 2e-6);
    dt_read(&b, got);
    near("b", got, B.p, NB, 2e-6, 2e-6);
    dt_read(&c, got);
    near("c", got, C.p, NC, 2e-6, 2e-6);
    ocl_optim_free(o);
    dt_free(&a), dt_free(&b), dt_free(&c);
}

/* loss(w) = (1/B) sum_b x_b . w is linear, so its gradient is the batch mean
 * of x_b. K = 3 micro-batches of 2 rows (each gradient the micro-batch mean)
 * accumulated must step exactly like one batch of 6. */
static void test_accumulation_equals_big_batch(void **state)
{
    (void)state;
    enum { D = 10, B = 6, K = 3, STEPS = 3 };
    float x[STEPS][B][D], w0[D], gmicro[D], gbig[D], got_k[D], got_1[D];
    unsigned s = 99;
    for (int i = 0; i < D; i++)
        w0[i] = frand(&s);
    for (int t = 0; t < STEPS; t++)
        for (int b = 0; b < B; b++)
            for (int i = 0; i < D; i++)
                x[t][b][i] = frand(&s);
    dt wk = dt_new(w0, D), w1 = dt_new(w0, D);
    adamw_cfg ck = adamw_defaults(), c1 = adamw_defaults();
    ck.accum_steps = K;
    ck.clip_norm = c1.clip_norm = 0.3; /* the clip must see the averaged gradient */
    ocl_optim *ok_, *o1;
    ok(ocl_optim_create(oh_ctx(), &ck, &ok_));
    ok(ocl_optim_create(oh_ctx(), &c1, &o1));
    int64_t sh[2] = {2, 5};
    ok(ocl_optim_add(ok_, "fc.weight", 2, sh, wk.p, wk.g, NULL));
    ok(ocl_optim_add(o1, "fc.weight", 2, sh, w1.p, w1.g, NULL));
    assert_int_equal(ocl_optim_step(ok_, 0.01), CC_ERR_INVALID); /* nothing accumulated yet */
    for (int t = 0; t < STEPS; t++) {
        for (int k = 0; k < K; k++) {
            for (int i = 0; i < D; i++)
                gmicro[i] = (x[t][2 * k][i] + x[t][2 * k + 1][i]) / 2;
            dt_grad(&wk, gmicro);
            ok(ocl_optim_accumulate(ok_));
        }
        assert_int_equal(ocl_optim_accumulate(ok_), CC_ERR_INVALID); /* a 4th of 3 */
        for (int i = 0; i < D; i++) {
            double m = 0;
            for (int b = 0; b < B; b++)
                m += x[t][b][i];
            gbig[i] = (float)(m / B);
        }
        dt_grad(&w1, gbig);
        ok(ocl_optim_step(ok_, 0.05));
        ok(ocl_optim_step(o1, 0.05));
        float nk, n1;
        ok(ocl_optim_grad_norm(ok_, &nk));
        ok(ocl_optim_grad_norm(o1, &n1));
        assert_true(fabsf(nk - n1) <= 1e-6f * n1);
    }
    dt_read(&wk, got_k), dt_read(&w1, got_1);
    double want[D];
    for (int i = 0; i < D; i++)
        want[i] = got_1[i];
    near("accumulated vs big batch", got_k, want, D, 1e-6, 1e-6);
    for (int i = 0; i < D; i++)
        assert_true(fabsf(got_1[i] - w0[i]) > 1e-3f); /* the steps moved w */
    ocl_optim_free(ok_), ocl_optim_free(o1);
    dt_free(&wk), dt_free(&w1);
}

/* A run interrupted after 2 of 4 steps and resumed from host copies of its
 * state (as a checkpoint stores them) ends bit-identical to an
 * uninterrupted one. */
static void test_state_roundtrip_resume(void **state)
{
    (void)state;
    enum { N = 50 };
    float p0[N], g[4][N], mid[N], m[N], v[N], got_a[N], got_b[N];
    unsigned s = 5;
    for (int i = 0; i < N; i++)
        p0[i] = frand(&s);
    for (int t = 0; t < 4; t++)
        for (int i = 0; i < N; i++)
            g[t][i] = frand(&s);
    int64_t sh[2] = {5, 10};
    dt a = dt_new(p0, N);
    ocl_optim *oa;
    ok(ocl_optim_create(oh_ctx(), NULL, &oa));
    ok(ocl_optim_add(oa, "w", 2, sh, a.p, a.g, NULL));
    for (int t = 0; t < 2; t++)
        dt_grad(&a, g[t]), ok(ocl_optim_step(oa, 0.01));
    dt_read(&a, mid);
    ok(ocl_optim_get_state(oa, 0, m, v));
    int64_t steps = ocl_optim_steps(oa);
    assert_int_equal(steps, 2);
    for (int t = 2; t < 4; t++)
        dt_grad(&a, g[t]), ok(ocl_optim_step(oa, 0.01));
    dt_read(&a, got_a);

    dt b = dt_new(mid, N);
    ocl_optim *ob;
    ok(ocl_optim_create(oh_ctx(), NULL, &ob));
    ok(ocl_optim_add(ob, "w", 2, sh, b.p, b.g, NULL));
    ok(ocl_optim_set_state(ob, 0, m, v));
    ocl_optim_set_steps(ob, steps);
    for (int t = 2; t < 4; t++)
        dt_grad(&b, g[t]), ok(ocl_optim_step(ob, 0.01));
    dt_read(&b, got_b);
    assert_memory_equal(got_a, got_b, sizeof got_a);
    ocl_optim_free(oa), ocl_optim_free(ob);
    dt_free(&a), dt_free(&b);
}

/* The temperature is clamped to [0, ln 100] inside the update. */
static void test_logit_scale_clamp(void **state)
{
    (void)state;
    float t0[1] = {4.6f}, up[1] = {-1.0f}, down[1] = {1.0f}, got[1];
    dt t = dt_new(t0, 1);
    ocl_optim *o;
    ok(ocl_optim_create(oh_ctx(), NULL, &o));
    int64_t sh[1] = {1};
    int i;
    ok(ocl_optim_add(o, "logit_scale", 1, sh, t.p, t.g, &i));
    ok(ocl_optim_set_clamp(o, i, CLIP_LOGIT_SCALE_MIN, CLIP_LOGIT_SCALE_MAX));
    assert_int_equal(ocl_optim_set_clamp(o, i, 1.0f, 0.0f), CC_ERR_INVALID);
    dt_grad(&t, up);
    ok(ocl_optim_step(o, 0.1)); /* first Adam step moves by lr: 4.7 > ln 100 */
    dt_read(&t, got);
    assert_true(got[0] == CLIP_LOGIT_SCALE_MAX);
    assert_true(fabs(exp((double)got[0]) - 100.0) < 1e-4);
    ocl_optim_free(o);
    dt_free(&t);
    /* a fresh optimizer, so the first step again moves by lr: 0.05 - 0.1 < 0 */
    float low[1] = {0.05f};
    t = dt_new(low, 1);
    ok(ocl_optim_create(oh_ctx(), NULL, &o));
    ok(ocl_optim_add(o, "logit_scale", 1, sh, t.p, t.g, &i));
    ok(ocl_optim_set_clamp(o, i, CLIP_LOGIT_SCALE_MIN, CLIP_LOGIT_SCALE_MAX));
    dt_grad(&t, down);
    ok(ocl_optim_step(o, 0.1));
    dt_read(&t, got);
    assert_true(got[0] == 0.0f);
    ocl_optim_free(o);
    dt_free(&t);
}

/* Enough elements that the finalize's work-items each sum several partials
 * (300001 / 512 partials > 256), over two tensors; norm vs a double sum. */
static void test_grad_norm_large(void **state)
{
    (void)state;
    enum { NA = 300001, NB = 3 };
    float *ga = malloc(sizeof(float) * NA), *pa = calloc(NA, sizeof(float));
    assert_non_null(ga), assert_non_null(pa);
    float gb[NB] = {3, -4, 12}, pb[NB] = {0};
    unsigned s = 77;
    double ss = 0;
    for (int i = 0; i < NA; i++)
        ga[i] = frand(&s), ss += (double)ga[i] * ga[i];
    ss += 9 + 16 + 144;
    dt a = dt_new(pa, NA), b = dt_new(pb, NB);
    dt_grad(&a, ga), dt_grad(&b, gb);
    ocl_optim *o;
    ok(ocl_optim_create(oh_ctx(), NULL, &o));
    int64_t sa[1] = {NA}, sb[1] = {NB};
    ok(ocl_optim_add(o, "a.weight", 1, sa, a.p, a.g, NULL));
    ok(ocl_optim_add(o, "b.weight", 1, sb, b.p, b.g, NULL));
    ok(ocl_optim_step(o, 1e-3));
    float nrm;
    ok(ocl_optim_grad_norm(o, &nrm));
    double want = sqrt(ss);
    near("large norm", &nrm, &want, 1, 0, 1e-6);
    ocl_optim_free(o);
    dt_free(&a), dt_free(&b);
    free(ga), free(pa);
}

/* Tensor sizes around the kernels' float8 vectors and work-item chunks (a
 * CPU work-item owns 512 elements, a GPU one 8): scalar tails, a single
 * element, exact multiples, one past. Four optimizers see the same
 * gradients and must end bit-identical: clipping off with the norm tracked
 * (folded into the update), off and untracked (no norm: grad_norm must
 * refuse), on with a limit never reached (separate sum-of-squares pass), and
 * K = 2 accumulating the same gradient twice ((g + g) / 2 == g exactly).
 * The first is also checked against the double AdamW and its norm against
 * a double sum. */
static void test_tails_and_norm_modes(void **state)
{
    (void)state;
    enum { NT = 12, NO = 4, STEPS = 3 };
    static const int sizes[NT] = {1, 7, 8, 9, 255, 256, 257, 511, 512, 513, 1543, 2047};
    static float p0[2048], g[NT][2048], got[2048];
    static dadam ref[NT];
    static double dg[2048];
    dt t[NO][NT];
    ocl_optim *o[NO];
    unsigned s = 2024;
    for (int k = 0; k < NO; k++) {
        adamw_cfg c = adamw_defaults();
        c.track_grad_norm = k != 1;
        c.clip_norm = k == 2 ? 1e9 : 0;
        c.accum_steps = k == 3 ? 2 : 1;
        ok(ocl_optim_create(oh_ctx(), &c, &o[k]));
    }
    for (int i = 0; i < NT; i++) {
        for (int j = 0; j < sizes[i]; j++)
            p0[j] = frand(&s);
        dadam_init(&ref[i], p0, sizes[i], 0.2);
        int64_t sh[2] = {1, sizes[i]};
        char name[32];
        snprintf(name, sizeof name, "t%d.weight", i);
        for (int k = 0; k < NO; k++) {
            t[k][i] = dt_new(p0, sizes[i]);
            ok(ocl_optim_add(o[k], name, 2, sh, t[k][i].p, t[k][i].g, NULL));
        }
    }
    for (int step = 1; step <= STEPS; step++) {
        double ss = 0, lr = 3e-2 / step;
        for (int i = 0; i < NT; i++) {
            for (int j = 0; j < sizes[i]; j++)
                g[i][j] = frand(&s) * (float)step, dg[j] = g[i][j], ss += dg[j] * dg[j];
            dadam_step(&ref[i], dg, lr, step);
            for (int k = 0; k < NO; k++)
                dt_grad(&t[k][i], g[i]);
        }
        ok(ocl_optim_accumulate(o[3]));
        ok(ocl_optim_accumulate(o[3]));
        for (int k = 0; k < NO; k++)
            ok(ocl_optim_step(o[k], lr));
        float nrm[NO];
        double want = sqrt(ss);
        for (int k = 0; k < NO; k++) {
            if (k == 1) {
                assert_int_equal(ocl_optim_grad_norm(o[k], &nrm[k]), CC_ERR_INVALID);
                continue;
            }
            ok(ocl_optim_grad_norm(o[k], &nrm[k]));
            near("norm", &nrm[k], &want, 1, 0, 1e-6);
        }
    }
    for (int i = 0; i < NT; i++) {
        dt_read(&t[0][i], got);
        near("tail vs double", got, ref[i].p, sizes[i], 2e-6, 2e-6);
        for (int k = 1; k < NO; k++) {
            static float other[2048];
            dt_read(&t[k][i], other);
            if (memcmp(got, other, sizeof(float) * (size_t)sizes[i])) {
                print_error("tensor %d (size %d): optimizer %d differs from the tracked one\n", i, sizes[i], k);
                fail();
            }
        }
    }
    for (int k = 0; k < NO; k++) {
        ocl_optim_free(o[k]);
        for (int i = 0; i < NT; i++)
            dt_free(&t[k][i]);
    }
}

static void test_bad_arguments(void **state)
{
    (void)state;
    adamw_cfg c = adamw_defaults();
    ocl_optim *o = NULL;
    c.beta2 = 1.0;
    assert_int_equal(ocl_optim_create(oh_ctx(), &c, &o), CC_ERR_INVALID);
    assert_null(o);
    c = adamw_defaults();
    c.accum_steps = 0;
    assert_int_equal(ocl_optim_create(oh_ctx(), &c, &o), CC_ERR_INVALID);
    ok(ocl_optim_create(oh_ctx(), NULL, &o));
    assert_int_equal(ocl_optim_step(o, 0.1), CC_ERR_INVALID); /* no parameters */
    assert_int_equal(ocl_optim_accumulate(o), CC_ERR_INVALID); /* K = 1 */
    float p[2] = {1, 2};
    dt t = dt_new(p, 2);
    int64_t bad[1] = {0};
    assert_int_equal(ocl_optim_add(o, "w", 1, bad, t.p, t.g, NULL), CC_ERR_SHAPE);
    assert_int_equal(ocl_optim_step(o, -1.0), CC_ERR_INVALID);
    assert_int_equal(ocl_optim_get_state(o, 3, p, p), CC_ERR_INVALID);
    ocl_optim_free(o);
    dt_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decay_groups),
        cmocka_unit_test(test_decay_applied_by_group),
        cmocka_unit_test(test_torch_golden_plain),
        cmocka_unit_test(test_torch_golden_clip),
        cmocka_unit_test(test_vs_double),
        cmocka_unit_test(test_accumulation_equals_big_batch),
        cmocka_unit_test(test_state_roundtrip_resume),
        cmocka_unit_test(test_logit_scale_clamp),
        cmocka_unit_test(test_grad_norm_large),
        cmocka_unit_test(test_tails_and_norm_modes),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
