/* The public API that language bindings use (include/clipcl.h, "Devices,
 * preprocessing, tokens and zero-shot"), each against another path:
 * - clipcl_preprocess_pixels8 on a PNG's decoded pixels equals
 *   clipcl_preprocess_file of the PNG, bit for bit, for every PIL mode, and
 *   equals the Pillow/torchvision uint8 goldens normalised here;
 * - clipcl_tokenize's ids through clipcl_encode_token_ids equal
 *   clipcl_encode_texts, bit for bit (on a copy of the small ViT golden
 *   model whose vocabulary is widened to a tiny BPE tokenizer written here);
 * - clipcl_zeroshot_classifier equals the prompt ensemble recomputed here
 *   from clipcl_encode_texts; clipcl_zeroshot_probs equals a softmax
 *   recomputed here;
 * - clipcl_list_devices names the device clipcl_load opens by default;
 * - bad arguments fail with a message naming them. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clipcl.h"
#include "io/image.h"
#include "io/npy.h"
#include "io/safetensors.h"
#include "runtime/settings.h"
#include "runtime/status.h"

static const char *data_dir(void)
{
    const char *d = rt_setting_value(RT_SET_TEST_DATA);
    return d ? d : "tests/data";
}

/* ---- preprocessing ---- */

static int pixels_mode(img_mode m)
{
    switch (m) {
    case IMG_L: return CLIPCL_PIXELS_L;
    case IMG_LA: return CLIPCL_PIXELS_LA;
    case IMG_RGB: return CLIPCL_PIXELS_RGB;
    case IMG_RGBA: return CLIPCL_PIXELS_RGBA;
    default: return CLIPCL_PIXELS_P;
    }
}

/* name: tests/data/preprocess_NAME_in.png with its S64 uint8 golden. */
static void check_pixels(const char *name, int expect_mode)
{
    const int S = 64;
    char in[1024], golden[1024];
    snprintf(in, sizeof in, "%s/preprocess_%s_in.png", data_dir(), name);
    snprintf(golden, sizeof golden, "%s/preprocess_%s_S%d.npy", data_dir(), name, S);
    size_t per = 3 * (size_t)S * S;
    float *by_file = malloc(per * sizeof(float)), *by_px = malloc(per * sizeof(float));
    float *strided = malloc(per * sizeof(float));
    assert_non_null(by_file);
    assert_non_null(by_px);
    assert_non_null(strided);
    if (clipcl_preprocess_file(in, S, by_file) != CLIPCL_OK)
        fail_msg("%s", clipcl_last_error());
    img_u8 im;
    if (img_load(in, &im) != CC_OK)
        fail_msg("%s", cc_last_error());
    assert_int_equal(pixels_mode(im.mode), expect_mode);
    size_t row = (size_t)im.w * (size_t)im.c;
    if (clipcl_preprocess_pixels8(im.px, im.w, im.h, row, expect_mode, S, by_px) != CLIPCL_OK)
        fail_msg("%s", clipcl_last_error());
    assert_memory_equal(by_px, by_file, per * sizeof(float));
    /* rows 7 bytes apart beyond their pixels (a numpy slice, a PIL stride) */
    size_t stride = row + 7;
    uint8_t *padded = malloc(stride * (size_t)im.h);
    assert_non_null(padded);
    memset(padded, 0xAB, stride * (size_t)im.h);
    for (int y = 0; y < im.h; y++)
        memcpy(padded + (size_t)y * stride, im.px + (size_t)y * row, row);
    if (clipcl_preprocess_pixels8(padded, im.w, im.h, stride, expect_mode, S, strided) != CLIPCL_OK)
        fail_msg("%s", clipcl_last_error());
    assert_memory_equal(strided, by_file, per * sizeof(float));
    /* the Pillow golden (uint8 S x S x 3), normalised in torchvision's float32 steps */
    npy_array g;
    if (npy_read(golden, NPY_U8, &g) != CC_OK)
        fail_msg("%s", cc_last_error());
    assert_int_equal(g.numel, (int64_t)per);
    const uint8_t *w = g.data;
    static const float mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
    static const float std_[3] = {0.26862954f, 0.26130258f, 0.27577711f};
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < S * S; i++) {
            float v = (float)w[(size_t)i * 3 + (size_t)c] / 255.0f;
            float want = (v - mean[c]) / std_[c];
            if (by_px[(size_t)c * S * S + (size_t)i] != want)
                fail_msg("%s: channel %d pixel %d: %.9g, golden %.9g", name, c, i,
                         (double)by_px[(size_t)c * S * S + (size_t)i], (double)want);
        }
    npy_free(&g);
    img_free(&im);
    free(padded);
    free(by_file);
    free(by_px);
    free(strided);
}

