/* Half-precision weight storage (clipcl_load_opts with CLIPCL_LOAD_F16 /
 * CLIPCL_LOAD_BF16; docs/gemm.md "Half-precision storage"): both towers of
 * the small ViT and the small RN50 random models, f16 and bf16 against f32
 * on the same device, with the CPU-style GEMM (the default on PoCL) and the
 * GPU-style one forced (CLIPCL_FORCE_VARIANT=gpu). Rule: cosine >= 0.9999
 * per row, and the features do differ from f32 (the 16-bit path ran). The
 * checkpoints hold F16 weights (as OpenAI's do), for which f16 storage is
 * exact (the ViT's; RN50 folds BatchNorm into new weights): the comparison
 * runs on a copy whose float tensors are F32 with
 * their low bits perturbed (made here), and the ViT's F16 original is
 * checked to give f32's bits with f16 storage. Also
 * the option's errors: an unknown name, both flags, the reference backend.
 * No OpenCL platform is a skip. */
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
#include <unistd.h>

#include "io/npy.h"
#include "io/safetensors.h"
#include "runtime/settings.h"

static const char *data_dir(void)
{
    const char *d = rt_setting_value(RT_SET_TEST_DATA);
    return d ? d : "tests/data";
}

/* tmp/model.safetensors: src's tensors, the float ones as F32 times
 * (1 + up to 2^-11, pseudo-random): no longer f16 (nor bf16) values; and
 * its open_clip_config.json. */
static void perturbed_copy(const char src_dir[1200], const char *tmp)
{
    char path[1400];
    snprintf(path, sizeof path, "%s/model.safetensors", src_dir);
    st_file *f = NULL;
    assert_int_equal(st_open(path, &f), 0);
    size_t n = st_count(f);
    st_write_tensor *ts = calloc(n, sizeof *ts);
    void **bufs = calloc(n, sizeof *bufs);
    assert_non_null(ts);
    assert_non_null(bufs);
    uint64_t seed = 12345;
    for (size_t i = 0; i < n; i++) {
        const st_tensor *t = st_at(f, i);
        ts[i] = (st_write_tensor){t->name, t->dtype, t->ndim, t->shape, t->data};
        if (t->dtype == ST_F16 || t->dtype == ST_BF16 || t->dtype == ST_F32) {
            float *x = malloc((size_t)(t->numel ? t->numel : 1) * sizeof *x);
            assert_non_null(x);
            assert_int_equal(st_read_f32(f, t, x, (size_t)t->numel), 0);
            for (int64_t j = 0; j < t->numel; j++) {
                seed = seed * 6364136223846793005ull + 1442695040888963407ull;
                x[j] *= 1.0f + (float)((int)(seed >> 40) % 1000) / 1000.0f / 2048.0f;
            }
            bufs[i] = x;
            ts[i].dtype = ST_F32;
            ts[i].data = x;
        }
    }
    snprintf(path, sizeof path, "%s/model.safetensors", tmp);
    assert_int_equal(st_write(path, ts, n, NULL, 0), 0);
    for (size_t i = 0; i < n; i++)
        free(bufs[i]);
    free(bufs);
    free(ts);
    st_close(f);
    char src[1400];
    snprintf(src, sizeof src, "%s/open_clip_config.json", src_dir);
    snprintf(path, sizeof path, "%s/open_clip_config.json", tmp);
    FILE *in = fopen(src, "rb"), *out = fopen(path, "wb");
    assert_non_null(in);
    assert_non_null(out);
    char buf[4096];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, in)) > 0)
        assert_int_equal(fwrite(buf, 1, got, out), got);
    fclose(in);
    assert_int_equal(fclose(out), 0);
}

/* Both towers' features of model folder `model` with the inputs of
 * tests/data/DIR and load flags; NULL when there is no OpenCL device. */
