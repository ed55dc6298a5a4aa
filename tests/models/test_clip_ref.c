/* The CLIP graphs (models/) on the reference backend against PyTorch goldens
 * (tests/reference/make_clip_goldens.py): small ViT in OpenAI and Hugging
 * Face naming, small ModifiedResNet in OpenAI naming. Image features, text
 * features and logits_per_image must reach cosine >= 0.99999 per row and
 * max |err| <= 1e-4 * max |ref|. Also: config inference and the errors for
 * a missing tensor, a wrong shape and a config that contradicts the weights. */
#include "clip_golden.h"

#include "backends/ref/ref.h"

static void run_ref(void *ctx, graph *g, void **slots, int out, float *dst)
{
    (void)ctx;
    int rc = ref_eval(g, slots);
    if (rc)
        print_error("ref_eval: %s\n", cc_last_error());
    assert_int_equal(rc, CC_OK);
    memcpy(dst, slots[out], g_nbytes(g, out));
    ref_free_acts(g, slots);
}

static void check_ref(const char *dir, const char *sub)
{
    check_model(run_ref, NULL, "ref", dir, sub);
}

static void test_vit_openai(void **state)
{
    (void)state;
    check_ref("clip_small_vit", "openai");
}

static void test_vit_hf(void **state)
{
    (void)state;
    check_ref("clip_small_vit", "hf");
}

static void test_rn_openai(void **state)
{
    (void)state;
    check_ref("clip_small_rn", "openai");
}

/* Expected values are the script's model constants (VIT / RN dicts). */
static void test_config_inference(void **state)
{
    (void)state;
    const char *subs[2] = {"clip_small_vit/openai", "clip_small_vit/hf"};
    for (int i = 0; i < 2; i++) {
        clip_model *m = load_ok(subs[i]);
        const clip_config *c = &m->cfg;
        assert_int_equal(c->naming, i ? CLIP_NAMING_HF : CLIP_NAMING_OPENAI);
        assert_true(c->vision.is_vit);
        assert_int_equal(c->vision.width, 64);
        assert_int_equal(c->vision.layers, 2);
        assert_int_equal(c->vision.heads, 2); /* from the config: width/64 would say 1 */
        assert_int_equal(c->vision.patch, 8);
        assert_int_equal(c->vision.resolution, 32);
        assert_int_equal(c->vision.act, CLIP_ACT_QUICKGELU);
        assert_int_equal(c->embed_dim, 32);
        assert_int_equal(c->text.width, 64);
        assert_int_equal(c->text.layers, 2);
        assert_int_equal(c->text.heads, 2);
        assert_int_equal(c->text.context, 77);
        assert_int_equal(c->text.vocab, 256);
        assert_int_equal(c->text.act, CLIP_ACT_QUICKGELU);
        assert_true(fabsf(c->text.eps - 1e-5f) < 1e-12f);
        clip_model_free(m);
    }
    clip_model *m = load_ok("clip_small_rn/openai");
    const clip_config *c = &m->cfg;
    assert_false(c->vision.is_vit);
    assert_int_equal(c->vision.width, 8);
    for (int b = 0; b < 4; b++)
        assert_int_equal(c->vision.rn_layers[b], 1);
    assert_int_equal(c->vision.heads, 4); /* 32 * 8 / 64 */
    assert_int_equal(c->vision.resolution, 64);
    assert_int_equal(c->embed_dim, 32);
    assert_int_equal(c->text.width, 32);
    assert_int_equal(c->text.heads, 1);
    assert_int_equal(c->text.vocab, 192);
    assert_int_equal(c->text.act, CLIP_ACT_GELU);
    clip_model_free(m);
}

