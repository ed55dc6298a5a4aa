/* The transform a model's config asks for (io/preprocess_cfg.h), on top of
 * the Pillow-exact resampler in io/preprocess.c.
 *
 * open_clip's eval transform (open_clip/transform.py, image_transform):
 *   shortest: Resize(S) + CenterCrop(S)           (OpenAI's _transform)
 *   longest:  ResizeKeepRatio(S, longest=1) + CenterCropOrPad(S, fill)
 *   squash:   Resize((S, S))
 * then convert("RGB"), ToTensor, Normalize(mean, std). Hugging Face's
 * CLIPImageProcessor: convert to RGB first, resize (shortest_edge or
 * height/width), centre crop with int(d / 2.0) offsets (padding with 0 when
 * the image is smaller), rescale and normalise fused. Only the crop window
 * is resampled, as in img_clip_resize_crop. */
#include "io/preprocess_cfg.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "runtime/status.h"

void img_prep_default(img_prep *p, int size)
{
    memset(p, 0, sizeof *p);
    p->size = size;
    p->style = IMG_PREP_OPEN_CLIP;
    p->resize_mode = IMG_RESIZE_SHORTEST;
    p->center_crop = 1;
    p->filter = IMG_FILTER_BICUBIC;
    memcpy(p->mean, IMG_CLIP_MEAN, sizeof p->mean);
    memcpy(p->std, IMG_CLIP_STD, sizeof p->std);
    p->normalize = 1;
    p->rescale = 1.0 / 255.0;
    snprintf(p->source, sizeof p->source, "OpenAI CLIP's defaults");
}

void img_prep_refuse(img_prep *p, const char *why)
{
    snprintf(p->refused, sizeof p->refused, "%s", why && why[0] ? why : "preprocessing refused");
}

/* int(round(d / 2.0)) with Python's round-half-even (torchvision). */
static int half_even(int d)
{
    if (d % 2 == 0)
        return d / 2;
    int k = (d - 1) / 2;
    return k % 2 == 0 ? k : k + 1;
}

/* One axis of the crop-or-pad: the window [off, off + take) of the resized
 * axis lands at `pad` in the output. */
static void crop_axis(const img_prep *p, int resized, int *off, int *take, int *pad)
{
    int S = p->size;
    if (resized >= S) {
        *off = p->style == IMG_PREP_HF ? (resized - S) / 2 : half_even(resized - S);
        *take = S;
        *pad = 0;
    } else {
        *off = 0;
        *take = resized;
        *pad = (S - resized) / 2;
    }
}

static int resized_dims(const img_prep *p, int w, int h, int *ow, int *oh)
{
    int S = p->size;
    switch (p->resize_mode) {
    case IMG_RESIZE_SHORTEST:
        img_resize_dims(w, h, p->resize ? p->resize : S, ow, oh);
        break;
    case IMG_RESIZE_LONGEST: {
        /* timm's ResizeKeepRatio: ratio = max(h / S, w / S); sides
         * round(x / ratio), Python's round (half to even, as rint) */
        double rh = (double)h / S, rw = (double)w / S, ratio = rh > rw ? rh : rw;
        *oh = (int)rint((double)h / ratio);
        *ow = (int)rint((double)w / ratio);
        break;
    }
    case IMG_RESIZE_SQUASH:
        *ow = p->resize_w ? p->resize_w : S;
        *oh = p->resize_h ? p->resize_h : S;
        break;
    }
    if (*ow < 1 || *oh < 1)
        return cc_fail(CC_ERR_INVALID, "preprocess: a %dx%d image resized for %d px gives %dx%d "
                       "(open_clip fails on it too)", w, h, S, *ow, *oh);
    if (!p->center_crop && (*ow != S || *oh != S))
        return cc_fail(CC_ERR_UNSUPPORTED, "preprocess (%s): a %dx%d image resizes to %dx%d and "
                       "nothing crops it to the model's %dx%d", p->source, w, h, *ow, *oh, S, S);
    return CC_OK;
}

/* The colour a pad of value `fill` has once converted to RGB: torchvision
 * pads in the image's own mode, every band with the fill value. */
static void fill_rgb(const img_u8 *src, int fill, uint8_t rgb[3])
{
    img_u8 one = {0}, out = {0};
    rgb[0] = rgb[1] = rgb[2] = (uint8_t)fill;
    if (img_alloc(&one, 1, 1, src->mode) != CC_OK)
        return;
    if (src->mode == IMG_I32) {
        int32_t v = fill;
        memcpy(one.px, &v, sizeof v);
    } else {
        memset(one.px, fill, (size_t)one.c);
    }
    if (img_to_rgb(&one, &out) == CC_OK)
        memcpy(rgb, out.px, 3);
    img_free(&one);
    img_free(&out);
}

/* transformers' convert_to_rgb on a PIL image with alpha: composited on
 * opaque white with Pillow's alpha_composite (AlphaComposite.c: 7-bit
 * fixed-point coefficients, SHIFTFORDIV255 rounding), then RGB. */
