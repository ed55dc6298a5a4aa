/* Strict loading through the installed library (include/clipcl.h, "Strict
 * loading"): load flags, each tower's status, the tokenizer a text tower
 * needs, and the notes a load leaves, on the option models of
 * tests/data/clip_options (made by open_clip: tests/reference/make_option_goldens.py). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clipcl.h"

static char data_dir[800];

static const char *path(const char *rel)
{
    static char buf[1024];
    snprintf(buf, sizeof buf, "%s/%s", data_dir, rel);
    return buf;
}

static void test_flags(void **state)
{
    (void)state;
    clipcl_model *m = (clipcl_model *)1;
    assert_int_equal(clipcl_load_opts(path("clip_small_vit/openai"), "ref", 8, &m),
                     CLIPCL_ERR_INVALID);
    assert_null(m);
    assert_non_null(strstr(clipcl_last_error(), "flags"));
    assert_string_equal(clipcl_load_notes(NULL), "");
    assert_string_equal(clipcl_tower_unsupported(NULL, CLIPCL_TOWER_TEXT), "");
    assert_int_equal(clipcl_load_opts(path("clip_small_vit/openai"), "ref",
                                      CLIPCL_LOAD_ALLOW_UNUSED, &m), CLIPCL_OK);
    assert_string_equal(clipcl_load_notes(m), ""); /* it has a config and no unused tensor */
    assert_string_equal(clipcl_tower_unsupported(m, CLIPCL_TOWER_IMAGE), "");
    assert_string_equal(clipcl_tower_unsupported(m, CLIPCL_TOWER_TEXT), "");
    assert_string_equal(clipcl_tower_unsupported(m, 7), "");
    assert_string_equal(clipcl_text_tokenizer(m), "");
    clipcl_free(m);
}

/* SigLIP's text options under "text.*" with another tokenizer: token ids
 * work, texts are refused naming the tokenizer. */
static void test_other_tokenizer(void **state)
{
    (void)state;
    clipcl_model *m = NULL;
    assert_int_equal(clipcl_load(path("clip_options/siglip_text"), "ref", &m), CLIPCL_OK);
    assert_string_equal(clipcl_text_tokenizer(m), "timm/ViT-B-16-SigLIP");
    assert_string_equal(clipcl_tower_unsupported(m, CLIPCL_TOWER_TEXT), "");
    int T = clipcl_context_length(m), D = clipcl_embed_dim(m);
    assert_int_equal(T, 8);
    int32_t ids[8] = {7, 8, 9, 10, 11, 12, 13, 14};
    float *out = calloc((size_t)D, sizeof *out);
    assert_int_equal(clipcl_encode_token_ids(m, ids, 1, CLIPCL_NORMALIZE, out), CLIPCL_OK);
    const char *texts[] = {"a cat"};
    assert_int_equal(clipcl_encode_texts(m, texts, 1, 0, out, NULL), CLIPCL_ERR_UNSUPPORTED);
    assert_non_null(strstr(clipcl_last_error(), "timm/ViT-B-16-SigLIP"));
    int32_t tok[8];
    assert_int_equal(clipcl_tokenize(m, texts, 1, tok, NULL), CLIPCL_ERR_UNSUPPORTED);
    free(out);
    clipcl_free(m);
}

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    assert_non_null(in);
    assert_non_null(out);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    assert_int_equal(fclose(out), 0);
}

/* A model whose image tower asks for an option clipcl does not implement
 * (vision pool_type "none": every token, no pooled row): the image tower is
 * refused by name, the text
 * tower still encodes. */
static void test_tower_separation(void **state)
{
    (void)state;
    char dir[] = "/tmp/clipcl_strict_XXXXXX", p[256];
    assert_non_null(mkdtemp(dir));
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    copy_file(path("clip_small_vit/openai/model.safetensors"), p);
    snprintf(p, sizeof p, "%s/open_clip_config.json", dir);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs("{\"model_cfg\": {\"embed_dim\": 32, \"quick_gelu\": true, \"vision_cfg\": "
          "{\"image_size\": 32, \"layers\": 2, \"width\": 64, \"patch_size\": 8, \"head_width\": "
          "32, \"pool_type\": \"none\"}, \"text_cfg\": {\"context_length\": 77, \"vocab_size\": 256, "
          "\"width\": 64, \"heads\": 2, \"layers\": 2}}}", f);
    fclose(f);
    clipcl_model *m = NULL;
    assert_int_equal(clipcl_load(dir, "ref", &m), CLIPCL_OK);
    assert_non_null(strstr(clipcl_tower_unsupported(m, CLIPCL_TOWER_IMAGE), "pool_type"));
    assert_string_equal(clipcl_tower_unsupported(m, CLIPCL_TOWER_TEXT), "");
    float *px = calloc(3 * 32 * 32, sizeof *px), out[32];
    assert_int_equal(clipcl_encode_image_pixels(m, px, 1, 0, out), CLIPCL_ERR_UNSUPPORTED);
    assert_non_null(strstr(clipcl_last_error(), "pool_type"));
    int32_t ids[77] = {0};
    ids[0] = 254;
    ids[1] = 255;
    assert_int_equal(clipcl_encode_token_ids(m, ids, 1, 0, out), CLIPCL_OK);
    free(px);
    clipcl_free(m);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    remove(p);
    snprintf(p, sizeof p, "%s/open_clip_config.json", dir);
    remove(p);
    rmdir(dir);
}

int main(void)
{
    const char *dir = getenv("CLIPCL_TEST_DATA");
    snprintf(data_dir, sizeof data_dir, "%s", dir ? dir : "tests/data");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flags),
        cmocka_unit_test(test_other_tokenizer),
        cmocka_unit_test(test_tower_separation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