/* A view of m's map without `drop`, and with `reshape` given shape[0] - 1. */
static clip_wmap *edited_map(const clip_wmap *m, const char *drop, const char *reshape)
{
    clip_wmap *w = clip_wmap_new();
    assert_non_null(w);
    for (int i = 0; i < m->n; i++) {
        const clip_weight *x = &m->w[i];
        if (drop && strcmp(x->name, drop) == 0)
            continue;
        int64_t s[CLIP_MAX_DIMS];
        memcpy(s, x->shape, sizeof s);
        if (reshape && strcmp(x->name, reshape) == 0)
            s[0] -= 1;
        assert_int_equal(clip_wmap_add(w, x->name, x->ndim, s, x->data, 0), CC_OK);
    }
    return w;
}

static void test_errors(void **state)
{
    (void)state;
    clip_model *m = load_ok("clip_small_vit/openai");
    clip_tower *t = NULL;

    clip_wmap *w = edited_map(m->w, "visual.transformer.resblocks.1.mlp.c_fc.bias", NULL);
    assert_int_not_equal(clip_build_image(w, &m->cfg, 1, &t), CC_OK);
    assert_null(t);
    printf("  missing: %s\n", cc_last_error());
    assert_non_null(strstr(cc_last_error(), "'visual.transformer.resblocks.1.mlp.c_fc.bias'"));
    assert_non_null(strstr(cc_last_error(), "[256]"));
    clip_wmap_free(w);

    w = edited_map(m->w, NULL, "transformer.resblocks.0.attn.in_proj_weight");
    assert_int_equal(clip_build_text(w, &m->cfg, 2, &t), CC_ERR_SHAPE);
    assert_null(t);
    printf("  shape:   %s\n", cc_last_error());
    assert_non_null(strstr(cc_last_error(), "'transformer.resblocks.0.attn.in_proj_weight'"));
    assert_non_null(strstr(cc_last_error(), "expected shape [192, 64], found [191, 64]"));
    clip_wmap_free(w);

    /* The RN model's config describes other sizes than these weights. */
    clip_config c = m->cfg;
    assert_int_equal(clip_config_apply_json(&c, data_path("clip_small_rn/openai/open_clip_config.json")),
                     CC_ERR_SHAPE);
    printf("  config:  %s\n", cc_last_error());

    /* Neither naming. */
    w = clip_wmap_new();
    int64_t one = 1;
    float z = 0;
    assert_int_equal(clip_wmap_add(w, "foo.weight", 1, &one, &z, 0), CC_OK);
    assert_int_equal(clip_config_infer(w, &c), CC_ERR_INVALID);
    clip_wmap_free(w);
    clip_model_free(m);

    assert_int_not_equal(clip_load(data_path("clip_small_vit/no_such_dir"), &m), CC_OK);
    assert_null(m);
}

/* Without the config file OpenAI's rule gives heads = 64/64 = 1, which is not
 * the model the goldens came from: proves the config is what makes it match. */
static void test_config_matters(void **state)
{
    (void)state;
    clip_model *m = load_ok("clip_small_vit/openai");
    clip_config inferred;
    assert_int_equal(clip_config_infer(m->w, &inferred), CC_OK);
    assert_int_equal(inferred.vision.heads, 1);
    assert_int_equal(inferred.text.heads, 1);
    npy_array ids, ft;
    read_npy("clip_small_vit/ids.npy", NPY_I32, &ids);
    read_npy("clip_small_vit/text_features.npy", NPY_F32, &ft);
    m->cfg = inferred;
    float *txt = run_tower(run_ref, NULL, m, 1, (int)ids.shape[0], ids.data);
    double err = 0;
    for (int64_t i = 0; i < ft.numel; i++)
        err = fmax(err, fabs((double)txt[i] - ((float *)ft.data)[i]));
    printf("  heads 1 instead of 2: max |err| %.3g\n", err);
    assert_true(err > 1e-2);
    free(txt);
    npy_free(&ids);
    npy_free(&ft);
    clip_model_free(m);
}

int main(void)
{
    golden_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_inference),
        cmocka_unit_test(test_vit_openai),
        cmocka_unit_test(test_vit_hf),
        cmocka_unit_test(test_rn_openai),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_config_matters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
