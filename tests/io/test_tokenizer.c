/* Tokenizer tests. Always run: a hand-made merges file and Hugging Face files with
 * hand-derived ids, truncation, bad files, cleaning cases derived from Python's and
 * ftfy's documented behaviour. With $CLIPCL_SHARED_DIR/data/bpe_simple_vocab_16e6.txt.gz:
 * every golden of tests/data/tokenizer_goldens.json (made by the reference tokenizer),
 * through both the OpenAI loader and HF files written here from the .gz. */
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
#include <zlib.h>

#include "io/tokenizer.h"
#include "runtime/status.h"
#include "tests/io/io_test_util.h"
#include "runtime/settings.h"

/* ---- a hand-made vocabulary ------------------------------------------------------
 * Byte symbols in bytes_to_unicode order: printable c in 33..126 has id c-33, with
 * "</w>" id 256+c-33. Merges (rank r -> id 512+r): l o, lo w</w>, h e, he l, l l, e l,
 * h el. "hel" is made twice; the later id (518) wins as in Python's dict. SOT 519, EOT 520. */
static const char TINY[] = "#version: 0.2\nl o\nlo w</w>\nh e\nhe l\nl l\ne l\nh el\n";
static const char TINY_TEXT[] = "Low hello, lol ll helo elo";
/* low | hello | , | lol | ll | helo | elo */
static const int32_t TINY_IDS[] = {519, 513, 518, 75, 334, 267, 512, 331, 75, 331, 518, 334, 517, 334, 520};

static void check_ctx(const int32_t *got, const int32_t *want, size_t n)
{
    for (size_t i = 0; i < TOK_CONTEXT_LENGTH; i++)
        assert_int_equal(got[i], i < n ? want[i] : 0);
}

static void test_tiny_openai(void **state)
{
    (void)state;
    tok_tokenizer *t = NULL;
    assert_int_equal(tok_load_openai(iot_path("tiny_merges.txt"), &t), CC_OK);
    assert_int_equal(tok_vocab_size(t), 521);
    assert_int_equal(tok_sot_id(t), 519);
    assert_int_equal(tok_eot_id(t), 520);
    int32_t ids[TOK_CONTEXT_LENGTH];
    int trunc = -1;
    assert_int_equal(tok_encode(t, TINY_TEXT, ids, &trunc), CC_OK);
    assert_int_equal(trunc, 0);
    check_ctx(ids, TINY_IDS, sizeof TINY_IDS / sizeof TINY_IDS[0]);
    /* Twice, so the second pass goes through the word cache. */
    assert_int_equal(tok_encode(t, TINY_TEXT, ids, &trunc), CC_OK);
    check_ctx(ids, TINY_IDS, sizeof TINY_IDS / sizeof TINY_IDS[0]);

    char *text = NULL;
    assert_int_equal(tok_decode(t, TINY_IDS, sizeof TINY_IDS / sizeof TINY_IDS[0], &text), CC_OK);
    assert_string_equal(text, "<|startoftext|>low hello , lol ll helo elo <|endoftext|>");
    free(text);
    tok_free(t);
}

static void test_tiny_gzip(void **state)
{
    (void)state;
    gzFile f = gzopen(iot_path("tiny_merges.txt.gz"), "wb");
    assert_non_null(f);
    assert_int_equal(gzwrite(f, TINY, (unsigned)strlen(TINY)), (int)strlen(TINY));
    gzclose(f);
    tok_tokenizer *t = NULL;
    assert_int_equal(tok_load_openai(iot_path("tiny_merges.txt.gz"), &t), CC_OK);
    int32_t ids[TOK_CONTEXT_LENGTH];
    assert_int_equal(tok_encode(t, TINY_TEXT, ids, NULL), CC_OK);
    check_ctx(ids, TINY_IDS, sizeof TINY_IDS / sizeof TINY_IDS[0]);
    tok_free(t);
}

