/* `--accum K` in the training loop (train/trainer.c, train/trainer_accum.c):
 * 3 steps of 4 micro-batches of 8 against 3 steps of one batch of 32 on the
 * same pairs (the loader's order is a per-epoch shuffle, independent of the
 * batch size), a tiny ViT, the contrastive and the SigLIP loss, on the ref
 * backend and on OpenCL. The first step's loss and gradient norm are those
 * of the same weights: rel 1e-5; the later steps' (after AdamW steps from
 * the two gradients) rel 1e-4, as are the temperatures. Before exact
 * accumulation, --accum averaged the gradients of 4 micro-batch losses:
 * a first loss of the batch of 8, not 32, and another gradient. */
#include "test_trainer_util.h"

#include "io/safetensors.h"
#include "runtime/settings.h"

static void run(const char *device, int siglip, int batch, int accum, const char *tag, tt_losses *l)
{
    train_opts o;
    tt_opts(&o, "vit.json", tag, device, l);
    o.data = "synth:64:7";
    o.steps = 3;
    o.batch = batch;
    o.accum = accum;
    o.siglip = siglip;
    tt_ok(train_run(&o), tag);
    assert_int_equal(l->n, 3);
}

static void expect_rel(const char *what, int step, double got, double want, double tol)
{
    double e = fabs(got - want) / fmax(fabs(want), 1e-30);
    if (!(e <= tol)) {
        print_error("%s step %d: %.9g vs %.9g, rel %.3e > %.1e\n", what, step, got, want, e, tol);
        fail();
    }
}

static void compare_runs(const char *device, int siglip, const char *tag)
{
    char a[64], b[64];
    snprintf(a, sizeof a, "%s-accum", tag);
    snprintf(b, sizeof b, "%s-big", tag);
    tt_losses acc, big;
    run(device, siglip, 8, 4, a, &acc);
    run(device, siglip, 32, 1, b, &big);
    for (int s = 0; s < 3; s++) {
        printf("  %s step %d: loss %.9g / %.9g, grad norm %.9g / %.9g (accum 4x8 / batch 32)\n", tag, s + 1,
               acc.loss[s], big.loss[s], acc.grad_norm[s], big.grad_norm[s]);
        double tol = s == 0 ? 1e-5 : 1e-4;
        expect_rel("loss", s + 1, acc.loss[s], big.loss[s], tol);
        expect_rel("grad norm", s + 1, acc.grad_norm[s], big.grad_norm[s], tol);
        expect_rel("logit_scale", s + 1, acc.scale[s], big.scale[s], 1e-5);
    }
}

static void test_ref(void **state)
{
    (void)state;
    compare_runs("ref", 0, "clip-ref");
    compare_runs("ref", 1, "siglip-ref");
}

/* --batch 1 --accum 4 is a contrastive batch of 4 (each micro-batch alone
 * has no negatives); --batch 1 alone is refused. */
static void test_batch_of_one(void **state)
{
    (void)state;
    tt_losses one, four;
    run("ref", 0, 1, 4, "one-x4", &one);
    run("ref", 0, 4, 1, "four", &four);
    for (int s = 0; s < 3; s++) {
        printf("  step %d: loss %.9g / %.9g, grad norm %.9g / %.9g (accum 4x1 / batch 4)\n", s + 1, one.loss[s],
               four.loss[s], one.grad_norm[s], four.grad_norm[s]);
        expect_rel("loss", s + 1, one.loss[s], four.loss[s], s == 0 ? 1e-5 : 1e-4);
        expect_rel("grad norm", s + 1, one.grad_norm[s], four.grad_norm[s], s == 0 ? 1e-5 : 1e-4);
    }
    train_opts o;
    tt_losses l;
    tt_opts(&o, "vit.json", "one", "ref", &l);
    o.steps = 1;
    o.batch = 1;
    assert_int_equal(train_run(&o), CC_ERR_INVALID);
    assert_non_null(strstr(cc_last_error(), "batch 1 x accum 1"));
}

/* A ResNet with --accum 2: each micro-batch is a training-mode forward twice
 * (features, then gradients), as in open_clip, and the checkpoint's
 * num_batches_tracked counts both: 2 steps x 2 micro-batches x 2. */
static void test_resnet_batches_tracked(void **state)
{
    (void)state;
    train_opts o;
    tt_losses l;
    tt_opts(&o, "rn.json", "rn-tracked", "ref", &l);
    o.data = "synth:64:7";
    o.steps = 2;
    o.batch = 4;
    o.accum = 2;
    tt_ok(train_run(&o), "rn accum run");
    char path[600];
    snprintf(path, sizeof path, "%s/ckpt-000002/open_clip_model.safetensors", tt_path("rn-tracked"));
    st_file *f = NULL;
    const st_tensor *t = NULL;
    tt_ok(st_open(path, &f), "st_open");
    tt_ok(st_find(f, "visual.bn1.num_batches_tracked", &t), "num_batches_tracked");
    assert_int_equal(t->dtype, ST_I64);
    int64_t n = 0;
    memcpy(&n, t->data, sizeof n);
    printf("  visual.bn1.num_batches_tracked after 2 steps of 2 micro-batches: %lld\n", (long long)n);
    assert_int_equal(n, 8);
    st_close(f);
}

static void test_opencl(void **state)
{
    (void)state;
    const char *dev = rt_setting_value(RT_SET_DEVICE) ? rt_setting_value(RT_SET_DEVICE) : "";
    train_opts o;
    tt_losses l;
    tt_opts(&o, "vit.json", "probe-ocl", dev, &l);
    o.steps = 2;
    o.accum = 2;
    int rc = train_run(&o);
    if (rc == CC_ERR_UNSUPPORTED || rc == CC_ERR_NO_PLATFORM || rc == CC_ERR_NO_DEVICE) {
        printf("  OpenCL training not run: %s\n", cc_last_error());
        skip();
    }
    tt_ok(rc, "OpenCL probe run");
    compare_runs(dev, 0, "clip-ocl");
    compare_runs(dev, 1, "siglip-ocl");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ref),
        cmocka_unit_test(test_batch_of_one),
        cmocka_unit_test(test_resnet_batches_tracked),
        cmocka_unit_test(test_opencl),
    };
    return cmocka_run_group_tests(tests, tt_setup, tt_teardown);
}
