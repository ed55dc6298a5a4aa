/* The same CLIP graphs as test_clip_ref.c, run by the OpenCL backend
 * (device from $CLIPCL_DEVICE via oh_ctx(); PoCL in CI) and held to the same
 * rule against the PyTorch goldens: cosine >= 0.99999 per row, max |err| <=
 * 1e-4 * max |ref|. No OpenCL platform at all is a skip, not a pass. */
#include "clip_golden.h"

#include "backends/opencl/ocl_backend.h"
#include "tests/common/op_harness.h"

/* Builds, uploads every input/param, runs, reads [B, E] back (malloc'd). */
static float *run_tower_ocl(rt_ctx *ctx, const clip_model *m, int text, int batch,
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
    ocl_plan *p = NULL;
    rc = ocl_plan_create(ctx, t->g, &p);
    if (rc)
        print_error("ocl_plan_create (%s tower): %s\n", text ? "text" : "image", cc_last_error());
    assert_int_equal(rc, CC_OK);
    for (int i = 0; i < t->g->n_tensors; i++) {
        g_role r = t->g->tensors[i].role;
        if ((r == G_ROLE_INPUT || r == G_ROLE_PARAM) && slots[i]) {
            rc = ocl_plan_write(p, i, slots[i], g_nbytes(t->g, i));
            if (rc)
                print_error("ocl_plan_write '%s': %s\n", t->g->tensors[i].name, cc_last_error());
            assert_int_equal(rc, CC_OK);
        }
    }
    rc = ocl_plan_run(p);
    if (rc)
        print_error("ocl_plan_run: %s\n", cc_last_error());
    assert_int_equal(rc, CC_OK);
    size_t bytes = g_nbytes(t->g, t->out);
    assert_int_equal(bytes, (size_t)batch * (size_t)m->cfg.embed_dim * sizeof(float));
    float *out = malloc(bytes);
    assert_non_null(out);
    assert_int_equal(ocl_plan_read(p, t->out, out, bytes), CC_OK);
    ocl_plan_free(p);
    free(slots);
    clip_tower_free(t);
    return out;
}

static float *run_logits_ocl(rt_ctx *ctx, const clip_model *m, const float *img, int ni,
                             const float *txt, int nt)
{
    clip_logits_graph l;
    assert_int_equal(clip_build_logits(ni, nt, m->cfg.embed_dim, m->logit_scale, &l), CC_OK);
    ocl_plan *p = NULL;
    int rc = ocl_plan_create(ctx, l.g, &p);
    if (rc)
        print_error("ocl_plan_create (logits): %s\n", cc_last_error());
    assert_int_equal(rc, CC_OK);
    assert_int_equal(ocl_plan_write(p, l.img, img, g_nbytes(l.g, l.img)), CC_OK);
    assert_int_equal(ocl_plan_write(p, l.txt, txt, g_nbytes(l.g, l.txt)), CC_OK);
    assert_int_equal(ocl_plan_run(p), CC_OK);
    float *out = malloc(g_nbytes(l.g, l.out));
    assert_non_null(out);
    assert_int_equal(ocl_plan_read(p, l.out, out, g_nbytes(l.g, l.out)), CC_OK);
    ocl_plan_free(p);
    clip_logits_free(&l);
    return out;
}

static void check_model(const char *dir, const char *sub)
{
    rt_ctx *ctx = oh_ctx();
    if (!ctx) {
        printf("no OpenCL context: %s\n", cc_last_error());
        skip();
    }
    char rel[256];
    snprintf(rel, sizeof rel, "%s/%s", dir, sub);
    clip_model *m = load_ok(rel);
    golden gd;
    golden_read(dir, &gd);
    int ni = (int)gd.px.shape[0], nt = (int)gd.ids.shape[0];
    printf("%s/%s (%s naming), OpenCL backend:\n", dir, sub, clip_naming_name(m->cfg.naming));
    float *img = run_tower_ocl(ctx, m, 0, ni, gd.px.data);
    compare("image features", img, &gd.img);
    float *txt = run_tower_ocl(ctx, m, 1, nt, gd.ids.data);
    compare("text features", txt, &gd.txt);
    float *l = run_logits_ocl(ctx, m, img, ni, txt, nt);
    compare("logits_per_image", l, &gd.logits);
    free(img);
    free(txt);
    free(l);
    golden_free(&gd);
    clip_model_free(m);
}

static void test_vit_openai(void **state)
{
    (void)state;
    check_model("clip_small_vit", "openai");
}

static void test_vit_hf(void **state)
{
    (void)state;
    check_model("clip_small_vit", "hf");
}

static void test_rn_openai(void **state)
{
    (void)state;
    check_model("clip_small_rn", "openai");
}

int main(void)
{
    golden_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vit_openai),
        cmocka_unit_test(test_vit_hf),
        cmocka_unit_test(test_rn_openai),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