/* The test's own bytes_to_unicode (spec section 4.1): symbol of the i-th vocabulary byte. */
static void byte_symbol(int i, char out[3])
{
    int order[256], n = 0, extra = 0, cp[256];
    for (int b = 0; b < 256; b++)
        if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174) {
            order[n++] = b;
            cp[b] = b;
        }
    for (int b = 0; b < 256; b++)
        if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174)) {
            order[n++] = b;
            cp[b] = 256 + extra++;
        }
    int c = cp[order[i]];
    if (c < 0x80) {
        out[0] = (char)c;
        out[1] = 0;
    } else {
        out[0] = (char)(0xC0 | (c >> 6));
        out[1] = (char)(0x80 | (c & 0x3F));
        out[2] = 0;
    }
}

/* HF files with ids unlike OpenAI's, so that every id must come from vocab.json. */
static void test_tiny_hf(void **state)
{
    (void)state;
    json_object *v = json_object_new_object();
    for (int i = 0; i < 256; i++) {
        char s[3], s2[8];
        byte_symbol(i, s);
        snprintf(s2, sizeof s2, "%s</w>", s);
        json_object_object_add(v, s, json_object_new_int(1000 + i));
        json_object_object_add(v, s2, json_object_new_int(2000 + i));
    }
    const char *names[] = {"lo", "low</w>", "he", "hel", "ll", "el", "<|startoftext|>", "<|endoftext|>"};
    const int ids_of[] = {5, 6, 7, 8, 9, 3, 1, 2};
    for (int i = 0; i < 8; i++)
        json_object_object_add(v, names[i], json_object_new_int(ids_of[i]));
    assert_int_equal(json_object_to_file(iot_path("tiny_vocab.json"), v), 0);
    json_object_put(v);
    iot_write_text(iot_path("tiny_hf_merges.txt"), TINY);

    tok_tokenizer *t = NULL;
    assert_int_equal(tok_load_hf(iot_path("tiny_vocab.json"), iot_path("tiny_hf_merges.txt"), &t), CC_OK);
    assert_int_equal(tok_vocab_size(t), 2256);
    const int32_t want[] = {1, 6, 8, 1075, 2078, 2011, 5, 2075, 1075, 2075, 8, 2078, 3, 2078, 2};
    int32_t ids[TOK_CONTEXT_LENGTH];
    assert_int_equal(tok_encode(t, TINY_TEXT, ids, NULL), CC_OK);
    check_ctx(ids, want, sizeof want / sizeof want[0]);
    char *text = NULL;
    const int32_t hole[] = {4};
    assert_int_equal(tok_decode(t, hole, 1, &text), CC_ERR_INVALID);
    assert_null(text);
    tok_free(t);
}

static void test_truncation(void **state)
{
    (void)state;
    tok_tokenizer *t = NULL;
    assert_int_equal(tok_load_openai(iot_path("tiny_merges.txt"), &t), CC_OK);
    char text[400] = "";
    int32_t ids[TOK_CONTEXT_LENGTH];
    int trunc;
    /* "lol" is 2 ids (512 331): 50 of them are 100 ids, cut to 75 + SOT + EOT. */
    for (int i = 0; i < 50; i++)
        strcat(text, "lol ");
    assert_int_equal(tok_encode(t, text, ids, &trunc), CC_OK);
    assert_int_equal(trunc, 1);
    assert_int_equal(ids[0], 519);
    for (int i = 1; i < 76; i++)
        assert_int_equal(ids[i], (i - 1) % 2 ? 331 : 512);
    assert_int_equal(ids[76], 520);
    /* 37 x "lol" + "a" = 75 ids: fits exactly. */
    text[0] = 0;
    for (int i = 0; i < 37; i++)
        strcat(text, "lol ");
    strcat(text, "a");
    assert_int_equal(tok_encode(t, text, ids, &trunc), CC_OK);
    assert_int_equal(trunc, 0);
    assert_int_equal(ids[75], 320);
    assert_int_equal(ids[76], 520);
    /* 38 x "lol" = 76 ids: one too many. */
    text[0] = 0;
    for (int i = 0; i < 38; i++)
        strcat(text, "lol ");
    assert_int_equal(tok_encode(t, text, ids, &trunc), CC_OK);
    assert_int_equal(trunc, 1);
    assert_int_equal(ids[75], 512);
    assert_int_equal(ids[76], 520);
    /* A small context keeps SOT and EOT. */
    int32_t small[4];
    assert_int_equal(tok_encode_ctx(t, "hello", small, 4, &trunc), CC_OK);
    assert_int_equal(trunc, 1);
    assert_int_equal(small[0], 519);
    assert_int_equal(small[1], 518);
    assert_int_equal(small[2], 75);
    assert_int_equal(small[3], 520);
    tok_free(t);
}

