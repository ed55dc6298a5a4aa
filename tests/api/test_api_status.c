/* Every function of include/clipcl.h, given bad input, returns a non-zero
 * CLIPCL_ERR_* status and leaves one line in clipcl_last_error() naming the
 * thing and the expectation; the getters given NULL return 0 and say why;
 * nothing crashes. The version macros spell meson's project version, and
 * clipcl_version() the same. Linked against libclipcl.so, clipcl.h only. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clipcl.h"

static char model_dir[1200];

/* rc is `want` and the message holds every one of the NULL-ended words */
static void expect(int rc, int want, ...)
{
    const char *msg = clipcl_last_error();
    if (rc != want)
        fail_msg("status %d, expected %d (message: %s)", rc, want, msg);
    assert_non_null(msg);
    assert_null(strchr(msg, '\n'));
    va_list ap;
    va_start(ap, want);
    for (const char *w = va_arg(ap, const char *); w; w = va_arg(ap, const char *))
        if (!strstr(msg, w))
            fail_msg("message \"%s\" lacks \"%s\"", msg, w);
    va_end(ap);
}

static clipcl_model *load_ref(void)
{
    clipcl_model *m = NULL;
    int rc = clipcl_load(model_dir, "ref", &m);
    if (rc)
        fail_msg("clipcl_load %s: %s", model_dir, clipcl_last_error());
    return m;
}

static void test_version(void **state)
{
    (void)state;
    assert_string_equal(CLIPCL_VERSION_STRING, CLIPCL_PROJECT_VERSION);
    assert_string_equal(clipcl_version(), CLIPCL_PROJECT_VERSION);
    char spelled[64];
    snprintf(spelled, sizeof spelled, "%d.%d.%d", CLIPCL_VERSION_MAJOR, CLIPCL_VERSION_MINOR,
             CLIPCL_VERSION_PATCH);
    assert_string_equal(spelled, CLIPCL_PROJECT_VERSION);
    assert_int_equal(CLIPCL_VERSION_NUMBER, CLIPCL_VERSION_MAJOR * 10000 +
                                                CLIPCL_VERSION_MINOR * 100 + CLIPCL_VERSION_PATCH);
}

static void test_getters_given_null(void **state)
{
    (void)state;
    assert_int_equal(clipcl_embed_dim(NULL), 0);
    expect(CLIPCL_ERR_INVALID, CLIPCL_ERR_INVALID, "clipcl_embed_dim: NULL model", NULL);
    assert_int_equal(clipcl_image_size(NULL), 0);
    expect(CLIPCL_ERR_INVALID, CLIPCL_ERR_INVALID, "clipcl_image_size", NULL);
    assert_int_equal(clipcl_context_length(NULL), 0);
    expect(CLIPCL_ERR_INVALID, CLIPCL_ERR_INVALID, "clipcl_context_length", NULL);
    assert_true(clipcl_logit_scale(NULL) == 0.0f);
    expect(CLIPCL_ERR_INVALID, CLIPCL_ERR_INVALID, "clipcl_logit_scale", NULL);
    clipcl_free(NULL);
}

static void test_load(void **state)
{
    (void)state;
    clipcl_model *m = (clipcl_model *)&m; /* set to NULL on failure */
    expect(clipcl_load(NULL, "ref", &m), CLIPCL_ERR_INVALID, "clipcl_load", "NULL", NULL);
    expect(clipcl_load(model_dir, "ref", NULL), CLIPCL_ERR_INVALID, "NULL", NULL);
    expect(clipcl_load("/nonexistent/model-dir", "ref", &m), CLIPCL_ERR_IO,
           "/nonexistent/model-dir", NULL);
    assert_null(m);
    int rc = clipcl_load(model_dir, "no-such-device-anywhere", &m);
    assert_true(rc == CLIPCL_ERR_NO_DEVICE || rc == CLIPCL_ERR_NO_PLATFORM);
    assert_true(strlen(clipcl_last_error()) > 0);
    assert_null(m);
}

