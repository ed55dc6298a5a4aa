/* SigLIP's zero-shot through the installed library (include/clipcl.h,
 * "SigLIP"): a model with a logit_bias gives sigmoid(exp(scale) * cos + b)
 * per label -- open_clip's and SiglipModel's probabilities for the goldens of
 * tests/reference/make_siglip_goldens.py within 1e-5 -- and a CLIP model
 * keeps the softmax. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clipcl.h"

static char data_dir[800];

static const char *path(const char *rel)
{
    static char buf[4][1100];
    static int next;
    char *b = buf[next++ & 3];
    snprintf(b, sizeof buf[0], "%s/%s", data_dir, rel);
    return b;
}

/* A C-order little-endian .npy of 4-byte elements (descr "<f4" or "<i4"):
 * the data (malloc'd) and its element count. */
static void *read_npy4(const char *file, const char *descr, size_t *n)
{
    FILE *f = fopen(file, "rb");
    assert_non_null(f);
    unsigned char pre[10];
    assert_int_equal(fread(pre, 1, 10, f), 10);
    assert_int_equal(pre[6], 1); /* format 1.0: 2-byte header length */
    size_t hl = (size_t)pre[8] | (size_t)pre[9] << 8;
    char *h = calloc(1, hl + 1);
    assert_non_null(h);
    assert_int_equal(fread(h, 1, hl, f), hl);
    assert_non_null(strstr(h, descr));
    assert_non_null(strstr(h, "'fortran_order': False"));
    size_t count = 1;
    for (char *p = strchr(strstr(h, "'shape'"), '(') + 1; *p && *p != ')'; p++) {
        if (*p >= '0' && *p <= '9') {
            count *= strtoul(p, &p, 10);
            p--;
        }
    }
    free(h);
    void *d = malloc(count * 4);
    assert_non_null(d);
    assert_int_equal(fread(d, 4, count, f), count);
    fclose(f);
    *n = count;
    return d;
}

static void check_model(const char *dir)
{
    char rel[256];
    clipcl_model *m = NULL;
    snprintf(rel, sizeof rel, "%s/model", dir);
    assert_int_equal(clipcl_load(path(rel), "ref", &m), CLIPCL_OK);
    assert_int_equal(clipcl_has_logit_bias(m), 1);
    assert_float_equal(clipcl_logit_bias(m), -1.5f, 0.0f);
    clipcl_info info;
    assert_int_equal(clipcl_get_info(m, &info), CLIPCL_OK);
    assert_int_equal(info.vision_map_head, 1);
    assert_int_equal(info.has_logit_bias, 1);
    int D = clipcl_embed_dim(m), T = clipcl_context_length(m);
    size_t n_ids = 0, n_want = 0;
    snprintf(rel, sizeof rel, "%s/label_ids.npy", dir);
    int32_t *ids = read_npy4(path(rel), "<i4", &n_ids);
    snprintf(rel, sizeof rel, "%s/zeroshot_probs.npy", dir);
    float *want = read_npy4(path(rel), "<f4", &n_want);
    int L = (int)(n_ids / (size_t)T), N = (int)(n_want / (size_t)L);
    assert_int_equal(L, 3);
    assert_int_equal(N, 2);
    float *cls = malloc(sizeof(float) * (size_t)(L * D)), *img = malloc(sizeof(float) * (size_t)(N * D));
    double *p = malloc(sizeof(double) * (size_t)(N * L));
    assert_true(cls && img && p);
    assert_int_equal(clipcl_encode_token_ids(m, ids, L, CLIPCL_NORMALIZE, cls), CLIPCL_OK);
    char r0[256], r1[256];
    snprintf(r0, sizeof r0, "%s/img0.png", dir);
    snprintf(r1, sizeof r1, "%s/img1.png", dir);
    const char *files[2] = {path(r0), path(r1)}; /* two of path()'s four buffers */
    assert_int_equal(clipcl_encode_image_files(m, files, N, CLIPCL_NORMALIZE, img), CLIPCL_OK);
    assert_int_equal(clipcl_zeroshot_model_probs(m, img, N, cls, L, p), CLIPCL_OK);
    for (int k = 0; k < N * L; k++)
        if (fabs(p[k] - (double)want[k]) > 1e-5)
            fail_msg("%s: probability %d: %.8f, reference %.8f", dir, k, p[k], (double)want[k]);
    /* the same as the sigmoid of the public pieces */
    double q[6];
    assert_int_equal(clipcl_zeroshot_probs_sigmoid(img, N, cls, L, D, clipcl_logit_scale(m),
                                                   clipcl_logit_bias(m), q), CLIPCL_OK);
    for (int k = 0; k < N * L; k++)
        assert_float_equal(q[k], p[k], 0.0);
    free(ids);
    free(want);
    free(cls);
    free(img);
    free(p);
    clipcl_free(m);
}

