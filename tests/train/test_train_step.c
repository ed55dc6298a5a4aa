/* One full CLIP training step against PyTorch: a tiny ViT
 * CLIP and a tiny ResNet CLIP (BatchNorm in training mode), batch 4,
 * symmetric contrastive loss, goldens from tests/reference/
 * make_train_goldens.py (PyTorch float64, stored as f32).
 *
 * For each model, on the ref backend and on OpenCL (when every op of the
 * joint graph lowers; otherwise the OpenCL case is reported and skipped):
 *  - the loss: relative error <= 1e-4;
 *  - every parameter's gradient: ||g - g_ref|| / ||g_ref|| <= 1e-3 per
 *    checkpoint tensor; tensors whose exact gradient is
 *    zero must be tiny instead (train_step_util.h);
 *  - BatchNorm running statistics after the step (batch statistics from the
 *    graph, PyTorch's momentum update): relative error <= 1e-4 per tensor.
 * Then one AdamW step through backends/opencl/ocl_optim.h (OpenCL kernels):
 *  - from PyTorch's own gradients: the parameters must equal PyTorch's
 *    parameters after its AdamW step to within 1e-3 lr per element (a few
 *    f32 ulps of the parameter);
 *  - from the gradients computed here (the whole pipeline): within 0.5 lr
 *    per element and 0.01 lr RMS per tensor (compare_after says why). */
#include "train_step_util.h"

#include "backends/opencl/ocl_backend.h"
#include "backends/ref/ref.h"
#include "tests/common/op_harness.h"
#include "backends/opencl/ocl_optim.h"

#define TS_LR 1e-3

/* ---- BatchNorm running statistics ---- */
static void check_bn(const clip_train_graph *tg, float *const *bmean, float *const *bvar,
                     const ts_golden *gd, const char *what)
{
    if (!tg->n_bn) {
        assert_null(gd->bn_after);
        return;
    }
    assert_non_null(gd->bn_after);
    assert_int_equal((int)st_count(gd->bn_after), 2 * tg->n_bn);
    double worst = 0;
    for (int i = 0; i < tg->n_bn; i++) {
        const clip_bn_stat *s = &tg->bn[i];
        char km[G_NAME_LEN + 16], kv[G_NAME_LEN + 16];
        snprintf(km, sizeof km, "%srunning_mean", s->prefix);
        snprintf(kv, sizeof kv, "%srunning_var", s->prefix);
        const clip_weight *wm = clip_wmap_find(gd->model->w, km), *wv = clip_wmap_find(gd->model->w, kv);
        assert_true(wm && wv && wm->numel == s->channels && wv->numel == s->channels);
        float *rm = malloc((size_t)s->channels * sizeof *rm), *rv = malloc((size_t)s->channels * sizeof *rv);
        assert_true(rm && rv);
        memcpy(rm, wm->data, (size_t)s->channels * sizeof *rm);
        memcpy(rv, wv->data, (size_t)s->channels * sizeof *rv);
        clip_bn_update_running(rm, rv, bmean[i], bvar[i], s->channels, s->count, 0.1f);
        for (int which = 0; which < 2; which++) {
            int64_t n;
            float *ref = ts_load(gd->bn_after, which ? kv : km, &n);
            const float *got = which ? rv : rm;
            assert_int_equal(n, s->channels);
            double d2 = 0, r2 = 0;
            for (int64_t j = 0; j < n; j++) {
                d2 += ((double)got[j] - ref[j]) * ((double)got[j] - ref[j]);
                r2 += (double)ref[j] * ref[j];
            }
            double err = sqrt(d2 / r2);
            if (!(err <= 1e-4)) {
                print_error("%s '%s': rel err %.3e > 1e-4\n", what, which ? kv : km, err);
                fail();
            }
            worst = fmax(worst, err);
            free(ref);
        }
        free(rm);
        free(rv);
    }
    printf("  %-30s %d layers, worst rel err %.2e\n", what, tg->n_bn, worst);
}

/* ---- AdamW through backends/opencl/ocl_optim.h ---- */

/* PyTorch's gradients, split per graph param (malloc'd arrays). */
static float **golden_grads(const clip_train_graph *tg, const ts_golden *gd)
{
    float **g = calloc((size_t)tg->t->n_params, sizeof *g);
    assert_non_null(g);
    for (int i = 0; i < tg->t->n_params; i++) {
        char key[G_NAME_LEN];
        int64_t off, cnt, n;
        ts_param_block(tg, i, key, sizeof key, &off, &cnt);
        float *all = ts_load(gd->grads, key, &n);
        assert_true(off + cnt <= n);
        g[i] = malloc((size_t)cnt * sizeof *g[i]);
        assert_non_null(g[i]);
        memcpy(g[i], all + off, (size_t)cnt * sizeof *g[i]);
        free(all);
    }
    return g;
}

