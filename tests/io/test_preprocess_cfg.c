/* Preprocessing from a model's config against open_clip's image_transform
 * and transformers' CLIPImageProcessor (goldens and case list from
 * tests/reference/make_preprocess_cfg_goldens.py in tests/data/prepcfg):
 * interpolation bicubic/bilinear, resize_mode shortest/longest/squash,
 * fill_color, mean/std, HF shortest_edge / height-width / crop_size with
 * padding, resample 2/3, on RGB, CMYK, RGBA, palette, grey and 16-bit grey
 * sources. Pixels must equal Pillow's (open_clip, CLIPImageProcessorPil)
 * and lie within 1/255 of the torchvision-backed CLIPImageProcessor;
 * normalised tensors within 1e-5. Values clipcl does not implement are
 * refused by name; the model-directory lookup picks the right file. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/npy.h"
#include "io/preprocess_cfg.h"
#include "runtime/settings.h"
#include "runtime/status.h"

static const char *data_dir(void)
{
    const char *d = rt_setting_value(RT_SET_TEST_DATA);
    return d ? d : "tests/data";
}

static int u8_maxdiff(const img_u8 *got, const char *golden)
{
    npy_array g;
    if (npy_read(golden, NPY_U8, &g) != CC_OK)
        fail_msg("%s", cc_last_error());
    assert_int_equal(g.numel, (int64_t)got->w * got->h * 3);
    const uint8_t *w = g.data;
    int md = 0;
    for (int64_t i = 0; i < g.numel; i++) {
        int d = abs((int)got->px[i] - (int)w[i]);
        md = d > md ? d : md;
    }
    npy_free(&g);
    return md;
}

static void test_cases(void **state)
{
    (void)state;
    char path[1024];
    snprintf(path, sizeof path, "%s/prepcfg/cases.json", data_dir());
    struct json_object *root = json_object_from_file(path), *cases, *sz;
    assert_non_null(root);
    assert_true(json_object_object_get_ex(root, "cases", &cases));
    assert_true(json_object_object_get_ex(root, "size", &sz));
    int S = json_object_get_int(sz), n = (int)json_object_array_length(cases), n_norm = 0, n_tv = 0;
    assert_true(n >= 60);
    for (int i = 0; i < n; i++) {
        struct json_object *c = json_object_array_get_idx(cases, i), *v;
        json_object_object_get_ex(c, "image", &v);
        char img_path[1024], golden[1024];
        snprintf(img_path, sizeof img_path, "%s/%s", data_dir(), json_object_get_string(v));
        json_object_object_get_ex(c, "golden", &v);
        snprintf(golden, sizeof golden, "%s/prepcfg/%s", data_dir(), json_object_get_string(v));
        json_object_object_get_ex(c, "normalized", &v);
        int norm = json_object_get_boolean(v);
        json_object_object_get_ex(c, "style", &v);
        int hf = strcmp(json_object_get_string(v), "hf") == 0;
        struct json_object *cfg;
        json_object_object_get_ex(c, "config", &cfg);
        img_prep p;
        int rc = hf ? img_prep_from_hf_json(&p, S, "cases.json", cfg)
                    : img_prep_from_open_clip(&p, S, "cases.json", cfg);
        if (rc != CC_OK)
            fail_msg("%s: %s", golden, cc_last_error());
        img_u8 im;
        if (img_load(img_path, &im) != CC_OK)
            fail_msg("%s", cc_last_error());
        if (!norm) {
            img_u8 rgb;
            if (img_prep_rgb(&p, &im, &rgb) != CC_OK)
                fail_msg("%s: %s", golden, cc_last_error());
            int md = u8_maxdiff(&rgb, golden);
            if (md != 0)
                fail_msg("%s: max |diff| %d/255 against the reference", golden, md);
            if (json_object_object_get_ex(c, "golden_torchvision", &v)) {
                snprintf(golden, sizeof golden, "%s/prepcfg/%s", data_dir(),
                         json_object_get_string(v));
                md = u8_maxdiff(&rgb, golden);
                if (md > 1)
                    fail_msg("%s: max |diff| %d/255 against CLIPImageProcessor", golden, md);
                n_tv++;
            }
            img_free(&rgb);
        } else {
            float *out = malloc(sizeof(float) * 3 * (size_t)S * (size_t)S);
            assert_non_null(out);
            if (img_prep_image(&p, &im, out) != CC_OK)
                fail_msg("%s: %s", golden, cc_last_error());
            npy_array g;
            if (npy_read_f32(golden, &g) != CC_OK)
                fail_msg("%s", cc_last_error());
            const float *w = g.data;
            double md = 0;
            for (int k = 0; k < 3 * S * S; k++)
                md = fmax(md, fabs((double)out[k] - (double)w[k]));
            printf("  %-44s normalised: max |diff| %.3g\n", strrchr(golden, '/') + 1, md);
            assert_true(md <= 1e-5);
            npy_free(&g);
            free(out);
            n_norm++;
        }
        img_free(&im);
    }
    printf("  %d cases bit-exact with Pillow's reference (%d normalised within 1e-5), %d within "
           "1/255 of the torchvision CLIPImageProcessor\n", n - n_norm, n_norm, n_tv);
    json_object_put(root);
}

static void expect_refused(int hf, const char *json, const char *want)
{
    struct json_object *o = json_tokener_parse(json);
    assert_non_null(o);
    img_prep p;
    int rc = hf ? img_prep_from_hf_json(&p, 224, "cfg.json", o)
                : img_prep_from_open_clip(&p, 224, "cfg.json", o);
    json_object_put(o);
    assert_int_not_equal(rc, CC_OK);
    if (!strstr(cc_last_error(), want))
        fail_msg("expected \"%s\" in: %s", want, cc_last_error());
}

static void test_refused_by_name(void **state)
{
    (void)state;
    expect_refused(0, "{\"interpolation\": \"lanczos\"}", "interpolation 'lanczos'");
    expect_refused(0, "{\"resize_mode\": \"crop\"}", "resize_mode 'crop'");
    expect_refused(0, "{\"fill_color\": [1, 2, 3]}", "fill_color [ 1, 2, 3 ]");
    expect_refused(0, "{\"mode\": \"L\"}", "mode 'L'");
    expect_refused(0, "{\"std\": [0.2, 0, 0.2]}", "std[1]");
    expect_refused(1, "{\"resample\": 1}", "resample 1");
    expect_refused(1, "{\"image_processor_type\": \"Siglip2ImageProcessor\"}",
                   "image_processor_type 'Siglip2ImageProcessor'");
    expect_refused(1, "{\"image_processor_type\": \"SiglipImageProcessor\", \"size\": "
                      "{\"height\": 256, \"width\": 256}}", "SiglipImageProcessor size 256x256");
    expect_refused(1, "{\"do_pad\": true}", "do_pad true");
    expect_refused(1, "{\"size\": {\"longest_edge\": 224}}", "size.longest_edge");
    expect_refused(1, "{\"size\": {\"shortest_edge\": 224}, \"crop_size\": 196}", "crop_size 196");
    /* keys open_clip itself ignores are ignored (and size: the tower's wins) */
    struct json_object *o = json_tokener_parse("{\"size\": 999, \"whatever\": 1}");
    img_prep p;
    assert_int_equal(img_prep_from_open_clip(&p, 224, "cfg.json", o), CC_OK);
    assert_int_equal(p.size, 224);
    json_object_put(o);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* open_clip_config.json -> its preprocess_cfg; config.json -> the
 * preprocessor_config.json beside it; neither -> OpenAI's defaults. */
