/* SigLIP's SentencePiece tokenizer (io/spm_tokenizer.h) against the references'
 * ids in tests/data/spm/goldens.json (tests/reference/make_spm_goldens.py): the
 * committed self-trained spiece.model tokenised by transformers' SiglipTokenizer
 * and by open_clip's HFTokenizer(clean='canonicalize'), context 64, on texts with
 * punctuation, digits, accents, CJK, emoji, special-token literals and over-long
 * ones. Also: the same ids from a tokenizer.json of the same model (written by
 * transformers' SpmConverter), a T5Tokenizer directory, truncation to a short context, decoding, bad files. */
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

#include "io/spm_tokenizer.h"
#include "runtime/status.h"
#include "tests/io/io_test_util.h"

static char data_dir[1024];
static struct json_object *goldens;

static const char *data_path(const char *name)
{
    static char p[1200];
    snprintf(p, sizeof p, "%s/%s", data_dir, name);
    return p;
}

static int setup(void **state)
{
    (void)state;
    const char *d = getenv("CLIPCL_TEST_DATA");
    snprintf(data_dir, sizeof data_dir, "%s/spm", d ? d : "tests/data");
    goldens = json_object_from_file(data_path("goldens.json"));
    if (!goldens)
        return -1;
    return iot_setup("spm");
}

static int teardown(void **state)
{
    json_object_put(goldens);
    return iot_teardown(state);
}

static struct json_object *field(const char *key)
{
    struct json_object *v = NULL;
    assert_true(json_object_object_get_ex(goldens, key, &v));
    return v;
}

static size_t golden_context(void) { return (size_t)json_object_get_int(field("context_length")); }

/* Every text of the goldens through `t` with `clean`, compared with the ids of
 * reference `ref`; returns how many texts there were. */
static size_t check_all(spm_tokenizer *t, spm_clean clean, const char *ref)
{
    struct json_object *texts = field("texts"), *want = field(ref);
    size_t n = json_object_array_length(texts), ctx = golden_context();
    assert_int_equal(json_object_array_length(want), n);
    spm_set_clean(t, clean);
    int32_t *ids = malloc(ctx * sizeof *ids);
    assert_non_null(ids);
    for (size_t i = 0; i < n; i++) {
        const char *text = json_object_get_string(json_object_array_get_idx(texts, i));
        struct json_object *w = json_object_array_get_idx(want, i);
        int truncated = -1;
        assert_int_equal(spm_encode_ctx(t, text, ids, ctx, &truncated), CC_OK);
        assert_int_equal(json_object_array_length(w), ctx);
        for (size_t k = 0; k < ctx; k++) {
            int32_t e = json_object_get_int(json_object_array_get_idx(w, k));
            if (ids[k] != e)
                fail_msg("%s, text %zu \"%s\": id %zu is %d, the reference has %d", ref, i, text, k, ids[k], e);
        }
    }
    free(ids);
    return n;
}

static spm_tokenizer *open_or_fail(const char *path)
{
    spm_tokenizer *t = NULL;
    if (spm_open(path, &t) != CC_OK)
        fail_msg("%s", cc_line(cc_last_error(), "spm_open failed"));
    return t;
}

static void test_goldens(void **state)
{
    (void)state;
    spm_tokenizer *t = open_or_fail(data_path("spiece.model"));
    assert_int_equal(spm_vocab_size(t), json_object_get_int(field("vocab_size")));
    assert_int_equal(spm_eos_id(t), json_object_get_int(field("eos_id")));
    assert_int_equal(spm_pad_id(t), json_object_get_int(field("pad_id")));
    assert_int_equal(spm_unk_id(t), json_object_get_int(field("unk_id")));
    assert_true(check_all(t, SPM_CLEAN_NONE, "transformers") >= 40);
    assert_true(check_all(t, SPM_CLEAN_CANONICALIZE, "open_clip") >= 40);
    spm_free(t);
}

/* open_clip's cleaning changes the ids of some texts ('_' to a space, HTML
 * entities): the two goldens differ, so each check above can fail on its own. */
static void test_references_differ(void **state)
{
    (void)state;
    struct json_object *a = field("transformers"), *b = field("open_clip");
    size_t differ = 0;
    for (size_t i = 0; i < json_object_array_length(a); i++)
        differ += strcmp(json_object_to_json_string(json_object_array_get_idx(a, i)),
                         json_object_to_json_string(json_object_array_get_idx(b, i))) != 0;
    assert_true(differ >= 3);
}