static void expect_load_error(const char *content, int code, const char *needle)
{
    iot_write_text(iot_path("bad_merges.txt"), content);
    tok_tokenizer *t = (tok_tokenizer *)1;
    assert_int_equal(tok_load_openai(iot_path("bad_merges.txt"), &t), code);
    assert_null(t);
    if (!strstr(cc_last_error(), needle))
        fail_msg("error \"%s\" lacks \"%s\"", cc_last_error(), needle);
}

static void test_bad_files(void **state)
{
    (void)state;
    tok_tokenizer *t = NULL;
    assert_int_equal(tok_load_openai(iot_path("does_not_exist.txt.gz"), &t), CC_ERR_IO);
    assert_non_null(strstr(cc_last_error(), "does_not_exist.txt.gz"));
    expect_load_error("#version: 0.2\nl o\nl o x\n", CC_ERR_INVALID, "line 3");
    expect_load_error("#version: 0.2\nzz q\n", CC_ERR_INVALID, "not in the vocabulary");
    expect_load_error("", CC_ERR_INVALID, "is empty");
    /* A header alone: bytes and specials only (what tokenizer-train writes for 514). */
    iot_write_text(iot_path("header_only.txt"), "#version: 0.2\n");
    assert_int_equal(tok_load_openai(iot_path("header_only.txt"), &t), CC_OK);
    assert_int_equal(tok_vocab_size(t), 514);
    int32_t *hv;
    size_t hn;
    assert_int_equal(tok_encode_ids(t, "Ab", &hv, &hn), CC_OK);
    assert_int_equal(hn, 2);
    assert_int_equal(hv[0], 'a' - 33);
    assert_int_equal(hv[1], 256 + 'b' - 33);
    free(hv);
    tok_free(t);
    t = NULL;
    expect_load_error("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03garbage that is not deflate", CC_ERR_IO, "bad_merges.txt");

    iot_write_text(iot_path("bad_vocab.json"), "{not json");
    iot_write_text(iot_path("ok_merges.txt"), TINY);
    assert_int_not_equal(tok_load_hf(iot_path("bad_vocab.json"), iot_path("ok_merges.txt"), &t), CC_OK);
    assert_null(t);
    assert_non_null(strstr(cc_last_error(), "bad_vocab.json"));
    iot_write_text(iot_path("bad_vocab.json"), "{\"a\": \"seven\"}");
    assert_int_equal(tok_load_hf(iot_path("bad_vocab.json"), iot_path("ok_merges.txt"), &t), CC_ERR_INVALID);
    assert_non_null(strstr(cc_last_error(), "integer"));
    iot_write_text(iot_path("bad_vocab.json"), "{\"a\": 0}");
    assert_int_equal(tok_load_hf(iot_path("bad_vocab.json"), iot_path("ok_merges.txt"), &t), CC_ERR_INVALID);
    assert_non_null(strstr(cc_last_error(), "byte"));

    /* Text that is not UTF-8 is refused, not guessed at. */
    assert_int_equal(tok_load_openai(iot_path("tiny_merges.txt"), &t), CC_OK);
    int32_t ids[TOK_CONTEXT_LENGTH];
    assert_int_equal(tok_encode(t, "caf\xe9", ids, NULL), CC_ERR_INVALID);
    assert_non_null(strstr(cc_last_error(), "UTF-8"));
    tok_free(t);
}

/* Expected values follow Python's html.unescape, str.split/str.lower and ftfy's
 * documented fixes (uncurl quotes, ligatures, width, NFC, terminal escapes). */
