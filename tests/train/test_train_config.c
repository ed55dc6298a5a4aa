/* Training model configs read from JSON (train_config_from_json_text): the
 * integers a hostile config can hold are bounded before they are summed or
 * multiplied. ResNet stage depths near INT_MAX overflowed their sum. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "runtime/status.h"
#include "train/trainer.h"

static const char *RN =
    "{\"embed_dim\": 16, \"vision_cfg\": {\"image_size\": 64, \"layers\": %s, \"width\": 8, "
    "\"head_width\": 16}, \"text_cfg\": {\"context_length\": 12, \"vocab_size\": 600, "
    "\"width\": 32, \"heads\": 2, \"layers\": %s}}";

static int read_rn(const char *layers, const char *text_layers, clip_config *cfg)
{
    char json[1024];
    snprintf(json, sizeof json, RN, layers, text_layers);
    return train_config_from_json_text(json, "test", cfg);
}

static void expect_error(int rc, const char *what)
{
    assert_int_equal(rc, CC_ERR_INVALID);
    if (!strstr(cc_last_error(), what))
        fail_msg("error \"%s\" does not mention \"%s\"", cc_last_error(), what);
}

static void test_resnet_depths_bounded(void **state)
{
    (void)state;
    clip_config cfg;
    assert_int_equal(read_rn("[1, 2, 3, 4]", "2", &cfg), CC_OK);
    assert_int_equal(cfg.vision.layers, 10);
    assert_int_equal(cfg.vision.rn_layers[3], 4);
    /* the sum of these overflowed int */
    expect_error(read_rn("[2147483647, 2147483647, 1, 1]", "2", &cfg),
                 "layers[0] must be an integer in [1, 1024], found 2147483647");
    expect_error(read_rn("[1, 1, 1, 1099511627776]", "2", &cfg), "layers[3]");
    /* each in bounds, the sum not */
    expect_error(read_rn("[1024, 1024, 1024, 1024]", "2", &cfg),
                 "stage depths sum to 4096, at most 1024");
    assert_int_equal(read_rn("[1000, 10, 10, 4]", "2", &cfg), CC_OK);
    assert_int_equal(cfg.vision.layers, 1024);
    expect_error(read_rn("[1, 2, 3, 4]", "4294967297", &cfg), "'layers' must be an integer");
}

/* width * 32 (a ResNet's feature count) overflowed for a width near INT_MAX. */
static void test_widths_bounded(void **state)
{
    (void)state;
    clip_config cfg;
    const char *json =
        "{\"vision_cfg\": {\"image_size\": 64, \"layers\": [1, 1, 1, 1], \"width\": 1073741824}, "
        "\"text_cfg\": {}}";
    expect_error(train_config_from_json_text(json, "test", &cfg),
                 "'width' must be an integer in [1, 65536], found 1073741824");
    json = "{\"vision_cfg\": {\"image_size\": [1048576, 1048576]}, \"text_cfg\": {}}";
    expect_error(train_config_from_json_text(json, "test", &cfg), "'image_size'");
    json = "{\"vision_cfg\": {}, \"text_cfg\": {\"vocab_size\": 0}}";
    expect_error(train_config_from_json_text(json, "test", &cfg), "'vocab_size'");
    json = "{\"vision_cfg\": {}, \"text_cfg\": {}}"; /* open_clip's defaults: ViT-B/16 */
    assert_int_equal(train_config_from_json_text(json, "test", &cfg), CC_OK);
    assert_int_equal(cfg.vision.width, 768);
    assert_int_equal(cfg.text.vocab, 49408);
}

/* Options training does not implement were read as OpenAI's CLIP without a
 * word (a config asking for layer scale trained a model without it, and the
 * checkpoint's config then claimed it); each is refused by name, while the
 * same keys at open_clip's defaults are accepted. */
