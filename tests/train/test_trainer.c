/* The training loop end to end (train/trainer.h) on tiny CLIPs and the
 * procedural dataset:
 *  - random init: the weight map has exactly the tensors and shapes that
 *    models/ infers an OpenAI-named CLIP from (clip_config_infer, an
 *    independent reader), with initialize_parameters' statistics;
 *  - loss decreases over a few steps (ref backend; ViT and ResNet, whose
 *    BatchNorm running statistics must move off their init);
 *  - resume equality: 6 uninterrupted steps vs 3 + resume 3 (with gradient
 *    accumulation, augmentation and epoch boundaries on the way): identical
 *    losses and identical final weights, on ref and on OpenCL;
 *  - the checkpoint loads through the public API (what `clipcl zeroshot`
 *    uses) with the trained temperature;
 *  - the OpenCL backend, when every op of the training graph lowers: the
 *    first loss agrees with the ref backend's and the loss decreases. */
#include "test_trainer_util.h"

#include "clipcl.h"
#include "io/safetensors.h"
#include "models/clip.h"
#include "train/checkpoint.h"
#include "runtime/settings.h"

/* ---- init ---- */
static double stddev(const clip_weight *w)
{
    double s = 0, s2 = 0;
    for (int64_t i = 0; i < w->numel; i++) {
        s += w->data[i];
        s2 += (double)w->data[i] * w->data[i];
    }
    double m = s / (double)w->numel;
    return sqrt(s2 / (double)w->numel - m * m);
}

static void check_infer(const char *cfg_name, int is_vit)
{
    clip_config cfg, inferred;
    tt_ok(train_config_read(tt_path(cfg_name), &cfg), "train_config_read");
    assert_int_equal(cfg.vision.is_vit, is_vit);
    clip_wmap *m = NULL;
    tt_ok(train_init_weights(&cfg, CLIP_LOSS_CONTRASTIVE, 3, &m), "train_init_weights");
    tt_ok(clip_config_infer(m, &inferred), "clip_config_infer");
    tt_ok(clip_config_apply_json(&inferred, tt_path(cfg_name)), "clip_config_apply_json");
    assert_int_equal(inferred.embed_dim, cfg.embed_dim);
    assert_int_equal(inferred.vision.is_vit, cfg.vision.is_vit);
    assert_int_equal(inferred.vision.width, cfg.vision.width);
    assert_int_equal(inferred.vision.layers, cfg.vision.layers);
    assert_int_equal(inferred.vision.heads, cfg.vision.heads);
    assert_int_equal(inferred.vision.resolution, cfg.vision.resolution);
    assert_int_equal(inferred.text.width, cfg.text.width);
    assert_int_equal(inferred.text.layers, cfg.text.layers);
    assert_int_equal(inferred.text.heads, cfg.text.heads);
    assert_int_equal(inferred.text.context, cfg.text.context);
    assert_int_equal(inferred.text.vocab, cfg.text.vocab);
    assert_int_equal(inferred.text.act, cfg.text.act);
    /* initialize_parameters: token embedding N(0, 0.02) (600 x 32 values: the
     * sample std is within a few percent); logit_scale ln(1/0.07) */
    const clip_weight *te = clip_wmap_find(m, "token_embedding.weight");
    assert_non_null(te);
    assert_true(fabs(stddev(te) - 0.02) < 0.001);
    const clip_weight *ls = clip_wmap_find(m, "logit_scale");
    assert_true(ls && ls->ndim == 0);
    assert_float_equal(ls->data[0], logf(1.0f / 0.07f), 1e-6);
    if (!is_vit) {
        const clip_weight *bn3 = clip_wmap_find(m, "visual.layer1.0.bn3.weight");
        const clip_weight *rv = clip_wmap_find(m, "visual.bn1.running_var");
        assert_true(bn3 && rv);
        for (int64_t i = 0; i < bn3->numel; i++)
            assert_true(bn3->data[i] == 0.0f);
        assert_true(rv->data[0] == 1.0f);
    }
    /* same seed, same values; another seed, other values */
    clip_wmap *m2 = NULL, *m3 = NULL;
    tt_ok(train_init_weights(&cfg, CLIP_LOSS_CONTRASTIVE, 3, &m2), "init again");
    tt_ok(train_init_weights(&cfg, CLIP_LOSS_CONTRASTIVE, 4, &m3), "init other seed");
    const clip_weight *a = clip_wmap_find(m2, "text_projection"), *b = clip_wmap_find(m3, "text_projection");
    const clip_weight *o = clip_wmap_find(m, "text_projection");
    assert_memory_equal(a->data, o->data, (size_t)a->numel * sizeof(float));
    assert_memory_not_equal(b->data, o->data, (size_t)b->numel * sizeof(float));
    clip_wmap_free(m);
    clip_wmap_free(m2);
    clip_wmap_free(m3);
}