static void test_pixels_rgb(void **s) { (void)s; check_pixels("rgb_200x150", CLIPCL_PIXELS_RGB); }
static void test_pixels_rgb_up(void **s) { (void)s; check_pixels("rgb_17x23", CLIPCL_PIXELS_RGB); }
static void test_pixels_grey(void **s) { (void)s; check_pixels("grey_37x53", CLIPCL_PIXELS_L); }
static void test_pixels_la(void **s) { (void)s; check_pixels("la_50x40", CLIPCL_PIXELS_LA); }
static void test_pixels_rgba(void **s) { (void)s; check_pixels("rgba_90x70", CLIPCL_PIXELS_RGBA); }
static void test_pixels_palette(void **s) { (void)s; check_pixels("palette_80x120", CLIPCL_PIXELS_P); }
static void test_pixels_bilevel(void **s) { (void)s; check_pixels("bw_41x30", CLIPCL_PIXELS_P); }

static void expect_error(int rc, const char *needle)
{
    assert_int_not_equal(rc, CLIPCL_OK);
    const char *msg = clipcl_last_error();
    if (!strstr(msg, needle))
        fail_msg("error \"%s\" does not mention \"%s\"", msg, needle);
}

static void test_preprocess_errors(void **state)
{
    (void)state;
    float out[3 * 4 * 4];
    uint8_t px[2 * 2 * 4] = {0};
    expect_error(clipcl_preprocess_pixels8(px, 2, 2, 6, 9, 4, out), "mode 9");
    expect_error(clipcl_preprocess_pixels8(px, 2, 2, 5, CLIPCL_PIXELS_RGB, 4, out), "row stride 5");
    expect_error(clipcl_preprocess_pixels8(px, 0, 2, 6, CLIPCL_PIXELS_RGB, 4, out), "image 0x2");
    expect_error(clipcl_preprocess_pixels8(px, 2, 2, 6, CLIPCL_PIXELS_RGB, 0, out), "size 0");
    expect_error(clipcl_preprocess_pixels8(NULL, 2, 2, 6, CLIPCL_PIXELS_RGB, 4, out), "NULL");
    expect_error(clipcl_preprocess_file("/nonexistent/cat.png", 4, out), "/nonexistent/cat.png");
    char bad[1024];
    snprintf(bad, sizeof bad, "%s/tokenizer_goldens.json", data_dir());
    expect_error(clipcl_preprocess_file(bad, 4, out), "tokenizer_goldens.json");
    /* a good call after them clears nothing it should not: it succeeds */
    assert_int_equal(clipcl_preprocess_pixels8(px, 2, 2, 8, CLIPCL_PIXELS_RGBA, 4, out), CLIPCL_OK);
}

/* ---- a model with a tokenizer ---- */

static const char *const MERGES[] = {"h e", "l l", "l o</w>", "he ll", "hell o</w>", "c a",
                                     "ca t</w>", "d o", "do g</w>", "p h", "o t", "o f</w>",
                                     "ph ot", "phot o</w>"};
#define N_MERGES (int)(sizeof MERGES / sizeof *MERGES)
#define TINY_VOCAB (512 + N_MERGES + 2)

static char model_dir[1024];

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

/* The ViT golden model with its token embedding widened to TINY_VOCAB rows
 * (new rows repeat old ones in a scrambled order) and a tiny OpenAI merges
 * file: tests/tools/test_cli_clip.py makes the same one. */
