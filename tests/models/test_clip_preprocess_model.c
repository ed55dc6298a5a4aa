/* A model's preprocessing config reaches the image paths of the public API:
 * open_clip's `preprocess_cfg` (bilinear, mean/std 0.5) on a copy of the
 * small ViT, and a Hugging Face preprocessor_config.json (shortest_edge 35,
 * crop 32, mean/std 0.5) beside a CLIPModel config.json. The tensors must
 * equal open_clip's / transformers' (tests/data/prepcfg goldens, made by
 * tests/reference/make_preprocess_cfg_goldens.py for these 32 px models),
 * and clipcl_encode_image_files must embed exactly those tensors. Before,
 * both configs were ignored and OpenAI's transform ran. A config clipcl
 * cannot follow refuses images by name while token ids still encode. */
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
#include "io/npy.h"
#include "runtime/settings.h"
#include "runtime/status.h"

static char dir[512];

static const char *data_dir(void)
{
    const char *d = rt_setting_value(RT_SET_TEST_DATA);
    return d ? d : "tests/data";
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
    fclose(out);
}

static void write_text(const char *name, const char *text)
{
    char p[700];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void clean(void)
{
    static const char *const names[] = {"model.safetensors", "open_clip_config.json",
                                        "config.json", "preprocessor_config.json"};
    char p[700];
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
}

static int setup(void **state)
{
    (void)state;
    const char *c = rt_setting_value(RT_SET_CACHE_DIR);
    mkdir(c ? c : "/tmp", 0777);
    snprintf(dir, sizeof dir, "%s/prep_model_%ld", c ? c : "/tmp", (long)getpid());
    return mkdir(dir, 0777);
}

static int teardown(void **state)
{
    (void)state;
    clean();
    return rmdir(dir);
}

static const char OPEN_CLIP_MODEL[] =
    "{\"model_cfg\": {\"embed_dim\": 32, \"quick_gelu\": true, \"vision_cfg\": {\"image_size\": 32, "
    "\"layers\": 2, \"width\": 64, \"patch_size\": 8, \"head_width\": 32}, \"text_cfg\": "
    "{\"context_length\": 77, \"vocab_size\": 256, \"width\": 64, \"heads\": 2, \"layers\": 2}}, "
    "\"preprocess_cfg\": %s}";

static void setup_open_clip(const char *preprocess_cfg)
{
    char src[1024], dst[700], cfg[2048];
    clean();
    snprintf(src, sizeof src, "%s/clip_small_vit/openai/model.safetensors", data_dir());
    snprintf(dst, sizeof dst, "%s/model.safetensors", dir);
    copy_file(src, dst);
    snprintf(cfg, sizeof cfg, OPEN_CLIP_MODEL, preprocess_cfg);
    write_text("open_clip_config.json", cfg);
}

/* The model's tensor for the JPEG against the golden, then the embedding of
 * the file against the embedding of those very pixels. */
static void check_model(const char *golden, double tol)
{
    clipcl_model *m = NULL;
    if (clipcl_load(dir, "ref", &m) != CLIPCL_OK)
        fail_msg("%s", clipcl_last_error());
    assert_int_equal(clipcl_image_size(m), 32);
    char img[1024], g[1024], desc[512];
    snprintf(img, sizeof img, "%s/decode/jpeg_baseline_420.jpg", data_dir());
    snprintf(g, sizeof g, "%s/prepcfg/%s", data_dir(), golden);
    float px[3 * 32 * 32];
    if (clipcl_preprocess_file_model(m, img, px) != CLIPCL_OK)
        fail_msg("%s", clipcl_last_error());
    npy_array want;
    if (npy_read_f32(g, &want) != CC_OK)
        fail_msg("%s", cc_last_error());
    assert_int_equal(want.numel, 3 * 32 * 32);
    double md = 0;
    const float *w = want.data;
    for (int i = 0; i < 3 * 32 * 32; i++)
        md = fmax(md, fabs((double)px[i] - (double)w[i]));
    assert_int_equal(clipcl_preprocess_describe(m, desc, sizeof desc), CLIPCL_OK);
    printf("  %s: max |diff| %.3g against the reference\n  (%s)\n", golden, md, desc);
    assert_true(md <= tol);
    /* the OpenAI transform (what clipcl did before) is far from it */
    float def[3 * 32 * 32];
    assert_int_equal(clipcl_preprocess_file(img, 32, def), CLIPCL_OK);
    double dd = 0;
    for (int i = 0; i < 3 * 32 * 32; i++)
        dd = fmax(dd, fabs((double)def[i] - (double)w[i]));
    assert_true(dd > 0.1);
    int D = clipcl_embed_dim(m);
    float *a = malloc(sizeof(float) * (size_t)D), *b = malloc(sizeof(float) * (size_t)D);
    const char *paths[] = {img};
    assert_int_equal(clipcl_encode_image_files(m, paths, 1, 0, a), CLIPCL_OK);
    assert_int_equal(clipcl_encode_image_pixels(m, px, 1, 0, b), CLIPCL_OK);
    assert_memory_equal(a, b, sizeof(float) * (size_t)D);
    free(a);
    free(b);
    npy_free(&want);
    clipcl_free(m);
}

static void test_open_clip_preprocess_cfg(void **state)
{
    (void)state;
    setup_open_clip("{\"mean\": [0.5, 0.5, 0.5], \"std\": [0.5, 0.5, 0.5], "
                    "\"interpolation\": \"bilinear\"}");
    check_model("jpeg_baseline_420_ocn_stats.npy", 1e-6);
}

static void test_hf_preprocessor_config(void **state)
{
    (void)state;
    char src[1024], dst[700];
    clean();
    static const char *const files[] = {"model.safetensors", "config.json"};
    for (int i = 0; i < 2; i++) {
        snprintf(src, sizeof src, "%s/clip_small_vit/hf/%s", data_dir(), files[i]);
        snprintf(dst, sizeof dst, "%s/%s", dir, files[i]);
        copy_file(src, dst);
    }
    write_text("preprocessor_config.json",
               "{\"image_processor_type\": \"CLIPImageProcessor\", \"do_resize\": true, "
               "\"size\": {\"shortest_edge\": 35}, \"crop_size\": 32, \"do_center_crop\": true, "
               "\"resample\": 3, \"do_rescale\": true, \"rescale_factor\": 0.00392156862745098, "
               "\"do_normalize\": true, \"image_mean\": [0.5, 0.5, 0.5], "
               "\"image_std\": [0.5, 0.5, 0.5], \"do_convert_rgb\": true}");
    check_model("jpeg_baseline_420_hfn_half.npy", 1e-5);
}

static void test_unfollowable_config_refuses_images_only(void **state)
{
    (void)state;
    setup_open_clip("{\"interpolation\": \"lanczos\"}");
    clipcl_model *m = NULL;
    if (clipcl_load(dir, "ref", &m) != CLIPCL_OK)
        fail_msg("%s", clipcl_last_error());
    char img[1024];
    snprintf(img, sizeof img, "%s/decode/jpeg_baseline_420.jpg", data_dir());
    const char *paths[] = {img};
    float out[64];
    assert_int_not_equal(clipcl_encode_image_files(m, paths, 1, 0, out), CLIPCL_OK);
    const char *msg = clipcl_last_error();
    if (!strstr(msg, "preprocess_cfg.interpolation 'lanczos'"))
        fail_msg("unexpected: %s", msg);
    int32_t ids[77] = {254, 10, 20, 255};
    assert_int_equal(clipcl_encode_token_ids(m, ids, 1, 0, out), CLIPCL_OK);
    clipcl_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_clip_preprocess_cfg),
        cmocka_unit_test(test_hf_preprocessor_config),
        cmocka_unit_test(test_unfollowable_config_refuses_images_only),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