static float *features_of(const char *model, const char *dir, int flags, int *rows, int *dim, int *n_img)
{
    char path[1200];
    snprintf(path, sizeof path, "%s", model);
    clipcl_model *m = NULL;
    int rc = clipcl_load_opts(path, NULL, flags, &m);
    if (rc == CLIPCL_ERR_NO_PLATFORM || rc == CLIPCL_ERR_NO_DEVICE)
        return NULL;
    if (rc)
        fail_msg("load %s flags %d: %s", dir, flags, clipcl_last_error());
    npy_array px, ids;
    snprintf(path, sizeof path, "%s/%s/pixels.npy", data_dir(), dir);
    assert_int_equal(npy_read(path, NPY_F32, &px), 0);
    snprintf(path, sizeof path, "%s/%s/ids.npy", data_dir(), dir);
    assert_int_equal(npy_read(path, NPY_I32, &ids), 0);
    const int D = clipcl_embed_dim(m), ni = (int)px.shape[0], nt = (int)ids.shape[0];
    float *out = malloc((size_t)(ni + nt) * (size_t)D * sizeof *out);
    assert_non_null(out);
    if (clipcl_encode_image_pixels(m, px.data, ni, 0, out) != CLIPCL_OK ||
        clipcl_encode_token_ids(m, ids.data, nt, 0, out + (size_t)ni * D) != CLIPCL_OK)
        fail_msg("encode %s: %s", dir, clipcl_last_error());
    npy_free(&px);
    npy_free(&ids);
    clipcl_free(m);
    *rows = ni + nt;
    *dim = D;
    *n_img = ni;
    return out;
}

static char g_tmp[64];

static float *features(const char *dir, int flags, int *rows, int *dim, int *n_img)
{
    return features_of(g_tmp, dir, flags, rows, dim, n_img);
}

/* min cosine and max |err| / max |ref| of rows [r0, r1) */
static void measure(const float *got, const float *ref, int r0, int r1, int D, double *mincos, double *rel)
{
    double maxref = 0, maxerr = 0;
    *mincos = 2;
    for (int i = r0; i < r1; i++) {
        double d = 0, na = 0, nb = 0;
        for (int j = 0; j < D; j++) {
            const double a = got[(size_t)i * D + j], b = ref[(size_t)i * D + j];
            d += a * b;
            na += a * a;
            nb += b * b;
            maxref = fmax(maxref, fabs(b));
            maxerr = fmax(maxerr, fabs(a - b));
        }
        *mincos = fmin(*mincos, d / sqrt(na * nb));
    }
    *rel = maxerr / maxref;
}

/* One image and one text alone (M = 1 in the pooled rows and projections:
 * the GEMV path over 16-bit panels) against the f32 features of the same
 * items encoded in a batch. */
static void one_item_check(const char *dir, const float *f32, int ni, int D)
{
    static const int flags[2] = {CLIPCL_LOAD_F16, CLIPCL_LOAD_BF16};
    char path[1200];
    npy_array px, ids;
    snprintf(path, sizeof path, "%s/%s/pixels.npy", data_dir(), dir);
    assert_int_equal(npy_read(path, NPY_F32, &px), 0);
    snprintf(path, sizeof path, "%s/%s/ids.npy", data_dir(), dir);
    assert_int_equal(npy_read(path, NPY_I32, &ids), 0);
    for (int k = 0; k < 2; k++) {
        clipcl_model *m = NULL;
        if (clipcl_load_opts(g_tmp, NULL, flags[k], &m) != CLIPCL_OK)
            fail_msg("load %s: %s", dir, clipcl_last_error());
        float *out = malloc(2 * (size_t)D * sizeof *out);
        assert_non_null(out);
        if (clipcl_encode_image_pixels(m, px.data, 1, 0, out) != CLIPCL_OK ||
            clipcl_encode_token_ids(m, ids.data, 1, 0, out + D) != CLIPCL_OK)
            fail_msg("encode one item of %s: %s", dir, clipcl_last_error());
        double c, rel;
        measure(out, f32, 0, 1, D, &c, &rel);
        assert_true(c >= 0.9999);
        assert_true(rel < 2e-2);
        measure(out + D, f32 + (size_t)ni * D, 0, 1, D, &c, &rel);
        assert_true(c >= 0.9999);
        assert_true(rel < 2e-2);
        free(out);
        clipcl_free(m);
    }
    npy_free(&px);
    npy_free(&ids);
}