static int composite_on_white(const img_u8 *src, img_u8 *dst)
{
    int rc = img_alloc(dst, src->w, src->h, IMG_RGB);
    if (rc != CC_OK)
        return rc;
    size_t n = (size_t)src->w * (size_t)src->h;
    int grey = src->mode == IMG_LA;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *s = src->px + i * (size_t)src->c;
        uint8_t *d = dst->px + i * 3;
        uint32_t a = s[src->c - 1];
        for (int c = 0; c < 3; c++) {
            uint32_t v = s[grey ? 0 : c];
            if (a == 0) {
                d[c] = 255;
                continue;
            }
            uint32_t coef1 = a << 7, coef2 = (255u << 7) - coef1;
            uint32_t t = v * coef1 + 255u * coef2 + (0x80u << 7);
            d[c] = (uint8_t)(((((t >> 8) + t) >> 8)) >> 7);
        }
    }
    return CC_OK;
}

int img_prep_rgb(const img_prep *p, const img_u8 *src0, img_u8 *rgb)
{
    memset(rgb, 0, sizeof *rgb);
    if (p->refused[0])
        return cc_fail(CC_ERR_UNSUPPORTED, "%s", p->refused);
    int S = p->size;
    if (S <= 0 || src0->w <= 0 || src0->h <= 0)
        return cc_fail(CC_ERR_INVALID, "preprocess: image %dx%d to size %d", src0->w, src0->h, S);
    img_u8 conv = {0};
    const img_u8 *src = src0;
    int rc = CC_OK;
    if (p->style == IMG_PREP_HF && src0->mode != IMG_RGB) {
        /* CLIPImageProcessor's do_convert_rgb comes before the resize, and
         * puts transparent images on white */
        rc = src0->mode == IMG_LA || src0->mode == IMG_RGBA ? composite_on_white(src0, &conv)
                                                            : img_to_rgb(src0, &conv);
        if (rc != CC_OK)
            return rc;
        src = &conv;
    }
    int ow, oh, x0, y0, cw, ch, px, py;
    rc = resized_dims(p, src->w, src->h, &ow, &oh);
    if (rc == CC_OK) {
        crop_axis(p, ow, &x0, &cw, &px);
        crop_axis(p, oh, &y0, &ch, &py);
    }
    img_u8 win = {0}, wrgb = {0};
    if (rc == CC_OK)
        rc = img_resize_window_filter(src, p->filter, ow, oh, x0, y0, cw, ch, &win);
    if (rc == CC_OK)
        rc = img_to_rgb(&win, &wrgb);
    img_free(&win);
    if (rc == CC_OK && cw == S && ch == S) {
        *rgb = wrgb;
    } else if (rc == CC_OK) {
        uint8_t f[3];
        fill_rgb(src, p->style == IMG_PREP_HF ? 0 : p->fill, f);
        rc = img_alloc(rgb, S, S, IMG_RGB);
        if (rc == CC_OK) {
            for (size_t i = 0; i < (size_t)S * (size_t)S; i++)
                memcpy(rgb->px + i * 3, f, 3);
            for (int y = 0; y < ch; y++)
                memcpy(rgb->px + ((size_t)(py + y) * (size_t)S + (size_t)px) * 3,
                       wrgb.px + (size_t)y * (size_t)cw * 3, (size_t)cw * 3);
        }
        img_free(&wrgb);
    }
    img_free(&conv);
    return rc;
}

void img_prep_normalize(const img_prep *p, const img_u8 *rgb, float *out)
{
    size_t plane = (size_t)rgb->w * (size_t)rgb->h;
    for (int c = 0; c < 3; c++) {
        float *o = out + (size_t)c * plane;
        if (p->style == IMG_PREP_OPEN_CLIP) {
            /* float32 steps in torchvision's order: x/255, then (x-m)/s */
            for (size_t i = 0; i < plane; i++) {
                float v = (float)rgb->px[i * 3 + (size_t)c] / 255.0f;
                o[i] = (v - p->mean[c]) / p->std[c];
            }
        } else if (p->normalize) {
            /* transformers fuses rescale into the statistics, in float32 */
            float k = (float)(1.0 / p->rescale);
            float m = p->mean[c] * k, s = p->std[c] * k;
            for (size_t i = 0; i < plane; i++)
                o[i] = ((float)rgb->px[i * 3 + (size_t)c] - m) / s;
        } else {
            float k = (float)p->rescale;
            for (size_t i = 0; i < plane; i++)
                o[i] = (float)rgb->px[i * 3 + (size_t)c] * k;
        }
    }
}

int img_prep_image(const img_prep *p, const img_u8 *src, float *out)
{
    img_u8 rgb;
    int rc = img_prep_rgb(p, src, &rgb);
    if (rc != CC_OK)
        return rc;
    img_prep_normalize(p, &rgb, out);
    img_free(&rgb);
    return CC_OK;
}

int img_prep_encoded(const img_prep *p, const void *bytes, size_t len, const char *name,
                     float *out)
{
    img_u8 im;
    int rc = img_decode(bytes, len, name, &im);
    if (rc != CC_OK)
        return rc;
    rc = img_prep_image(p, &im, out);
    img_free(&im);
    return rc;
}

int img_prep_file(const img_prep *p, const char *path, float *out)
{
    if (p->refused[0]) /* before reading the file: the config is the problem */
        return cc_fail(CC_ERR_UNSUPPORTED, "%s", p->refused);
    img_u8 im;
    int rc = img_load(path, &im);
    if (rc != CC_OK)
        return rc;
    rc = img_prep_image(p, &im, out);
    img_free(&im);
    return rc;
}