static void free_arrays(float **a, int n)
{
    for (int i = 0; a && i < n; i++)
        free(a[i]);
    free(a);
}

/* One AdamW step (lr TS_LR, CLIP's defaults, logit_scale clamped) from the
 * params in the weight map and grads; returns the new params per graph param. */
static float **adamw_step(const clip_train_graph *tg, float *const *grads)
{
    rt_ctx *ctx = oh_ctx();
    assert_non_null(ctx);
    int np = tg->t->n_params;
    ocl_optim *o = NULL;
    ts_ok(ocl_optim_create(ctx, NULL, &o), "ocl_optim_create");
    cl_mem *pm = calloc((size_t)np, sizeof *pm), *gm = calloc((size_t)np, sizeof *gm);
    float **after = calloc((size_t)np, sizeof *after);
    assert_true(pm && gm && after);
    for (int i = 0; i < np; i++) {
        const g_tensor *T = &tg->g->tensors[tg->t->param_t[i]];
        size_t bytes = g_nbytes(tg->g, tg->t->param_t[i]);
        ts_ok(rt_alloc(ctx, bytes, &pm[i]), "rt_alloc");
        ts_ok(rt_alloc(ctx, bytes, &gm[i]), "rt_alloc");
        ts_ok(rt_upload(ctx, pm[i], 0, tg->t->param_data[i], bytes), "rt_upload");
        ts_ok(rt_upload(ctx, gm[i], 0, grads[i], bytes), "rt_upload");
        int idx = -1;
        ts_ok(ocl_optim_add(o, T->name, T->ndim, T->shape, pm[i], gm[i], &idx), T->name);
        if (strcmp(T->name, "logit_scale") == 0)
            ts_ok(ocl_optim_set_clamp(o, idx, CLIP_LOGIT_SCALE_MIN, CLIP_LOGIT_SCALE_MAX), "clamp");
    }
    ts_ok(ocl_optim_step(o, TS_LR), "ocl_optim_step");
    for (int i = 0; i < np; i++) {
        size_t bytes = g_nbytes(tg->g, tg->t->param_t[i]);
        after[i] = malloc(bytes);
        assert_non_null(after[i]);
        ts_ok(rt_download(ctx, pm[i], 0, after[i], bytes), "rt_download");
        clReleaseMemObject(pm[i]);
        clReleaseMemObject(gm[i]);
    }
    ocl_optim_free(o);
    free(pm);
    free(gm);
    return after;
}

/* Parameters after the step against PyTorch's, per tensor, in units of the
 * learning rate: the largest |p - p_ref| / lr must be <= max_tol and the
 * root mean square <= rms_tol. Adam's first step moves each element by about
 * lr * g / (|g| + eps), so where |g| is near eps = 1e-6 an f32 rounding of g
 * moves the result by a visible fraction of lr: the RMS bounds the typical
 * element, the maximum rules out a sign flip of any real gradient (2 lr).
 * With skip_zero, params whose exact gradient is zero (the key rows of a
 * packed in_proj bias, an attention pool's k_proj bias) are left out: their
 * step is lr * noise / (|noise| + eps), set by rounding alone. */
static void compare_after(const clip_train_graph *tg, float *const *after, const ts_golden *gd,
                          const char *what, double max_tol, double rms_tol, int skip_zero)
{
    double worst = 0, worst_rms = 0, all = ts_norm_all(gd->grads);
    char worst_name[G_NAME_LEN] = "";
    int skipped = 0;
    for (int i = 0; i < tg->t->n_params; i++) {
        char key[G_NAME_LEN];
        int64_t off, cnt, n;
        ts_param_block(tg, i, key, sizeof key, &off, &cnt);
        if (skip_zero && ts_is_zero(ts_norm(gd->grads, key, off, cnt), all)) {
            skipped++;
            continue;
        }
        float *ref = ts_load(gd->after, key, &n);
        double e = 0, s2 = 0;
        for (int64_t j = 0; j < cnt; j++) {
            double d = fabs((double)after[i][j] - ref[off + j]) / TS_LR;
            e = fmax(e, d);
            s2 += d * d;
        }
        double rms = sqrt(s2 / (double)cnt);
        const char *name = tg->g->tensors[tg->t->param_t[i]].name;
        if (!(e <= max_tol) || !(rms <= rms_tol)) {
            print_error("%s '%s': |p - p_ref| max %.3e lr (limit %.1e), rms %.3e lr (limit %.1e)\n",
                        what, name, e, max_tol, rms, rms_tol);
            fail();
        }
        if (e > worst) {
            worst = e;
            snprintf(worst_name, sizeof worst_name, "%s", name);
        }
        worst_rms = fmax(worst_rms, rms);
        free(ref);
    }
    assert_int_equal((int)st_count(gd->after), (int)st_count(gd->grads));
    printf("  %-30s |p - p_ref| worst max %.2e lr (%s), worst rms %.2e lr", what, worst,
           worst_name, worst_rms);
    printf(skipped ? "; %d params with exact-zero gradient left out\n" : "\n", skipped);
}