static void test_clean(void **state)
{
    (void)state;
    static const char *cases[][2] = {
        {"  Hello\t\nWORLD  ", "hello world"},
        {"&amp;lt;3", "<3"},
        {"AT&T", "at&t"},
        {"&copy 2024", "\xc2\xa9 2024"},            /* html.unescape takes "&copy" without ';' */
        {"&notit;", "\xc2\xacit;"},                 /* longest known prefix "not" */
        {"&#128512;", "\xf0\x9f\x98\x80"},
        {"&#0;", "\xef\xbf\xbd"},
        {"&#x110000;", "\xef\xbf\xbd"},
        {"it\xe2\x80\x99s", "it's"},
        {"\xef\xac\x81ne", "fine"},
        {"cafe\xcc\x81", "caf\xc3\xa9"},
        {"\xef\xbc\xa1\xef\xbc\xa2", "ab"},
        {"\xce\x9f\xce\x94\xce\x9f\xce\xa3", "\xce\xbf\xce\xb4\xce\xbf\xcf\x82"},
        {"\xce\xa3\xce\x9f", "\xcf\x83\xce\xbf"},
        {"\xc4\xb0", "i\xcc\x87"},
        {"\x1b[1mbold\x1b[0m", "bold"},
        {"a\xc2\xa0\xe3\x80\x80" "b", "a b"},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out = NULL;
        assert_int_equal(tok_clean(cases[i][0], &out), CC_OK);
        if (strcmp(out, cases[i][1]) != 0)
            fail_msg("clean(\"%s\") = \"%s\", expected \"%s\"", cases[i][0], out, cases[i][1]);
        free(out);
    }
}

/* ---- goldens with the real vocabulary ---------------------------------------------- */

static char g_vocab[1200];

static int have_vocab(void)
{
    const char *shared = rt_setting_value(RT_SET_SHARED_DIR);
    if (!shared)
        return 0;
    snprintf(g_vocab, sizeof g_vocab, "%s/data/bpe_simple_vocab_16e6.txt.gz", shared);
    struct stat st;
    return stat(g_vocab, &st) == 0;
}

static json_object *load_goldens(void)
{
    const char *data = rt_setting_value(RT_SET_TEST_DATA);
    assert_non_null(data);
    char path[1200];
    snprintf(path, sizeof path, "%s/tokenizer_goldens.json", data);
    json_object *root = json_object_from_file(path);
    if (!root)
        fail_msg("cannot read %s: %s", path, json_util_get_last_err());
    return root;
}

static void check_goldens(tok_tokenizer *t, int check_clean)
{
    json_object *root = load_goldens(), *cases;
    assert_true(json_object_object_get_ex(root, "cases", &cases));
    size_t n = json_object_array_length(cases), checked = 0;
    assert_true(n >= 40);
    for (size_t i = 0; i < n; i++) {
        json_object *c = json_object_array_get_idx(cases, i), *o;
        assert_true(json_object_object_get_ex(c, "text", &o));
        const char *text = json_object_get_string(o);
        if (json_object_object_get_ex(c, "skip", &o)) {
            print_message("skipping golden \"%s\": %s\n", text, json_object_get_string(o));
            continue;
        }
        if (check_clean) {
            char *clean = NULL;
            assert_true(json_object_object_get_ex(c, "clean", &o));
            assert_int_equal(tok_clean(text, &clean), CC_OK);
            if (strcmp(clean, json_object_get_string(o)) != 0)
                fail_msg("clean(\"%s\") = \"%s\", reference \"%s\"", text, clean, json_object_get_string(o));
            free(clean);
        }
        int32_t ids[TOK_CONTEXT_LENGTH];
        int trunc = -1;
        assert_int_equal(tok_encode(t, text, ids, &trunc), CC_OK);
        json_object *want;
        assert_true(json_object_object_get_ex(c, "ids", &want));
        size_t m = json_object_array_length(want);
        for (size_t k = 0; k < TOK_CONTEXT_LENGTH; k++) {
            int32_t w = k < m ? json_object_get_int(json_object_array_get_idx(want, k)) : 0;
            if (ids[k] != w)
                fail_msg("\"%s\": id[%zu] = %d, reference %d", text, k, ids[k], w);
        }
        assert_true(json_object_object_get_ex(c, "truncated", &o));
        assert_int_equal(trunc, json_object_get_boolean(o));
        checked++;
    }
    print_message("%zu goldens match\n", checked);
    json_object_put(root);
}