static void test_siglip_models(void **state)
{
    (void)state;
    check_model("siglip_oc");
    check_model("siglip_hf");
}

/* Hand-computed: one 2-d image, two labels; scale ln 10, bias -2. */
static void test_sigmoid_values(void **state)
{
    (void)state;
    const float img[2] = {0.6f, 0.8f}, cls[4] = {1.0f, 0.0f, 0.0f, -1.0f};
    double p[2];
    assert_int_equal(clipcl_zeroshot_probs_sigmoid(img, 1, cls, 2, 2, logf(10.0f), -2.0f, p),
                     CLIPCL_OK);
    double s = exp((double)logf(10.0f));
    assert_float_equal(p[0], 1.0 / (1.0 + exp(-(s * (double)0.6f - 2.0))), 1e-12);
    assert_float_equal(p[1], 1.0 / (1.0 + exp(-(-s * (double)0.8f - 2.0))), 1e-12);
    /* no overflow far out */
    assert_int_equal(clipcl_zeroshot_probs_sigmoid(img, 1, cls, 2, 2, 8.0f, -1e4f, p), CLIPCL_OK);
    assert_true(p[0] >= 0.0 && p[0] < 1e-300 && isfinite(p[1]));
    assert_int_equal(clipcl_zeroshot_probs_sigmoid(NULL, 1, cls, 2, 2, 0.0f, 0.0f, p),
                     CLIPCL_ERR_INVALID);
}

/* A CLIP model (no logit_bias) keeps the softmax. */
static void test_clip_keeps_softmax(void **state)
{
    (void)state;
    clipcl_model *m = NULL;
    assert_int_equal(clipcl_load(path("clip_small_vit/openai"), "ref", &m), CLIPCL_OK);
    assert_int_equal(clipcl_has_logit_bias(m), 0);
    assert_float_equal(clipcl_logit_bias(m), 0.0f, 0.0f);
    int D = clipcl_embed_dim(m);
    float *img = calloc((size_t)D, sizeof *img), *cls = calloc((size_t)(2 * D), sizeof *cls);
    assert_true(img && cls);
    img[0] = 1.0f;
    cls[0] = 1.0f;
    cls[D + 1] = 1.0f;
    double p[2], q[2];
    assert_int_equal(clipcl_zeroshot_model_probs(m, img, 1, cls, 2, p), CLIPCL_OK);
    assert_int_equal(clipcl_zeroshot_probs(img, 1, cls, 2, D, clipcl_logit_scale(m), q),
                     CLIPCL_OK);
    assert_float_equal(p[0], q[0], 0.0);
    assert_float_equal(p[0] + p[1], 1.0, 1e-12);
    free(img);
    free(cls);
    clipcl_free(m);
    assert_int_equal(clipcl_has_logit_bias(NULL), 0);
}

int main(void)
{
    const char *dir = getenv("CLIPCL_TEST_DATA");
    snprintf(data_dir, sizeof data_dir, "%s", dir ? dir : "tests/data");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigmoid_values),
        cmocka_unit_test(test_siglip_models),
        cmocka_unit_test(test_clip_keeps_softmax),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