static void test_for_model(void **state)
{
    (void)state;
    char dir[256], oc[300], hf[300], hfp[300];
    const char *c = rt_setting_value(RT_SET_CACHE_DIR);
    snprintf(dir, sizeof dir, "%s/prepcfg_%ld", c ? c : "/tmp", (long)getpid());
    mkdir(c ? c : "/tmp", 0777);
    assert_int_equal(mkdir(dir, 0777), 0);
    snprintf(oc, sizeof oc, "%s/open_clip_config.json", dir);
    snprintf(hf, sizeof hf, "%s/config.json", dir);
    snprintf(hfp, sizeof hfp, "%s/preprocessor_config.json", dir);
    write_text(oc, "{\"model_cfg\": {}, \"preprocess_cfg\": {\"resize_mode\": \"squash\", "
                   "\"interpolation\": \"bilinear\", \"mean\": [0.5, 0.5, 0.5]}}");
    write_text(hf, "{\"model_type\": \"clip\"}");
    img_prep p;
    assert_int_equal(img_prep_for_model(&p, 64, oc), CC_OK);
    assert_int_equal(p.resize_mode, IMG_RESIZE_SQUASH);
    assert_int_equal(p.filter, IMG_FILTER_BILINEAR);
    assert_true(p.mean[0] == 0.5f);
    assert_int_equal(p.style, IMG_PREP_OPEN_CLIP);
    /* HF model without a preprocessor_config.json: the defaults */
    assert_int_equal(img_prep_for_model(&p, 64, hf), CC_OK);
    assert_int_equal(p.style, IMG_PREP_OPEN_CLIP);
    assert_int_equal(p.resize_mode, IMG_RESIZE_SHORTEST);
    write_text(hfp, "{\"crop_size\": {\"height\": 64, \"width\": 64}, \"size\": {\"shortest_edge"
                    "\": 70}, \"resample\": 2, \"image_mean\": [0.1, 0.2, 0.3]}");
    assert_int_equal(img_prep_for_model(&p, 64, hf), CC_OK);
    assert_int_equal(p.style, IMG_PREP_HF);
    assert_int_equal(p.resize, 70);
    assert_int_equal(p.filter, IMG_FILTER_BILINEAR);
    assert_true(p.mean[2] == 0.3f);
    write_text(hfp, "{\"resample\": 0}");
    assert_int_not_equal(img_prep_for_model(&p, 224, hf), CC_OK);
    assert_non_null(strstr(cc_last_error(), "preprocessor_config.json: resample 0"));
    assert_int_equal(img_prep_for_model(&p, 224, ""), CC_OK);
    assert_int_equal(p.size, 224);
    unlink(oc);
    unlink(hf);
    unlink(hfp);
    rmdir(dir);
}

/* The defaults are OpenAI's transform: same bits as img_clip_preprocess_file. */
static void test_default_is_clip_transform(void **state)
{
    (void)state;
    char in[1024];
    snprintf(in, sizeof in, "%s/preprocess_rgba_90x70_in.png", data_dir());
    float *a = malloc(sizeof(float) * 3 * 48 * 48), *b = malloc(sizeof(float) * 3 * 48 * 48);
    assert_non_null(a);
    assert_non_null(b);
    img_prep p;
    img_prep_default(&p, 48);
    assert_int_equal(img_prep_file(&p, in, a), CC_OK);
    assert_int_equal(img_clip_preprocess_file(in, 48, b), CC_OK);
    assert_memory_equal(a, b, sizeof(float) * 3 * 48 * 48);
    free(a);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_refused_by_name),
        cmocka_unit_test(test_for_model),
        cmocka_unit_test(test_default_is_clip_transform),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