static void check_adamw(const clip_train_graph *tg, float *const *mine, const ts_golden *gd)
{
    float **gg = golden_grads(tg, gd);
    float **a = adamw_step(tg, gg);
    compare_after(tg, a, gd, "AdamW from PyTorch's grads", 1e-3, 1e-4, 0);
    free_arrays(a, tg->t->n_params);
    a = adamw_step(tg, mine);
    compare_after(tg, a, gd, "AdamW from these grads", 0.5, 0.01, 1);
    free_arrays(a, tg->t->n_params);
    free_arrays(gg, tg->t->n_params);
}

/* ---- the step on each backend ---- */
static void step_ref(const char *dir)
{
    ts_golden gd;
    ts_golden_read(dir, &gd);
    clip_train_graph *tg = ts_build(&gd);
    printf("%s, ref backend: %d params, %d graph nodes, %d BatchNorm layers\n", dir,
           tg->t->n_params, tg->g->n_nodes, tg->n_bn);
    void **slots = calloc((size_t)tg->g->n_tensors, sizeof *slots);
    assert_non_null(slots);
    ts_ok(clip_train_bind(tg, slots, gd.px.data, gd.ids.data), "clip_train_bind");
    ts_ok(ref_eval(tg->g, slots), "ref_eval");
    ts_compare_loss("loss", ((float *)slots[tg->loss.loss])[0], &gd);
    float **grads = calloc((size_t)tg->t->n_params, sizeof *grads);
    float **bm = calloc((size_t)tg->n_bn + 1, sizeof *bm), **bv = calloc((size_t)tg->n_bn + 1, sizeof *bv);
    assert_true(grads && bm && bv);
    for (int i = 0; i < tg->t->n_params; i++)
        grads[i] = slots[tg->grad_t[i]];
    for (int i = 0; i < tg->n_bn; i++) {
        bm[i] = slots[tg->bn[i].mean];
        bv[i] = slots[tg->bn[i].var];
    }
    ts_compare_params(tg, grads, gd.grads, "gradients", 1e-3, 1e-6);
    check_bn(tg, bm, bv, &gd, "BatchNorm running stats");
    if (oh_ctx() && gd.after)
        check_adamw(tg, grads, &gd);
    else
        printf("  AdamW: no OpenCL context, optimizer checks not run\n");
    free(grads);
    free(bm);
    free(bv);
    ref_free_acts(tg->g, slots);
    free(slots);
    clip_train_free(tg);
    ts_golden_free(&gd);
}

static float *read_back(ocl_plan *p, const graph *g, int t)
{
    float *d = malloc(g_nbytes(g, t));
    assert_non_null(d);
    ts_ok(ocl_plan_read(p, t, d, g_nbytes(g, t)), "ocl_plan_read");
    return d;
}