static void test_unimplemented_options_refused(void **state)
{
    (void)state;
    static const char *const refused[][2] = {
        {"\"vision_cfg\": {\"ls_init_value\": 1e-4}, \"text_cfg\": {}", "ls_init_value"},
        {"\"vision_cfg\": {\"pool_type\": \"avg\"}, \"text_cfg\": {}", "pool_type"},
        {"\"vision_cfg\": {\"mlp_ratio\": 4.9231}, \"text_cfg\": {}", "mlp_ratio"},
        {"\"vision_cfg\": {\"timm_model_name\": \"convnext_base\"}, \"text_cfg\": {}",
         "timm_model_name"},
        {"\"vision_cfg\": {}, \"text_cfg\": {\"pool_type\": \"last\"}", "pool_type"},
        {"\"vision_cfg\": {}, \"text_cfg\": {\"no_causal_mask\": true}", "no_causal_mask"},
        {"\"vision_cfg\": {}, \"text_cfg\": {\"proj_bias\": true}", "proj_bias"},
        {"\"vision_cfg\": {}, \"text_cfg\": {\"norm_kwargs\": {\"eps\": 1e-6}}", "norm_kwargs"},
        {"\"vision_cfg\": {}, \"text_cfg\": {\"hf_tokenizer_name\": \"t5-base\"}",
         "hf_tokenizer_name"},
        {"\"vision_cfg\": {}, \"text_cfg\": {\"rope\": true}", "'rope'"},
        {"\"custom_text\": true, \"vision_cfg\": {}, \"text_cfg\": {}", "custom_text"},
        {"\"multimodal_cfg\": {}, \"vision_cfg\": {}, \"text_cfg\": {}", "multimodal_cfg"},
    };
    clip_config cfg;
    char json[512];
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        snprintf(json, sizeof json, "{%s}", refused[i][0]);
        assert_int_equal(train_config_from_json_text(json, "test", &cfg), CC_ERR_UNSUPPORTED);
        if (!strstr(cc_last_error(), refused[i][1]))
            fail_msg("error \"%s\" does not name \"%s\"", cc_last_error(), refused[i][1]);
    }
    const char *defaults =
        "{\"quick_gelu\": true, \"init_logit_bias\": -10, \"vision_cfg\": {\"mlp_ratio\": 4.0, "
        "\"ls_init_value\": null, \"pool_type\": \"tok\", \"no_ln_pre\": false}, \"text_cfg\": "
        "{\"pool_type\": \"argmax\", \"proj_type\": \"linear\", \"no_causal_mask\": false, "
        "\"norm_kwargs\": {}}}";
    assert_int_equal(train_config_from_json_text(defaults, "test", &cfg), CC_OK);
}

/* open_clip's ViT-B-16-SigLIP config scaled down (the trunk's sizes in
 * vision_cfg): SigLIP's architecture, heads from the timm name's 64-wide
 * heads; each SigLIP option training lacks is refused by name. */
static const char *SIGLIP =
    "{\"embed_dim\": %d, \"init_logit_bias\": -10, \"custom_text\": %s, \"vision_cfg\": "
    "{\"image_size\": 32, \"timm_model_name\": \"vit_base_patch16_siglip_224\", "
    "\"timm_model_pretrained\": false, \"timm_pool\": \"%s\", \"timm_proj\": \"none\", "
    "\"width\": 128, \"layers\": 2, \"patch_size\": 8}, \"text_cfg\": {\"context_length\": 16, "
    "\"vocab_size\": 64, \"width\": 32, \"heads\": 2, \"layers\": 2, \"no_causal_mask\": true, "
    "\"proj_bias\": true, \"pool_type\": \"%s\", \"norm_kwargs\": {\"eps\": 1e-6}}}";

static int read_siglip(int embed, const char *custom, const char *pool, const char *text_pool,
                       clip_config *cfg)
{
    char json[1024];
    snprintf(json, sizeof json, SIGLIP, embed, custom, pool, text_pool);
    return train_config_from_json_text(json, "test", cfg);
}

static void expect_named(int rc, int want, const char *what)
{
    assert_int_equal(rc, want);
    if (!strstr(cc_last_error(), what))
        fail_msg("error \"%s\" does not name \"%s\"", cc_last_error(), what);
}

static void test_siglip_config(void **state)
{
    (void)state;
    clip_config cfg;
    assert_int_equal(read_siglip(128, "true", "map", "last", &cfg), CC_OK);
    assert_int_equal(cfg.siglip, 1);
    assert_int_equal(cfg.vision.map_head, 1);
    assert_int_equal(cfg.vision.width, 128);
    assert_int_equal(cfg.vision.heads, 2); /* 128 / timm's 64 */
    assert_int_equal(cfg.vision.layers, 2);
    assert_int_equal(cfg.vision.patch, 8);
    assert_int_equal(cfg.vision.act, CLIP_ACT_GELU);
    assert_true(cfg.vision.eps == 1e-6f && cfg.text.eps == 1e-6f);
    assert_int_equal(cfg.text.pool, CLIP_TEXT_POOL_LAST);
    assert_int_equal(cfg.text.no_causal_mask, 1);
    assert_int_equal(cfg.text.proj_bias, 1);
    expect_named(read_siglip(64, "true", "map", "last", &cfg), CC_ERR_SHAPE, "embed_dim");
    expect_named(read_siglip(128, "false", "map", "last", &cfg), CC_ERR_UNSUPPORTED, "custom_text");
    expect_named(read_siglip(128, "true", "avg", "last", &cfg), CC_ERR_UNSUPPORTED, "timm_pool");
    expect_named(read_siglip(128, "true", "map", "argmax", &cfg), CC_ERR_UNSUPPORTED, "pool_type");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resnet_depths_bounded),
        cmocka_unit_test(test_widths_bounded),
        cmocka_unit_test(test_unimplemented_options_refused),
        cmocka_unit_test(test_siglip_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