static void test_init(void **state)
{
    (void)state;
    check_infer("vit.json", 1);
    check_infer("rn.json", 0);
}

/* ---- loss decreases ---- */
static double mean(const float *v, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += v[i];
    return s / n;
}

static void check_decreasing(const tt_losses *l, const char *what)
{
    double a = mean(l->loss, 3), b = mean(l->loss + l->n - 3, 3);
    printf("  %s: loss %.4f (first 3) -> %.4f (last 3) over %lld steps\n", what, a, b,
           (long long)l->n);
    for (int i = 0; i < l->n; i++)
        assert_true(isfinite(l->loss[i]));
    /* ln 8 = 2.08 is chance for a batch of 8; the 16-sample set is learnt */
    assert_true(b < a - 0.3);
}

static void test_loss_decreases_vit(void **state)
{
    (void)state;
    train_opts o;
    tt_losses l;
    tt_opts(&o, "vit.json", "dec-vit", "ref", &l);
    o.data = "synth:16:3";
    o.steps = 24;
    tt_ok(train_run(&o), "train_run");
    assert_int_equal(l.n, 24);
    check_decreasing(&l, "ViT, ref");
}

static void test_loss_decreases_resnet(void **state)
{
    (void)state;
    train_opts o;
    tt_losses l;
    tt_opts(&o, "rn.json", "dec-rn", "ref", &l);
    o.data = "synth:16:3";
    o.steps = 24;
    tt_ok(train_run(&o), "train_run");
    check_decreasing(&l, "ResNet, ref");
    /* BatchNorm running statistics were updated from the batches */
    train_ckpt c;
    tt_ok(train_ckpt_load(tt_path("dec-rn"), &c), "train_ckpt_load");
    const clip_weight *rv = clip_wmap_find(c.model, "visual.bn1.running_var");
    const clip_weight *rm = clip_wmap_find(c.model, "visual.bn1.running_mean");
    assert_true(rv && rm);
    assert_true(rv->data[0] != 1.0f && rm->data[0] != 0.0f);
    assert_int_equal(c.st.step, 24);
    train_ckpt_free(&c);
}

/* ---- resume equality ---- */
static void compare_weights(const char *a_dir, const char *b_dir)
{
    char a[700], b[700];
    snprintf(a, sizeof a, "%s/open_clip_model.safetensors", a_dir);
    snprintf(b, sizeof b, "%s/open_clip_model.safetensors", b_dir);
    st_file *fa = NULL, *fb = NULL;
    tt_ok(st_open(a, &fa), a);
    tt_ok(st_open(b, &fb), b);
    assert_int_equal((int)st_count(fa), (int)st_count(fb));
    for (size_t i = 0; i < st_count(fa); i++) {
        const st_tensor *ta = st_at(fa, i), *tb = NULL;
        tt_ok(st_find(fb, ta->name, &tb), ta->name);
        assert_int_equal((int)ta->nbytes, (int)tb->nbytes);
        if (memcmp(ta->data, tb->data, ta->nbytes) != 0) {
            print_error("tensor '%s' differs after resume\n", ta->name);
            fail();
        }
    }
    st_close(fa);
    st_close(fb);
}

static void resume_equality(const char *cfg, const char *device, const char *tag)
{
    char full[64], rest[64];
    snprintf(full, sizeof full, "full-%s", tag);
    snprintf(rest, sizeof rest, "rest-%s", tag);
    train_opts o;
    tt_losses all, second;
    tt_opts(&o, cfg, full, device, &all);
    o.steps = 6;
    o.accum = 2;
    o.augment = 1;
    o.clip_grad_norm = 1.0;
    o.checkpoint_every = 3;
    tt_ok(train_run(&o), "uninterrupted run");
    char ck[600];
    /* the state after step 3, as the uninterrupted run saved it */
    snprintf(ck, sizeof ck, "%s/ckpt-000003", tt_path(full));
    tt_opts(&o, NULL, rest, device, &second);
    o.resume = ck;
    tt_ok(train_run(&o), "resumed run");
    assert_int_equal(all.n, 6);
    assert_int_equal(second.first, 4);
    assert_int_equal(second.n, 3);
    for (int i = 0; i < 3; i++) {
        printf("  %s step %d: loss %.9g uninterrupted, %.9g resumed\n", tag, 4 + i, all.loss[3 + i],
               second.loss[i]);
        assert_true(all.loss[3 + i] == second.loss[i]);
        assert_true(all.scale[3 + i] == second.scale[i]);
        assert_true(all.grad_norm[3 + i] == second.grad_norm[i]);
    }
    char a[600], b[600];
    snprintf(a, sizeof a, "%s/ckpt-000006", tt_path(full));
    snprintf(b, sizeof b, "%s/ckpt-000006", tt_path(rest));
    compare_weights(a, b);
}