static void test_goldens_openai(void **state)
{
    (void)state;
    if (!have_vocab()) {
        print_message("skipping: no bpe_simple_vocab_16e6.txt.gz under $CLIPCL_SHARED_DIR/data\n");
        skip();
    }
    tok_tokenizer *t = NULL;
    assert_int_equal(tok_load_openai(g_vocab, &t), CC_OK);
    assert_int_equal(tok_vocab_size(t), 49408);
    assert_int_equal(tok_sot_id(t), 49406);
    assert_int_equal(tok_eot_id(t), 49407);
    check_goldens(t, 1);
    int32_t hello[] = {49406, 3306, 1002, 256, 49407};
    char *text = NULL;
    assert_int_equal(tok_decode(t, hello, 5, &text), CC_OK);
    assert_string_equal(text, "<|startoftext|>hello world ! <|endoftext|>");
    free(text);
    tok_free(t);
}

/* HF files written from the .gz by this test's own reading of spec section 4.2. */
static void write_hf_from_gz(const char *vocab_json, const char *merges_txt)
{
    gzFile g = gzopen(g_vocab, "rb");
    assert_non_null(g);
    FILE *mf = fopen(merges_txt, "wb");
    assert_non_null(mf);
    json_object *v = json_object_new_object();
    for (int i = 0; i < 256; i++) {
        char s[3], s2[8];
        byte_symbol(i, s);
        snprintf(s2, sizeof s2, "%s</w>", s);
        json_object_object_add(v, s, json_object_new_int(i));
        json_object_object_add(v, s2, json_object_new_int(256 + i));
    }
    char line[512];
    for (int ln = 0; ln < TOK_MAX_MERGES + 1 && gzgets(g, line, sizeof line); ln++) {
        fputs(line, mf);
        if (ln == 0)
            continue;
        char merged[512];
        size_t k = 0;
        for (char *p = line; *p && *p != '\n'; p++)
            if (*p != ' ')
                merged[k++] = *p;
        merged[k] = 0;
        json_object_object_add(v, merged, json_object_new_int(511 + ln));
    }
    json_object_object_add(v, "<|startoftext|>", json_object_new_int(49406));
    json_object_object_add(v, "<|endoftext|>", json_object_new_int(49407));
    assert_int_equal(json_object_to_file(vocab_json, v), 0);
    json_object_put(v);
    fclose(mf);
    gzclose(g);
}

static void test_goldens_hf(void **state)
{
    (void)state;
    if (!have_vocab()) {
        print_message("skipping: no bpe_simple_vocab_16e6.txt.gz under $CLIPCL_SHARED_DIR/data\n");
        skip();
    }
    write_hf_from_gz(iot_path("vocab.json"), iot_path("merges.txt"));
    tok_tokenizer *t = NULL;
    assert_int_equal(tok_load_hf(iot_path("vocab.json"), iot_path("merges.txt"), &t), CC_OK);
    assert_int_equal(tok_vocab_size(t), 49408);
    check_goldens(t, 0);
    tok_free(t);
}

static int setup(void **state)
{
    (void)state;
    if (iot_setup("G_tokenizer"))
        return -1;
    iot_write_text(iot_path("tiny_merges.txt"), TINY);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tiny_openai),
        cmocka_unit_test(test_tiny_gzip),
        cmocka_unit_test(test_tiny_hf),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_clean),
        cmocka_unit_test(test_goldens_openai),
        cmocka_unit_test(test_goldens_hf),
    };
    return cmocka_run_group_tests(tests, setup, iot_teardown);
}
