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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resnet_depths_bounded),
        cmocka_unit_test(test_widths_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