/* The directory form and a tokenizer.json of the same model give the same ids. */
static void test_directory_and_tokenizer_json(void **state)
{
    (void)state;
    spm_tokenizer *t = open_or_fail(data_dir);
    check_all(t, SPM_CLEAN_NONE, "transformers");
    spm_free(t);
    assert_true(spm_is_tokenizer(data_dir));
    assert_true(spm_is_tokenizer(data_path("spiece.model")));
    assert_true(spm_is_tokenizer(data_path("tokenizer.json")));
    assert_false(spm_is_tokenizer(data_path("goldens.json")));
    t = open_or_fail(data_path("tokenizer.json"));
    assert_int_equal(spm_vocab_size(t), json_object_get_int(field("vocab_size")));
    check_all(t, SPM_CLEAN_NONE, "transformers");
    check_all(t, SPM_CLEAN_CANONICALIZE, "open_clip");
    spm_free(t);
}

static void copy_file(const char *from, const char *to)
{
    FILE *f = fopen(from, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n > 0);
    rewind(f);
    char *buf = malloc((size_t)n);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    iot_write(to, buf, (size_t)n);
    free(buf);
}

/* A directory naming T5Tokenizer (open_clip's hub SigLIP layout): the ids of
 * open_clip's HFTokenizer through transformers' T5Tokenizer after canonicalize
 * (padding with <pad>); other clean functions and unknown classes refused. */
static void test_t5_directory(void **state)
{
    (void)state;
    char dir[1100];
    snprintf(dir, sizeof dir, "%s", iot_path("t5"));
    assert_int_equal(mkdir(dir, 0755), 0);
    char p[1200];
    snprintf(p, sizeof p, "%s/tokenizer.json", dir);
    copy_file(data_path("tokenizer.json"), p);
    snprintf(p, sizeof p, "%s/tokenizer_config.json", dir);
    const char *cfg = json_object_to_json_string(field("t5_config"));
    iot_write(p, cfg, strlen(cfg));
    spm_tokenizer *t = open_or_fail(dir);
    assert_int_equal(spm_pad_id(t), 0);
    check_all(t, SPM_CLEAN_CANONICALIZE, "open_clip_t5");
    int32_t ids[8];
    spm_set_clean(t, SPM_CLEAN_NONE);
    assert_int_equal(spm_encode_ctx(t, "a cat", ids, 8, NULL), CC_ERR_UNSUPPORTED);
    assert_non_null(strstr(cc_last_error(), "T5Tokenizer"));
    spm_free(t);
    const char bert[] = "{\"tokenizer_class\": \"BertTokenizer\"}";
    iot_write(p, bert, sizeof bert - 1);
    assert_int_equal(spm_open(dir, &t), CC_ERR_UNSUPPORTED);
    assert_non_null(strstr(cc_last_error(), "BertTokenizer"));
}

/* Older T5 conversions: WhitespaceSplit + Metaspace (add_prefix_space) give
 * the same ids; a Replace of anything but runs of spaces is refused. */
static void test_tokenizer_json_variants(void **state)
{
    (void)state;
    struct json_object *j = json_object_from_file(data_path("tokenizer.json"));
    assert_non_null(j);
    struct json_object *pre = json_tokener_parse(
        "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"WhitespaceSplit\"}, "
        "{\"type\": \"Metaspace\", \"replacement\": \"\\u2581\", \"add_prefix_space\": true}]}");
    assert_non_null(pre);
    json_object_object_add(j, "pre_tokenizer", pre);
    const char *p = iot_path("old-t5-tokenizer.json");
    assert_int_equal(json_object_to_file(p, j), 0);
    spm_tokenizer *t = open_or_fail(p);
    check_all(t, SPM_CLEAN_NONE, "transformers");
    spm_free(t);
    struct json_object *norm = NULL, *list = NULL;
    assert_true(json_object_object_get_ex(j, "normalizer", &norm));
    assert_true(json_object_object_get_ex(norm, "normalizers", &list));
    json_object_array_add(list, json_tokener_parse("{\"type\": \"Replace\", \"pattern\": {\"String\": \"``\"}, "
                                                   "\"content\": \"\\\"\"}"));
    assert_int_equal(json_object_to_file(p, j), 0);
    assert_int_equal(spm_open(p, &t), CC_ERR_UNSUPPORTED);
    assert_non_null(strstr(cc_last_error(), "Replace"));
    json_object_put(j);
}