static int make_model(void **state)
{
    (void)state;
    const char *c = getenv("CLIPCL_CACHE_DIR");
    snprintf(model_dir, sizeof model_dir, "%s/bindings-XXXXXX", c ? c : "/tmp");
    if (c)
        mkdir(c, 0755);
    if (!mkdtemp(model_dir))
        return -1;
    char src[1024], dst[1200];
    snprintf(src, sizeof src, "%s/clip_small_vit/openai/model.safetensors", data_dir());
    st_file *f = NULL;
    if (st_open(src, &f) != CC_OK)
        return -1;
    size_t n = st_count(f);
    st_write_tensor *ts = calloc(n, sizeof *ts);
    int64_t wide_shape[2] = {0, 0};
    uint8_t *wide = NULL;
    for (size_t i = 0; i < n; i++) {
        const st_tensor *t = st_at(f, i);
        ts[i] = (st_write_tensor){t->name, t->dtype, t->ndim, t->shape, t->data};
        if (strcmp(t->name, "token_embedding.weight") == 0) {
            int64_t rows = t->shape[0];
            size_t rb = t->nbytes / (size_t)rows;
            wide = malloc(rb * TINY_VOCAB);
            memcpy(wide, t->data, t->nbytes);
            for (int64_t r = rows; r < TINY_VOCAB; r++)
                memcpy(wide + (size_t)r * rb, (const uint8_t *)t->data + (size_t)((r * 37) % rows) * rb,
                       rb);
            wide_shape[0] = TINY_VOCAB;
            wide_shape[1] = t->shape[1];
            ts[i].shape = wide_shape;
            ts[i].data = wide;
        }
    }
    snprintf(dst, sizeof dst, "%s/model.safetensors", model_dir);
    int rc = wide ? st_write(dst, ts, n, NULL, 0) : CC_ERR_INVALID;
    st_close(f);
    free(ts);
    free(wide);
    if (rc != CC_OK)
        return -1;
    char cfg[1024];
    snprintf(cfg, sizeof cfg,
             "{\"model_cfg\": {\"embed_dim\": 32, \"quick_gelu\": true,\n"
             " \"vision_cfg\": {\"image_size\": 32, \"layers\": 2, \"width\": 64, \"patch_size\": 8,"
             " \"head_width\": 32},\n"
             " \"text_cfg\": {\"context_length\": 77, \"vocab_size\": %d, \"width\": 64,"
             " \"heads\": 2, \"layers\": 2}}}\n", TINY_VOCAB);
    snprintf(dst, sizeof dst, "%s/open_clip_config.json", model_dir);
    write_text(dst, cfg);
    char merges[1024] = "#version: tiny\n";
    for (int i = 0; i < N_MERGES; i++) {
        strcat(merges, MERGES[i]);
        strcat(merges, "\n");
    }
    snprintf(dst, sizeof dst, "%s/bpe_simple_vocab_16e6.txt", model_dir);
    write_text(dst, merges);
    return 0;
}

static int remove_model(void **state)
{
    (void)state;
    const char *names[] = {"model.safetensors", "open_clip_config.json", "bpe_simple_vocab_16e6.txt"};
    char p[1200];
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", model_dir, names[i]);
        unlink(p);
    }
    rmdir(model_dir);
    return 0;
}

static clipcl_model *load(void)
{
    clipcl_model *m = NULL;
    if (clipcl_load(model_dir, "ref", &m) != CLIPCL_OK)
        fail_msg("%s", clipcl_last_error());
    return m;
}

static const char *const TEXTS[] = {"hello", "a cat", "a photo of a dog.", "",
                                    "Hello, HELLO!! 42 cats & dogs"};
#define N_TEXTS 5