static void check_model(const char *dir, const char *variant)
{
    if (variant)
        setenv("CLIPCL_FORCE_VARIANT", variant, 1);
    char orig[1200];
    snprintf(orig, sizeof orig, "%s/%s/openai", data_dir(), dir);
    snprintf(g_tmp, sizeof g_tmp, "/tmp/clipcl-dtype-XXXXXX");
    assert_non_null(mkdtemp(g_tmp));
    perturbed_copy(orig, g_tmp);
    int rows, D, ni;
    float *f32 = features(dir, 0, &rows, &D, &ni);
    if (!f32) {
        unsetenv("CLIPCL_FORCE_VARIANT");
        skip();
    }
    if (strstr(dir, "vit")) { /* the F16 checkpoint itself: f16 storage changes no bit (RN50's
                                * BatchNorm folded into its convolutions makes new values) */
        int r1, d1, n1;
        float *a = features_of(orig, dir, 0, &r1, &d1, &n1), *b = features_of(orig, dir, CLIPCL_LOAD_F16, &r1, &d1, &n1);
        assert_non_null(a);
        assert_non_null(b);
        assert_memory_equal(a, b, (size_t)r1 * (size_t)d1 * sizeof *a);
        free(a);
        free(b);
    }
    static const int flags[2] = {CLIPCL_LOAD_F16, CLIPCL_LOAD_BF16};
    static const char *const names[2] = {"f16", "bf16"};
    for (int k = 0; k < 2; k++) {
        int r2, D2, ni2;
        float *h = features(dir, flags[k], &r2, &D2, &ni2);
        assert_non_null(h);
        assert_int_equal(r2, rows);
        for (int tw = 0; tw < 2; tw++) {
            double c, rel;
            measure(h, f32, tw ? ni : 0, tw ? rows : ni, D, &c, &rel);
            printf("  %-14s %-4s %-5s %s tower: min cosine %.7f, max |err| %.2e x max|f32|\n", dir,
                   variant ? variant : "cpu", names[k], tw ? "text " : "image", c, rel);
            assert_true(c >= 0.9999);
            assert_true(rel > 0); /* the 16-bit weights were used */
            assert_true(rel < 2e-2);
        }
        free(h);
    }
    one_item_check(dir, f32, ni, D);
    free(f32);
    unsetenv("CLIPCL_FORCE_VARIANT");
    char path[1200];
    snprintf(path, sizeof path, "%s/model.safetensors", g_tmp);
    unlink(path);
    snprintf(path, sizeof path, "%s/open_clip_config.json", g_tmp);
    unlink(path);
    rmdir(g_tmp);
}

static void test_vit_cpu_style(void **state)
{
    (void)state;
    check_model("clip_small_vit", NULL);
}
static void test_vit_gpu_style(void **state)
{
    (void)state;
    check_model("clip_small_vit", "gpu");
}
static void test_rn_cpu_style(void **state)
{
    (void)state;
    check_model("clip_small_rn", NULL);
}
static void test_rn_gpu_style(void **state)
{
    (void)state;
    check_model("clip_small_rn", "gpu");
}

static void test_errors(void **state)
{
    (void)state;
    int flag = -1;
    assert_int_equal(clipcl_dtype_flag("f16", &flag), CLIPCL_OK);
    assert_int_equal(flag, CLIPCL_LOAD_F16);
    assert_int_equal(clipcl_dtype_flag("BF16", &flag), CLIPCL_OK);
    assert_int_equal(flag, CLIPCL_LOAD_BF16);
    assert_int_equal(clipcl_dtype_flag("float32", &flag), CLIPCL_OK);
    assert_int_equal(flag, 0);
    assert_int_equal(clipcl_dtype_flag("f8", &flag), CLIPCL_ERR_INVALID);
    const char *e = clipcl_last_error();
    assert_non_null(strstr(e, "\"f8\""));
    assert_non_null(strstr(e, "f32, f16 or bf16"));
    assert_null(strchr(e, '\n'));
    char path[1200];
    snprintf(path, sizeof path, "%s/clip_small_vit/openai", data_dir());
    clipcl_model *m = NULL;
    assert_int_equal(clipcl_load_opts(path, NULL, CLIPCL_LOAD_F16 | CLIPCL_LOAD_BF16, &m), CLIPCL_ERR_INVALID);
    assert_null(m);
    assert_int_equal(clipcl_load_opts(path, "ref", CLIPCL_LOAD_BF16, &m), CLIPCL_ERR_UNSUPPORTED);
    assert_non_null(strstr(clipcl_last_error(), "bf16"));
    assert_null(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_vit_cpu_style),
        cmocka_unit_test(test_vit_gpu_style),
        cmocka_unit_test(test_rn_cpu_style),
        cmocka_unit_test(test_rn_gpu_style),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