static void step_ocl(const char *dir)
{
    rt_ctx *ctx = oh_ctx();
    if (!ctx) {
        printf("%s, OpenCL: no context: skipped\n", dir);
        skip();
    }
    ts_golden gd;
    ts_golden_read(dir, &gd);
    clip_train_graph *tg = ts_build(&gd);
    ocl_plan *p = NULL;
    int rc = ocl_plan_create(ctx, tg->g, &p);
    if (rc) {
        clip_train_free(tg);
        ts_golden_free(&gd);
        fail_msg("%s, OpenCL: the training graph does not lower: %s", dir, cc_last_error());
    }
    printf("%s, OpenCL backend:\n", dir);
    void **slots = calloc((size_t)tg->g->n_tensors, sizeof *slots);
    assert_non_null(slots);
    ts_ok(clip_train_bind(tg, slots, gd.px.data, gd.ids.data), "clip_train_bind");
    for (int t = 0; t < tg->g->n_tensors; t++)
        if (slots[t])
            ts_ok(ocl_plan_write(p, t, slots[t], g_nbytes(tg->g, t)), tg->g->tensors[t].name);
    ts_ok(ocl_plan_run(p), "ocl_plan_run");
    float *loss = read_back(p, tg->g, tg->loss.loss);
    ts_compare_loss("loss", loss[0], &gd);
    free(loss);
    float **grads = calloc((size_t)tg->t->n_params, sizeof *grads);
    float **bm = calloc((size_t)tg->n_bn + 1, sizeof *bm), **bv = calloc((size_t)tg->n_bn + 1, sizeof *bv);
    assert_true(grads && bm && bv);
    for (int i = 0; i < tg->t->n_params; i++)
        grads[i] = read_back(p, tg->g, tg->grad_t[i]);
    for (int i = 0; i < tg->n_bn; i++) {
        bm[i] = read_back(p, tg->g, tg->bn[i].mean);
        bv[i] = read_back(p, tg->g, tg->bn[i].var);
    }
    ts_compare_params(tg, grads, gd.grads, "gradients", 1e-3, 1e-6);
    check_bn(tg, bm, bv, &gd, "BatchNorm running stats");
    free_arrays(grads, tg->t->n_params);
    free_arrays(bm, tg->n_bn);
    free_arrays(bv, tg->n_bn);
    free(slots);
    ocl_plan_free(p);
    clip_train_free(tg);
    ts_golden_free(&gd);
}

static void test_vit_ref(void **state)
{
    (void)state;
    step_ref("train_step_vit");
}

static void test_rn_ref(void **state)
{
    (void)state;
    step_ref("train_step_rn");
}

static void test_vit_ocl(void **state)
{
    (void)state;
    step_ocl("train_step_vit");
}

static void test_rn_ocl(void **state)
{
    (void)state;
    step_ocl("train_step_rn");
}

/* The param-name mapping the comparisons rely on. */
/* SigLIP's architecture (timm trunk + MAP head, non-causal text tower with
 * last-token pooling and a biased projection) with the sigmoid loss,
 * against open_clip's own model and SigLipLoss. */
static void test_siglip_ref(void **state)
{
    (void)state;
    step_ref("train_step_siglip");
}

static void test_siglip_ocl(void **state)
{
    (void)state;
    step_ocl("train_step_siglip");
}

static void test_param_key(void **state)
{
    (void)state;
    char k[G_NAME_LEN];
    int part = -1, n = -1;
    ts_ok(clip_param_key("transformer.resblocks.1.attn.in_proj_weight[2/3]", k, sizeof k, &part, &n),
          "key");
    assert_string_equal(k, "transformer.resblocks.1.attn.in_proj_weight");
    assert_int_equal(part, 2);
    assert_int_equal(n, 3);
    ts_ok(clip_param_key("visual.proj", k, sizeof k, &part, &n), "key");
    assert_string_equal(k, "visual.proj");
    assert_int_equal(part, 0);
    assert_int_equal(n, 1);
    assert_int_equal(clip_param_key("visual.proj", k, 4, NULL, NULL), CC_ERR_INVALID);
}

/* Bad arguments and weights that do not fit come back as errors naming the
 * problem, with nothing half-built handed out. */
static void test_build_errors(void **state)
{
    (void)state;
    ts_golden gd;
    ts_golden_read("train_step_rn", &gd);
    clip_train_graph *tg = (clip_train_graph *)&gd; /* must be reset to NULL */
    assert_int_equal(clip_train_build(gd.model->w, &gd.model->cfg, 0, CLIP_LOSS_CONTRASTIVE, &tg),
                     CC_ERR_INVALID);
    assert_null(tg);
    clip_config cfg = gd.model->cfg;
    cfg.vision.width *= 2; /* stem convolutions no longer match the weights */
    tg = (clip_train_graph *)&gd;
    int rc = clip_train_build(gd.model->w, &cfg, TS_BATCH, CLIP_LOSS_CONTRASTIVE, &tg);
    assert_int_equal(rc, CC_ERR_SHAPE);
    assert_null(tg);
    assert_non_null(strstr(cc_last_error(), "visual.conv1.weight"));
    assert_int_equal(clip_train_bind(NULL, NULL, NULL, NULL), CC_ERR_INVALID);
    ts_golden_free(&gd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_param_key),
        cmocka_unit_test(test_build_errors),
        cmocka_unit_test(test_vit_ref),
        cmocka_unit_test(test_rn_ref),
        cmocka_unit_test(test_vit_ocl),
        cmocka_unit_test(test_rn_ocl),
        cmocka_unit_test(test_siglip_ref),
        cmocka_unit_test(test_siglip_ocl),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