static void test_tokenize_equals_encode_texts(void **state)
{
    (void)state;
    clipcl_model *m = load();
    int T = clipcl_context_length(m), D = clipcl_embed_dim(m);
    int32_t *ids = malloc((size_t)N_TEXTS * T * sizeof *ids);
    float *a = malloc((size_t)N_TEXTS * D * sizeof *a), *b = malloc((size_t)N_TEXTS * D * sizeof *b);
    int tr = -1;
    if (clipcl_tokenize(m, TEXTS, N_TEXTS, ids, &tr) != CLIPCL_OK)
        fail_msg("%s", clipcl_last_error());
    assert_int_equal(tr, 0);
    /* "hello" is <|startoftext|> hello</w> <|endoftext|>, then zeros */
    assert_int_equal(ids[0], TINY_VOCAB - 2);
    assert_int_equal(ids[1], 512 + 4);
    assert_int_equal(ids[2], TINY_VOCAB - 1);
    assert_int_equal(ids[3], 0);
    assert_int_equal(clipcl_encode_token_ids(m, ids, N_TEXTS, 0, a), CLIPCL_OK);
    assert_int_equal(clipcl_encode_texts(m, TEXTS, N_TEXTS, 0, b, NULL), CLIPCL_OK);
    assert_memory_equal(a, b, (size_t)N_TEXTS * D * sizeof *a);
    /* a text longer than the context is cut and counted */
    char *longer = malloc(4 * 100 + 1);
    longer[0] = '\0';
    for (int i = 0; i < 100; i++)
        strcat(longer, "cat ");
    const char *one[] = {longer};
    assert_int_equal(clipcl_tokenize(m, one, 1, ids, &tr), CLIPCL_OK);
    assert_int_equal(tr, 1);
    assert_int_equal(ids[T - 1], TINY_VOCAB - 1);
    const char *bad[] = {"a", NULL};
    expect_error(clipcl_tokenize(m, bad, 2, ids, NULL), "text 1");
    expect_error(clipcl_tokenize(m, TEXTS, 0, ids, NULL), "0 texts");
    free(longer);
    free(ids);
    free(a);
    free(b);
    clipcl_free(m);
}

static void test_zeroshot(void **state)
{
    (void)state;
    clipcl_model *m = load();
    int D = clipcl_embed_dim(m);
    const char *labels[] = {"cat", "dog", "hello"};
    const char *tpl[] = {"a photo of a {}.", "{}", "a {} a {}"};
    enum { L = 3, T = 3 };
    float cls[L * 32], prompts[L * T * 32];
    assert_int_equal(D, 32);
    if (clipcl_zeroshot_classifier(m, labels, L, tpl, T, cls, NULL) != CLIPCL_OK)
        fail_msg("%s", clipcl_last_error());
    /* recomputed: the filled prompts, normalised, averaged, renormalised */
    const char *filled[L * T] = {"a photo of a cat.", "cat", "a cat a cat", "a photo of a dog.",
                                 "dog", "a dog a dog", "a photo of a hello.", "hello",
                                 "a hello a hello"};
    assert_int_equal(clipcl_encode_texts(m, filled, L * T, CLIPCL_NORMALIZE, prompts, NULL),
                     CLIPCL_OK);
    for (int l = 0; l < L; l++) {
        double mean[32], n2 = 0;
        for (int j = 0; j < D; j++) {
            mean[j] = 0;
            for (int t = 0; t < T; t++)
                mean[j] += prompts[(l * T + t) * D + j];
            mean[j] = (float)(mean[j] / T);
            n2 += mean[j] * mean[j];
        }
        for (int j = 0; j < D; j++)
            assert_float_equal(cls[l * D + j], mean[j] / sqrt(n2), 1e-6);
    }
    /* the default template is "a photo of a {}." alone */
    float def[L * 32], one[L * 32];
    assert_int_equal(clipcl_zeroshot_classifier(m, labels, L, NULL, 0, def, NULL), CLIPCL_OK);
    assert_int_equal(clipcl_zeroshot_classifier(m, labels, L, tpl, 1, one, NULL), CLIPCL_OK);
    assert_memory_equal(def, one, sizeof def);
    /* probabilities: a softmax over exp(scale) * cos, recomputed here */
    float img[2 * 32];
    char px[1024];
    snprintf(px, sizeof px, "%s/preprocess_rgb_200x150_in.png", data_dir());
    const char *files[] = {px, px};
    assert_int_equal(clipcl_encode_image_files(m, files, 2, CLIPCL_NORMALIZE, img), CLIPCL_OK);
    double probs[2 * L];
    float scale = clipcl_logit_scale(m);
    assert_int_equal(clipcl_zeroshot_probs(img, 2, cls, L, D, scale, probs), CLIPCL_OK);
    for (int i = 0; i < 2; i++) {
        double logit[L], z = 0, sum = 0;
        for (int l = 0; l < L; l++) {
            logit[l] = 0;
            for (int j = 0; j < D; j++)
                logit[l] += (double)img[i * D + j] * cls[l * D + j];
            z += exp(exp((double)scale) * logit[l]);
        }
        for (int l = 0; l < L; l++) {
            assert_float_equal(probs[i * L + l], exp(exp((double)scale) * logit[l]) / z, 1e-12);
            sum += probs[i * L + l];
        }
        assert_float_equal(sum, 1.0, 1e-12);
    }
    const char *no_brace[] = {"a photo"};
    expect_error(clipcl_zeroshot_classifier(m, labels, L, no_brace, 1, cls, NULL), "a photo");
    const char *empty[] = {"cat", ""};
    expect_error(clipcl_zeroshot_classifier(m, empty, 2, NULL, 0, cls, NULL), "label 1 is empty");
    expect_error(clipcl_zeroshot_probs(img, 0, cls, L, D, scale, probs), "0 images");
    clipcl_free(m);
}