static void test_resume_equality_ref(void **state)
{
    (void)state;
    resume_equality("vit.json", "ref", "vit-ref");
    resume_equality("rn.json", "ref", "rn-ref");
}

/* On the OpenCL device (when the training graph lowers there). */
static void test_resume_equality_ocl(void **state)
{
    (void)state;
    const char *dev = rt_setting_value(RT_SET_DEVICE) ? rt_setting_value(RT_SET_DEVICE) : "";
    train_opts o;
    tt_losses l;
    tt_opts(&o, "vit.json", "probe-ocl", dev, &l);
    o.steps = 2;
    int rc = train_run(&o);
    if (rc == CC_ERR_UNSUPPORTED || rc == CC_ERR_NO_PLATFORM || rc == CC_ERR_NO_DEVICE) {
        printf("  OpenCL training not run: %s\n", cc_last_error());
        skip();
    }
    tt_ok(rc, "OpenCL probe run");
    resume_equality("vit.json", dev, "vit-ocl");
    resume_equality("rn.json", dev, "rn-ocl");
}

/* ---- the checkpoint as a model ---- */
static void test_loads_in_api(void **state)
{
    (void)state;
    train_opts o;
    tt_losses l;
    tt_opts(&o, "vit.json", "api", "ref", &l);
    o.steps = 4;
    tt_ok(train_run(&o), "train_run");
    clipcl_model *m = NULL;
    char dir[600];
    snprintf(dir, sizeof dir, "%s/latest", tt_path("api"));
    int rc = clipcl_load(dir, "ref", &m);
    if (rc)
        print_error("clipcl_load: %s\n", clipcl_last_error());
    assert_int_equal(rc, CLIPCL_OK);
    assert_int_equal(clipcl_embed_dim(m), 16);
    assert_int_equal(clipcl_image_size(m), 16);
    assert_int_equal(clipcl_context_length(m), 12);
    assert_true(clipcl_logit_scale(m) == l.scale[l.n - 1]);
    /* zero-shot style use: texts through the checkpoint's own tokenizer */
    const char *texts[] = {"a red circle", "a small blue square in the middle"};
    float emb[2 * 16];
    int trunc = -1;
    rc = clipcl_encode_texts(m, texts, 2, CLIPCL_NORMALIZE, emb, &trunc);
    if (rc)
        print_error("clipcl_encode_texts: %s\n", clipcl_last_error());
    assert_int_equal(rc, CLIPCL_OK);
    for (int r = 0; r < 2; r++) {
        double n2 = 0;
        for (int j = 0; j < 16; j++)
            n2 += (double)emb[r * 16 + j] * emb[r * 16 + j];
        assert_float_equal(n2, 1.0, 1e-4);
    }
    clipcl_free(m);
}

/* ---- OpenCL ---- */
static void test_opencl(void **state)
{
    (void)state;
    train_opts o;
    tt_losses ref, ocl;
    tt_opts(&o, "vit.json", "ocl-ref", "ref", &ref);
    o.data = "synth:16:3";
    o.steps = 10;
    tt_ok(train_run(&o), "ref run");
    tt_opts(&o, "vit.json", "ocl", rt_setting_value(RT_SET_DEVICE) ? rt_setting_value(RT_SET_DEVICE) : "", &ocl);
    o.data = "synth:16:3";
    o.steps = 10;
    int rc = train_run(&o);
    if (rc == CC_ERR_UNSUPPORTED || rc == CC_ERR_NO_PLATFORM || rc == CC_ERR_NO_DEVICE) {
        printf("  OpenCL training not run: %s\n", cc_last_error());
        skip();
    }
    tt_ok(rc, "OpenCL run");
    printf("  OpenCL vs ref: first loss %.6f vs %.6f, last %.6f vs %.6f\n", ocl.loss[0], ref.loss[0],
           ocl.loss[9], ref.loss[9]);
    assert_true(fabs(ocl.loss[0] - ref.loss[0]) <= 1e-4 * fabs(ref.loss[0]));
    assert_true(fabs(ocl.loss[9] - ref.loss[9]) <= 2e-2 * fabs(ref.loss[9]));
    assert_true(mean(ocl.loss + 7, 3) < mean(ocl.loss, 3) - 0.2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init),
        cmocka_unit_test(test_loss_decreases_vit),
        cmocka_unit_test(test_loss_decreases_resnet),
        cmocka_unit_test(test_resume_equality_ref),
        cmocka_unit_test(test_resume_equality_ocl),
        cmocka_unit_test(test_loads_in_api),
        cmocka_unit_test(test_opencl),
    };
    return cmocka_run_group_tests(tests, tt_setup, tt_teardown);
}