static void test_settings(void **state)
{
    (void)state;
    clipcl_model *m = load_ref();
    expect(clipcl_set_max_batch(NULL, 4), CLIPCL_ERR_INVALID, "clipcl_set_max_batch: NULL model",
           NULL);
    expect(clipcl_set_max_batch(m, 0), CLIPCL_ERR_INVALID, "batch 0", "expected >= 1", NULL);
    expect(clipcl_set_vocab(m, NULL), CLIPCL_ERR_INVALID, "clipcl_set_vocab", NULL);
    expect(clipcl_set_vocab(m, "/nonexistent/vocab.json"), CLIPCL_ERR_IO,
           "/nonexistent/vocab.json", NULL);
    clipcl_info info;
    expect(clipcl_get_info(NULL, &info), CLIPCL_ERR_INVALID, "clipcl_get_info", NULL);
    expect(clipcl_get_info(m, NULL), CLIPCL_ERR_INVALID, "clipcl_get_info", NULL);
    assert_int_equal(clipcl_get_info(m, &info), CLIPCL_OK);
    assert_int_equal(info.embed_dim, clipcl_embed_dim(m));
    clipcl_free(m);
}

static void test_encoders(void **state)
{
    (void)state;
    clipcl_model *m = load_ref();
    int D = clipcl_embed_dim(m), T = clipcl_context_length(m), R = clipcl_image_size(m);
    float *out = calloc((size_t)2 * D, sizeof *out);
    int32_t *ids = calloc((size_t)2 * T, sizeof *ids);
    float *px = calloc((size_t)2 * 3 * R * R, sizeof *px);
    assert_non_null(out);
    assert_non_null(ids);
    assert_non_null(px);
    const char *texts[] = {"a", NULL};
    const char *paths[] = {"/nonexistent/image.png", NULL};

    expect(clipcl_encode_token_ids(NULL, ids, 1, 0, out), CLIPCL_ERR_INVALID, "NULL", NULL);
    expect(clipcl_encode_token_ids(m, ids, 0, 0, out), CLIPCL_ERR_INVALID, "0 inputs", NULL);
    expect(clipcl_encode_token_ids(m, ids, 1, 0, NULL), CLIPCL_ERR_INVALID, "NULL", NULL);
    expect(clipcl_encode_token_ids(m, ids, 1, 4, out), CLIPCL_ERR_INVALID, "flags 0x4", NULL);
    ids[T + 3] = 1 << 20;
    expect(clipcl_encode_token_ids(m, ids, 2, 0, out), CLIPCL_ERR_INVALID,
           "row 1 position 3 holds id 1048576", NULL);
    ids[T + 3] = -1;
    expect(clipcl_encode_token_ids(m, ids, 2, 0, out), CLIPCL_ERR_INVALID, "holds id -1", NULL);
    ids[T + 3] = 0;
    assert_int_equal(clipcl_encode_token_ids(m, ids, 2, CLIPCL_NORMALIZE, out), CLIPCL_OK);

    expect(clipcl_encode_image_pixels(m, NULL, 1, 0, out), CLIPCL_ERR_INVALID, "NULL", NULL);
    expect(clipcl_encode_image_pixels(m, px, -3, 0, out), CLIPCL_ERR_INVALID, "-3 inputs", NULL);
    expect(clipcl_encode_image_pixels(m, px, 1, 0x100, out), CLIPCL_ERR_INVALID, "flags 0x100",
           NULL);
    assert_int_equal(clipcl_encode_image_pixels(m, px, 2, 0, out), CLIPCL_OK);

    expect(clipcl_encode_image_files(m, paths, 1, 0, out), CLIPCL_ERR_IO,
           "/nonexistent/image.png", NULL);
    paths[0] = NULL;
    expect(clipcl_encode_image_files(m, paths, 1, 0, out), CLIPCL_ERR_INVALID, "path 0 is NULL",
           NULL);
    expect(clipcl_encode_image_files(m, NULL, 1, 0, out), CLIPCL_ERR_INVALID, "NULL", NULL);

    /* the test model has no tokenizer files beside it */
    expect(clipcl_encode_texts(m, texts, 1, 0, out, NULL), CLIPCL_ERR_IO, "no tokenizer", NULL);
    expect(clipcl_encode_texts(m, texts, 1, 2, out, NULL), CLIPCL_ERR_INVALID, "flags 0x2", NULL);
    expect(clipcl_encode_texts(m, NULL, 1, 0, out, NULL), CLIPCL_ERR_INVALID, "NULL", NULL);
    free(out);
    free(ids);
    free(px);
    clipcl_free(m);
}

int main(void)
{
    const char *dir = getenv("CLIPCL_TEST_DATA");
    snprintf(model_dir, sizeof model_dir, "%s/clip_small_vit/openai", dir ? dir : "tests/data");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_getters_given_null),
        cmocka_unit_test(test_load),
        cmocka_unit_test(test_settings),
        cmocka_unit_test(test_encoders),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