/* A short context keeps the first context-1 ids and ends with </s>. */
static void test_truncation(void **state)
{
    (void)state;
    spm_tokenizer *t = open_or_fail(data_path("spiece.model"));
    struct json_object *texts = field("texts"), *want = field("transformers");
    int32_t ids[8];
    size_t checked = 0;
    for (size_t i = 0; i < json_object_array_length(texts); i++) {
        const char *text = json_object_get_string(json_object_array_get_idx(texts, i));
        struct json_object *w = json_object_array_get_idx(want, i);
        int32_t w7 = json_object_get_int(json_object_array_get_idx(w, 7));
        if (w7 == spm_pad_id(t))
            continue; /* short: 8 would not cut it */
        int truncated = 0;
        assert_int_equal(spm_encode_ctx(t, text, ids, 8, &truncated), CC_OK);
        assert_int_equal(truncated, 1);
        for (size_t k = 0; k < 7; k++)
            assert_int_equal(ids[k], json_object_get_int(json_object_array_get_idx(w, k)));
        assert_int_equal(ids[7], spm_eos_id(t));
        checked++;
    }
    assert_true(checked >= 5);
    assert_int_equal(spm_encode_ctx(t, "x", ids, 0, NULL), CC_ERR_INVALID);
    spm_free(t);
}

static void test_decode(void **state)
{
    (void)state;
    spm_tokenizer *t = open_or_fail(data_path("spiece.model"));
    struct json_object *want = field("transformers"), *decoded = field("decoded");
    for (size_t i = 0; i < json_object_array_length(want); i++) {
        struct json_object *w = json_object_array_get_idx(want, i);
        size_t n = json_object_array_length(w);
        int32_t *ids = malloc(n * sizeof *ids);
        assert_non_null(ids);
        for (size_t k = 0; k < n; k++)
            ids[k] = json_object_get_int(json_object_array_get_idx(w, k));
        char *text = NULL;
        assert_int_equal(spm_decode(t, ids, n, &text), CC_OK);
        assert_string_equal(text, json_object_get_string(json_object_array_get_idx(decoded, i)));
        free(text);
        free(ids);
    }
    spm_free(t);
}

static void test_bad_files(void **state)
{
    (void)state;
    spm_tokenizer *t = NULL;
    assert_int_equal(spm_open(iot_path("missing.model"), &t), CC_ERR_IO);
    assert_null(t);
    assert_non_null(strstr(cc_last_error(), "missing.model"));
    iot_write(iot_path("junk.model"), "not a model", 11);
    assert_int_equal(spm_open(iot_path("junk.model"), &t), CC_ERR_INVALID);
    assert_non_null(strstr(cc_last_error(), "junk.model"));
    /* A BPE tokenizer.json (CLIP's) is not a SentencePiece tokenizer. */
    const char bpe[] = "{\"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}";
    iot_write(iot_path("tokenizer.json"), bpe, sizeof bpe - 1);
    assert_false(spm_is_tokenizer(iot_path("tokenizer.json")));
    assert_int_equal(spm_open(iot_path("tokenizer.json"), &t), CC_ERR_UNSUPPORTED);
    assert_non_null(strstr(cc_last_error(), "Unigram"));
    /* A directory without a SentencePiece file. */
    assert_false(spm_is_tokenizer(iot_root()));
    assert_int_equal(spm_open(iot_root(), &t), CC_ERR_IO);
    /* Text that is not UTF-8 (Python's str cannot hold it) is an error naming the byte. */
    t = open_or_fail(data_path("spiece.model"));
    int32_t ids[8];
    assert_int_equal(spm_encode_ctx(t, "ok \xff\xfe", ids, 8, NULL), CC_ERR_INVALID);
    spm_free(t);
    spm_clean c;
    assert_int_equal(spm_clean_from_name("canonicalize", &c), CC_OK);
    assert_int_equal(c, SPM_CLEAN_CANONICALIZE);
    assert_int_equal(spm_clean_from_name("sanitize", &c), CC_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_goldens),
        cmocka_unit_test(test_references_differ),
        cmocka_unit_test(test_directory_and_tokenizer_json),
        cmocka_unit_test(test_t5_directory),
        cmocka_unit_test(test_tokenizer_json_variants),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_decode),
        cmocka_unit_test(test_bad_files),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
