/* clipcl_preprocess_file / clipcl_preprocess_pixels8 (include/clipcl.h):
 * CLIP's preprocessing through the public API, for callers that decode
 * images themselves (PIL, numpy) or want the tensor without a model; and
 * the clipcl_preprocess_*_model forms, which follow the model's own
 * preprocessing config (io/preprocess_cfg.h) exactly as
 * clipcl_encode_image_files does. */
#include "clipcl.h"

#include <stdio.h>
#include <string.h>

#include "io/image.h"
#include "io/preprocess_cfg.h"
#include "models/clip_api_internal.h"
#include "runtime/status.h"

/* Beyond this one image's tensor passes 3 GB: surely a mistake. */
#define MAX_SIZE 16384

static int check_size(int size, const void *out, const char *what)
{
    if (!out)
        return cc_fail(CC_ERR_INVALID, "%s: NULL output", what);
    if (size < 1 || size > MAX_SIZE)
        return cc_fail(CC_ERR_INVALID, "%s: size %d: expected 1 to %d (the model's resolution)",
                       what, size, MAX_SIZE);
    return CC_OK;
}

static int finish(const img_u8 *im, int size, float *out)
{
    img_u8 rgb;
    int rc = img_clip_resize_crop(im, size, &rgb);
    if (rc != CC_OK)
        return rc;
    img_clip_normalize(&rgb, out);
    img_free(&rgb);
    return CC_OK;
}

int clipcl_preprocess_file(const char *path, int size, float *out)
{
    int rc = check_size(size, out, "preprocess");
    if (rc != CC_OK)
        return rc;
    if (!path)
        return cc_fail(CC_ERR_INVALID, "preprocess: NULL path");
    rc = img_clip_preprocess_file(path, size, out);
    /* io's messages name the file nearly always; the rest get it added. */
    if (rc != CC_OK && !strstr(cc_last_error(), path))
        rc = cc_wrap(rc, "image '%s'", path);
    return rc;
}

/* Copies caller pixels into an img_u8 in the matching PIL mode. */
static int pixels_image(const uint8_t *pixels, int width, int height, size_t row_stride, int mode,
                        img_u8 *im)
{
    static const img_mode modes[] = {IMG_L, IMG_L, IMG_LA, IMG_RGB, IMG_RGBA, IMG_P};
    if (mode < CLIPCL_PIXELS_L || mode > CLIPCL_PIXELS_P)
        return cc_fail(CC_ERR_INVALID, "preprocess pixels: mode %d: expected CLIPCL_PIXELS_L (1) "
                                       "to CLIPCL_PIXELS_P (5)", mode);
    if (!pixels)
        return cc_fail(CC_ERR_INVALID, "preprocess pixels: NULL pixels");
    if (width < 1 || height < 1 || (long long)width * height > IMG_MAX_PIXELS)
        return cc_fail(CC_ERR_INVALID, "preprocess pixels: image %dx%d: expected 1 to %lld pixels",
                       width, height, (long long)IMG_MAX_PIXELS);
    int c = img_mode_channels(modes[mode]), rc;
    size_t row = (size_t)width * (size_t)c;
    if (row_stride < row)
        return cc_fail(CC_ERR_INVALID, "preprocess pixels: row stride %zu bytes: expected at least "
                                       "%zu (%d pixels x %d bytes)", row_stride, row, width, c);
    if ((rc = img_alloc(im, width, height, modes[mode])) != CC_OK)
        return rc;
    for (int y = 0; y < height; y++)
        memcpy(im->px + (size_t)y * row, pixels + (size_t)y * row_stride, row);
    return CC_OK;
}

int clipcl_preprocess_pixels8(const uint8_t *pixels, int width, int height, size_t row_stride,
                              int mode, int size, float *out)
{
    int rc = check_size(size, out, "preprocess pixels");
    if (rc != CC_OK)
        return rc;
    img_u8 im;
    if ((rc = pixels_image(pixels, width, height, row_stride, mode, &im)) != CC_OK)
        return rc;
    rc = finish(&im, size, out);
    img_free(&im);
    return rc;
}

static int model_prep(const clipcl_model *m, const void *out, const char *what,
                      const img_prep **p)
{
    if (!m || !m->m)
        return cc_fail(CC_ERR_INVALID, "%s: NULL model", what);
    if (!out)
        return cc_fail(CC_ERR_INVALID, "%s: NULL output", what);
    *p = &m->m->prep;
    return CC_OK;
}

int clipcl_preprocess_file_model(const clipcl_model *m, const char *path, float *out)
{
    const img_prep *p = NULL;
    int rc = model_prep(m, out, "preprocess", &p);
    if (rc != CC_OK)
        return rc;
    if (!path)
        return cc_fail(CC_ERR_INVALID, "preprocess: NULL path");
    rc = img_prep_file(p, path, out);
    if (rc != CC_OK && !strstr(cc_last_error(), path))
        rc = cc_wrap(rc, "image '%s'", path);
    return rc;
}

int clipcl_preprocess_pixels8_model(const clipcl_model *m, const uint8_t *pixels, int width,
                                    int height, size_t row_stride, int mode, float *out)
{
    const img_prep *p = NULL;
    img_u8 im;
    int rc = model_prep(m, out, "preprocess pixels", &p);
    if (rc == CC_OK && (rc = pixels_image(pixels, width, height, row_stride, mode, &im)) == CC_OK) {
        rc = img_prep_image(p, &im, out);
        img_free(&im);
    }
    return rc;
}

int clipcl_preprocess_encoded_model(const clipcl_model *m, const void *bytes, size_t len,
                                    const char *name, float *out)
{
    const img_prep *p = NULL;
    int rc = model_prep(m, out, "preprocess", &p);
    if (rc != CC_OK)
        return rc;
    if (!bytes && len)
        return cc_fail(CC_ERR_INVALID, "preprocess: NULL bytes");
    return img_prep_encoded(p, bytes, len, name ? name : "image", out);
}

int clipcl_preprocess_describe(const clipcl_model *m, char *buf, size_t cap)
{
    const img_prep *p = NULL;
    int rc = model_prep(m, buf, "preprocess describe", &p);
    if (rc != CC_OK || cap == 0)
        return rc;
    char resize[64];
    if (p->resize_mode == IMG_RESIZE_SHORTEST)
        snprintf(resize, sizeof resize, "short side to %d", p->resize ? p->resize : p->size);
    else if (p->resize_mode == IMG_RESIZE_LONGEST)
        snprintf(resize, sizeof resize, "long side to %d", p->size);
    else
        snprintf(resize, sizeof resize, "squash to %dx%d", p->resize_w ? p->resize_w : p->size,
                 p->resize_h ? p->resize_h : p->size);
    if (p->refused[0])
        snprintf(buf, cap, "refused: %s", p->refused);
    else
        snprintf(buf, cap, "%s: %s, resize %s%s, %s, %d px, fill %d, mean (%g, %g, %g), std "
                 "(%g, %g, %g)", p->source, p->style == IMG_PREP_HF ? "CLIPImageProcessor"
                 : "open_clip", resize, p->center_crop ? " + centre crop" : "",
                 p->filter == IMG_FILTER_BILINEAR ? "bilinear" : "bicubic", p->size, p->fill,
                 (double)p->mean[0], (double)p->mean[1], (double)p->mean[2], (double)p->std[0],
                 (double)p->std[1], (double)p->std[2]);
    return CC_OK;
}