/* ---- devices ---- */

static void test_devices(void **state)
{
    (void)state;
    int n = -1;
    int rc = clipcl_list_devices(NULL, 0, &n);
    if (rc != CLIPCL_OK) {
        printf("  no OpenCL platform: %s\n", clipcl_last_error());
        skip();
    }
    assert_true(n >= 1);
    clipcl_device *d = calloc((size_t)n, sizeof *d);
    int n2 = 0;
    assert_int_equal(clipcl_list_devices(d, n, &n2), CLIPCL_OK);
    assert_int_equal(n2, n);
    int defaults = 0, which = -1;
    for (int i = 0; i < n; i++) {
        printf("  %s %s (%s) %s%s\n", d[i].spec, d[i].name, d[i].type, d[i].platform,
               d[i].is_default ? " *" : "");
        assert_true(d[i].name[0] != '\0');
        assert_true(d[i].compute_units >= 1);
        assert_true(d[i].global_mem_bytes > 0);
        if (d[i].is_default) {
            defaults++;
            which = i;
        }
    }
    assert_int_equal(defaults, 1);
    /* the default device is the one clipcl_load opens, and its spec opens it too */
    char path[1024];
    snprintf(path, sizeof path, "%s/clip_small_vit/openai", data_dir());
    clipcl_model *m = NULL;
    clipcl_info info;
    assert_int_equal(clipcl_load(path, d[which].spec, &m), CLIPCL_OK);
    assert_int_equal(clipcl_get_info(m, &info), CLIPCL_OK);
    assert_non_null(strstr(info.device, d[which].name));
    clipcl_free(m);
    /* a capacity of 1 writes one entry and still counts them all */
    clipcl_device first;
    assert_int_equal(clipcl_list_devices(&first, 1, &n2), CLIPCL_OK);
    assert_int_equal(n2, n);
    assert_string_equal(first.spec, d[0].spec);
    expect_error(clipcl_list_devices(NULL, 2, &n2), "NULL");
    free(d);
}

int main(void)
{
    const struct CMUnitTest pre[] = {
        cmocka_unit_test(test_pixels_rgb),    cmocka_unit_test(test_pixels_rgb_up),
        cmocka_unit_test(test_pixels_grey),   cmocka_unit_test(test_pixels_la),
        cmocka_unit_test(test_pixels_rgba),   cmocka_unit_test(test_pixels_palette),
        cmocka_unit_test(test_pixels_bilevel), cmocka_unit_test(test_preprocess_errors),
        cmocka_unit_test(test_devices),
    };
    const struct CMUnitTest text[] = {
        cmocka_unit_test(test_tokenize_equals_encode_texts),
        cmocka_unit_test(test_zeroshot),
    };
    int failed = cmocka_run_group_tests_name("preprocessing and devices", pre, NULL, NULL);
    failed += cmocka_run_group_tests_name("tokens and zero-shot", text, make_model, remove_model);
    return failed;
}
