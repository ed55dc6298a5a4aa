/* io/tok_files.c: merges copied without a final newline (OpenAI's reader would take it
 * for an empty merge), tokenizer_config.json as transformers reads it, and the check for
 * a CLIP BPE tokenizer directory. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/tok_files.h"
#include "io/tokenizer.h"
#include "runtime/status.h"
#include "tests/io/io_test_util.h"

static int setup(void **state)
{
    (void)state;
    return iot_setup("G_tokfiles");
}

static void expect_file(const char *path, const char *want)
{
    size_t n;
    char *got = (char *)iot_slurp(path, &n);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(got, want, n);
    free(got);
}

static void test_copy_merges(void **state)
{
    (void)state;
    static const struct { const char *in, *out; } cases[] = {
        {"#version: 0.2\nh e\nl l\n", "#version: 0.2\nh e\nl l"},   /* older tokenizer-train */
        {"#version: 0.2\r\nh e\r\nl l\r\n", "#version: 0.2\r\nh e\r\nl l"},
        {"#version: 0.2\nh e\nl l", "#version: 0.2\nh e\nl l"},     /* already clean */
        {"#version: 0.2\n", "#version: 0.2"},                       /* no merges */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        iot_write_text(iot_path("src.txt"), cases[i].in);
        assert_int_equal(tok_copy_merges(iot_path("src.txt"), iot_path("dst.txt")), CC_OK);
        expect_file(iot_path("dst.txt"), cases[i].out);
    }
    /* clipcl reads both with the same ids: h e -> 512, l l -> 513, specials 514/515 */
    iot_write_text(iot_path("src.txt"), "#version: 0.2\nh e\nl l\n");
    assert_int_equal(tok_copy_merges(iot_path("src.txt"), iot_path("dst.txt")), CC_OK);
    tok_tokenizer *a, *b;
    assert_int_equal(tok_load_openai(iot_path("src.txt"), &a), CC_OK);
    assert_int_equal(tok_load_openai(iot_path("dst.txt"), &b), CC_OK);
    int32_t ia[8], ib[8];
    int tr;
    assert_int_equal(tok_encode_ctx(a, "hell", ia, 8, &tr), CC_OK);
    assert_int_equal(tok_encode_ctx(b, "hell", ib, 8, &tr), CC_OK);
    assert_memory_equal(ia, ib, sizeof ia);
    assert_int_equal(ia[0], 514);
    assert_int_equal(ia[1], 512);
    tok_free(a);
    tok_free(b);
    assert_int_equal(tok_copy_merges(iot_path("absent.txt"), iot_path("dst.txt")), CC_ERR_IO);
}

static const char *json_str(json_object *o, const char *key)
{
    json_object *v;
    assert_true(json_object_object_get_ex(o, key, &v));
    return json_object_get_string(v);
}

static void test_hf_config(void **state)
{
    (void)state;
    char dir[2048];
    snprintf(dir, sizeof dir, "%s", iot_path("hf"));
    mkdir(dir, 0755);
    assert_int_equal(tok_write_hf_config(dir, 16), CC_OK);
    json_object *root = json_object_from_file(iot_path("hf/tokenizer_config.json"));
    assert_non_null(root);
    assert_string_equal(json_str(root, "tokenizer_class"), "CLIPTokenizer");
    assert_string_equal(json_str(root, "bos_token"), "<|startoftext|>");
    assert_string_equal(json_str(root, "eos_token"), "<|endoftext|>");
    assert_string_equal(json_str(root, "pad_token"), "<|endoftext|>");
    json_object *v;
    assert_true(json_object_object_get_ex(root, "model_max_length", &v));
    assert_int_equal(json_object_get_int(v), 16);
    json_object_put(root);
    assert_int_equal(tok_write_hf_config(dir, 1), CC_ERR_INVALID);
    assert_int_equal(tok_write_hf_config(NULL, 77), CC_ERR_INVALID);
}

static void test_dir_is_clip_bpe(void **state)
{
    (void)state;
    char dir[2048]; /* iot_path's buffers rotate */
    snprintf(dir, sizeof dir, "%s", iot_path("clip"));
    mkdir(dir, 0755);
    assert_int_equal(tok_dir_is_clip_bpe(dir), 0);
    iot_write_text(iot_path("clip/vocab.json"), "{}");
    iot_write_text(iot_path("clip/merges.txt"), "#version: 0.2");
    assert_int_equal(tok_dir_is_clip_bpe(dir), 0); /* no tokenizer_config.json */
    assert_int_equal(tok_write_hf_config(dir, 77), CC_OK);
    assert_int_equal(tok_dir_is_clip_bpe(dir), 1);
    iot_write_text(iot_path("clip/tokenizer_config.json"), "{\"tokenizer_class\": \"BertTokenizer\"}");
    assert_int_equal(tok_dir_is_clip_bpe(dir), 0);
    iot_write_text(iot_path("clip/tokenizer_config.json"), "{\"tokenizer_class\": \"CLIPTokenizerFast\"}");
    assert_int_equal(tok_dir_is_clip_bpe(dir), 1);
    iot_write_text(iot_path("clip/tokenizer_config.json"), "not json");
    assert_int_equal(tok_dir_is_clip_bpe(dir), 0);
    assert_int_equal(tok_dir_is_clip_bpe(NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_copy_merges),
        cmocka_unit_test(test_hf_config),
        cmocka_unit_test(test_dir_is_clip_bpe),
    };
    return cmocka_run_group_tests(tests, setup, iot_teardown);
}
