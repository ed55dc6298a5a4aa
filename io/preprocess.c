/* Pillow-exact resampling (BICUBIC and the NEAREST used for palette images)
 * and CLIP's Resize + CenterCrop + Normalize.
 *
 * Pillow's algorithm (src/libImaging/Resample.c), re-derived here: separable
 * convolution with the a = -0.5 cubic, kernel support stretched by the
 * downscale factor (antialiasing), weights normalised in double then turned
 * into 22-bit fixed point, horizontal pass first into a uint8 intermediate,
 * then the vertical pass. Only the output window is computed: every output
 * pixel depends on its own coefficients alone, so a crop of the full result
 * equals the result restricted to the crop. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/image.h"
#include "runtime/status.h"

#define PRECISION_BITS (32 - 8 - 2)

const float IMG_CLIP_MEAN[3] = {0.48145466f, 0.4578275f, 0.40821073f};
const float IMG_CLIP_STD[3] = {0.26862954f, 0.26130258f, 0.27577711f};

typedef struct axis {
    int ksize;
    int *lo, *cnt;  /* per output: first input index and tap count */
    int32_t *k;     /* per output: ksize fixed-point weights (8-bit images) */
    double *kd;     /* per output: ksize normalised weights (mode I images) */
} axis;

static void axis_free(axis *a)
{
    free(a->lo);
    free(a->cnt);
    free(a->k);
    free(a->kd);
    memset(a, 0, sizeof *a);
}

static double cubic(double x)
{
    const double a = -0.5;
    if (x < 0.0)
        x = -x;
    if (x < 1.0)
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0)
        return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

/* Pillow's bilinear_filter: the triangle, support 1. */
static double triangle(double x)
{
    if (x < 0.0)
        x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

/* Coefficients for outputs [o0, o0+on) of an in -> out resize. The double
 * arithmetic follows Pillow's order of operations so weights round alike. */
static int axis_coeffs(int in, int out, int o0, int on, img_filter f, axis *ax)
{
    memset(ax, 0, sizeof *ax);
    double (*filter)(double) = f == IMG_FILTER_BILINEAR ? triangle : cubic;
    double fsupport = f == IMG_FILTER_BILINEAR ? 1.0 : 2.0;
    double scale = (double)in / out, filterscale = scale < 1.0 ? 1.0 : scale;
    double support = fsupport * filterscale, ss = 1.0 / filterscale;
    ax->ksize = (int)ceil(support) * 2 + 1;
    ax->lo = malloc(sizeof(int) * (size_t)on);
    ax->cnt = malloc(sizeof(int) * (size_t)on);
    ax->k = calloc((size_t)on * (size_t)ax->ksize, sizeof(int32_t));
    ax->kd = calloc((size_t)on * (size_t)ax->ksize, sizeof(double));
    double *w = malloc(sizeof(double) * (size_t)ax->ksize);
    if (!ax->lo || !ax->cnt || !ax->k || !ax->kd || !w) {
        free(w);
        axis_free(ax);
        return cc_fail(CC_ERR_NOMEM, "resize %d -> %d: out of memory", in, out);
    }
    for (int i = 0; i < on; i++) {
        double center = (o0 + i + 0.5) * scale;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0)
            xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in)
            xmax = in;
        xmax -= xmin;
        double ww = 0.0;
        for (int x = 0; x < xmax; x++) {
            w[x] = filter((x + xmin - center + 0.5) * ss);
            ww += w[x];
        }
        int32_t *k = ax->k + (size_t)i * (size_t)ax->ksize;
        double *kd = ax->kd + (size_t)i * (size_t)ax->ksize;
        for (int x = 0; x < xmax; x++) {
            double v = ww != 0.0 ? w[x] / ww : w[x];
            kd[x] = v;
            /* round half away from zero into 22 fractional bits */
            k[x] = v < 0 ? (int32_t)(-0.5 + v * (1 << PRECISION_BITS))
                         : (int32_t)(0.5 + v * (1 << PRECISION_BITS));
        }
        ax->lo[i] = xmin;
        ax->cnt[i] = xmax;
    }
    free(w);
    return CC_OK;
}

static uint8_t clip8(int32_t v)
{
    if (v >= (1 << PRECISION_BITS << 8))
        return 255;
    if (v <= 0)
        return 0;
    return (uint8_t)(v >> PRECISION_BITS);
}

/* rows [r0, r0+nr) of src, horizontally resampled to ax's outputs. */
static void hpass(const img_u8 *src, int r0, int nr, const axis *ax, int on, uint8_t *dst)
{
    int c = src->c;
    for (int y = 0; y < nr; y++) {
        const uint8_t *row = src->px + (size_t)(r0 + y) * (size_t)src->w * (size_t)c;
        uint8_t *o = dst + (size_t)y * (size_t)on * (size_t)c;
        for (int i = 0; i < on; i++) {
            const int32_t *k = ax->k + (size_t)i * (size_t)ax->ksize;
            const uint8_t *p = row + (size_t)ax->lo[i] * (size_t)c;
            for (int ch = 0; ch < c; ch++) {
                int32_t acc = 1 << (PRECISION_BITS - 1);
                for (int x = 0; x < ax->cnt[i]; x++)
                    acc += p[x * c + ch] * k[x];
                o[i * c + ch] = clip8(acc);
            }
        }
    }
}

/* Vertical pass over tmp (rows start at source row r0, width on*c). */
static void vpass(const uint8_t *tmp, int r0, int rowlen, const axis *ax, int on, uint8_t *dst)
{
    for (int i = 0; i < on; i++) {
        const int32_t *k = ax->k + (size_t)i * (size_t)ax->ksize;
        const uint8_t *base = tmp + (size_t)(ax->lo[i] - r0) * (size_t)rowlen;
        uint8_t *o = dst + (size_t)i * (size_t)rowlen;
        for (int x = 0; x < rowlen; x++) {
            int32_t acc = 1 << (PRECISION_BITS - 1);
            for (int y = 0; y < ax->cnt[i]; y++)
                acc += base[(size_t)y * (size_t)rowlen + (size_t)x] * k[y];
            o[x] = clip8(acc);
        }
    }
}

/* Pillow's ROUND_UP for the 32-bit passes: half away from zero. */
static int32_t round_up(double v)
{
    return (int32_t)(v >= 0.0 ? floor(v + 0.5) : -floor(fabs(v) + 0.5));
}

/* Mode I (int32 pixels, 16-bit greyscale PNGs): Pillow's 32bpc passes sum
 * in double with the unquantised weights and round without clipping. */
static void hpass_i32(const img_u8 *src, int r0, int nr, const axis *ax, int on, uint8_t *dst)
{
    for (int y = 0; y < nr; y++) {
        const int32_t *row = (const int32_t *)(const void *)src->px + (size_t)(r0 + y) * (size_t)src->w;
        int32_t *o = (int32_t *)(void *)dst + (size_t)y * (size_t)on;
        for (int i = 0; i < on; i++) {
            const double *k = ax->kd + (size_t)i * (size_t)ax->ksize;
            double acc = 0.0;
            for (int x = 0; x < ax->cnt[i]; x++)
                acc += row[ax->lo[i] + x] * k[x];
            o[i] = round_up(acc);
        }
    }
}

static void vpass_i32(const uint8_t *tmp, int r0, int rowlen, const axis *ax, int on, uint8_t *dst)
{
    const int32_t *t = (const int32_t *)(const void *)tmp;
    int32_t *d = (int32_t *)(void *)dst;
    for (int i = 0; i < on; i++) {
        const double *k = ax->kd + (size_t)i * (size_t)ax->ksize;
        const int32_t *base = t + (size_t)(ax->lo[i] - r0) * (size_t)rowlen;
        for (int x = 0; x < rowlen; x++) {
            double acc = 0.0;
            for (int y = 0; y < ax->cnt[i]; y++)
                acc += base[(size_t)y * (size_t)rowlen + (size_t)x] * k[y];
            d[(size_t)i * (size_t)rowlen + (size_t)x] = round_up(acc);
        }
    }
}

/* Pillow's rgba2rgbA / rgbA2rgba (premultiply with rounding, divide with
 * truncation; alpha 0 and 255 pass colour through unchanged). */
static void premultiply(img_u8 *im)
{
    size_t n = (size_t)im->w * (size_t)im->h;
    int c = im->c;
    for (size_t i = 0; i < n; i++) {
        uint8_t *p = im->px + i * (size_t)c;
        unsigned a = p[c - 1];
        for (int ch = 0; ch < c - 1; ch++) {
            unsigned t = p[ch] * a + 128;
            p[ch] = (uint8_t)(((t >> 8) + t) >> 8);
        }
    }
}

static void unpremultiply(img_u8 *im)
{
    size_t n = (size_t)im->w * (size_t)im->h;
    int c = im->c;
    for (size_t i = 0; i < n; i++) {
        uint8_t *p = im->px + i * (size_t)c;
        unsigned a = p[c - 1];
        if (a == 0 || a == 255)
            continue;
        for (int ch = 0; ch < c - 1; ch++) {
            unsigned v = 255u * p[ch] / a;
            p[ch] = (uint8_t)(v > 255 ? 255 : v);
        }
    }
}

/* Pillow's ImagingScaleAffine: source index = int of a running sum started
 * at half a step (the accumulation, not (i + 0.5) * step, decides ties). */
static void nearest_table(int in, int out, int o0, int on, int *tab)
{
    double step = (double)in / out, pos = step * 0.5;
    for (int i = 0; i < o0 + on; i++, pos += step) {
        if (i < o0)
            continue;
        int v = pos < 0.0 ? 0 : (int)pos;
        tab[i - o0] = v >= in ? in - 1 : v;
    }
}

static int resize_nearest(const img_u8 *src, int ow, int oh, int x0, int y0, int cw, int ch,
                          img_u8 *dst)
{
    int *tx = malloc(sizeof(int) * (size_t)cw), *ty = malloc(sizeof(int) * (size_t)ch);
    int rc = (tx && ty) ? img_alloc(dst, cw, ch, src->mode)
                        : cc_fail(CC_ERR_NOMEM, "nearest resize: out of memory");
    if (rc == CC_OK) {
        nearest_table(src->w, ow, x0, cw, tx);
        nearest_table(src->h, oh, y0, ch, ty);
        int c = src->c;
        for (int y = 0; y < ch; y++)
            for (int x = 0; x < cw; x++)
                memcpy(dst->px + ((size_t)y * (size_t)cw + (size_t)x) * (size_t)c,
                       src->px + ((size_t)ty[y] * (size_t)src->w + (size_t)tx[x]) * (size_t)c,
                       (size_t)c);
    }
    free(tx);
    free(ty);
    return rc;
}

static void copy_window(const img_u8 *src, int x0, int y0, img_u8 *dst)
{
    size_t c = (size_t)src->c, rowlen = (size_t)dst->w * c;
    for (int y = 0; y < dst->h; y++)
        memcpy(dst->px + (size_t)y * rowlen,
               src->px + ((size_t)(y0 + y) * (size_t)src->w + (size_t)x0) * c, rowlen);
}

static int resize_filtered(const img_u8 *src, img_filter f, int ow, int oh, int x0, int y0,
                           int cw, int ch, img_u8 *dst)
{
    int need_h = ow != src->w, need_v = oh != src->h, i32 = src->mode == IMG_I32;
    axis ah = {0}, av = {0};
    int rc = CC_OK;
    if (need_h)
        rc = axis_coeffs(src->w, ow, x0, cw, f, &ah);
    if (rc == CC_OK && need_v)
        rc = axis_coeffs(src->h, oh, y0, ch, f, &av);
    /* source rows the vertical pass reads */
    int r0 = y0, r1 = y0 + ch;
    if (rc == CC_OK && need_v) {
        r0 = av.lo[0];
        r1 = av.lo[ch - 1] + av.cnt[ch - 1];
    }
    img_u8 tmp = {0};
    if (rc == CC_OK)
        rc = img_alloc(&tmp, cw, r1 - r0, src->mode);
    if (rc == CC_OK) {
        if (need_h)
            (i32 ? hpass_i32 : hpass)(src, r0, r1 - r0, &ah, cw, tmp.px);
        else
            copy_window(src, x0, r0, &tmp);
        if (need_v) {
            rc = img_alloc(dst, cw, ch, src->mode);
            if (rc == CC_OK) {
                if (i32)
                    vpass_i32(tmp.px, r0, cw, &av, ch, dst->px);
                else
                    vpass(tmp.px, r0, cw * src->c, &av, ch, dst->px);
            }
            img_free(&tmp);
        } else {
            *dst = tmp;
        }
    }
    axis_free(&ah);
    axis_free(&av);
    return rc;
}

int img_resize_window(const img_u8 *src, int ow, int oh, int x0, int y0, int cw, int ch,
                      img_u8 *dst)
{
    return img_resize_window_filter(src, IMG_FILTER_BICUBIC, ow, oh, x0, y0, cw, ch, dst);
}

int img_resize_window_filter(const img_u8 *src, img_filter f, int ow, int oh, int x0, int y0,
                             int cw, int ch, img_u8 *dst)
{
    memset(dst, 0, sizeof *dst);
    if (ow <= 0 || oh <= 0 || cw <= 0 || ch <= 0 || x0 < 0 || y0 < 0 || x0 + cw > ow ||
        y0 + ch > oh || src->w <= 0 || src->h <= 0)
        return cc_fail(CC_ERR_INVALID, "resize %dx%d -> %dx%d window (%d,%d) %dx%d: bad geometry",
                       src->w, src->h, ow, oh, x0, y0, cw, ch);
    if (ow == src->w && oh == src->h) {
        /* Pillow returns a copy: no premultiply round trip, no filtering */
        int rc = img_alloc(dst, cw, ch, src->mode);
        if (rc == CC_OK)
            copy_window(src, x0, y0, dst);
        return rc;
    }
    if (src->mode == IMG_P)
        return resize_nearest(src, ow, oh, x0, y0, cw, ch, dst);
    if (src->mode == IMG_LA || src->mode == IMG_RGBA) {
        img_u8 pm;
        int rc = img_alloc(&pm, src->w, src->h, src->mode);
        if (rc != CC_OK)
            return rc;
        memcpy(pm.px, src->px, (size_t)src->w * (size_t)src->h * (size_t)src->c);
        premultiply(&pm);
        rc = resize_filtered(&pm, f, ow, oh, x0, y0, cw, ch, dst);
        img_free(&pm);
        if (rc == CC_OK)
            unpremultiply(dst);
        return rc;
    }
    return resize_filtered(src, f, ow, oh, x0, y0, cw, ch, dst);
}

int img_resize(const img_u8 *src, int ow, int oh, img_u8 *dst)
{
    return img_resize_window(src, ow, oh, 0, 0, ow, oh, dst);
}

void img_resize_dims(int w, int h, int size, int *ow, int *oh)
{
    int shrt = w <= h ? w : h, lng = w <= h ? h : w;
    int nl = (int)((double)((long long)size * lng) / (double)shrt);
    *ow = w <= h ? size : nl;
    *oh = w <= h ? nl : size;
}

/* int(round(d / 2.0)) with Python's round-half-to-even. */
static int half_even(int d)
{
    if (d % 2 == 0)
        return d / 2;
    int k = (d - 1) / 2;
    return k % 2 == 0 ? k : k + 1;
}

int img_clip_resize_crop(const img_u8 *src, int size, img_u8 *rgb)
{
    memset(rgb, 0, sizeof *rgb);
    if (size <= 0 || src->w <= 0 || src->h <= 0)
        return cc_fail(CC_ERR_INVALID, "preprocess: image %dx%d to size %d", src->w, src->h, size);
    int ow, oh;
    img_resize_dims(src->w, src->h, size, &ow, &oh);
    /* The resized image is at least size x size, so torchvision never pads. */
    int top = half_even(oh - size), left = half_even(ow - size);
    img_u8 crop;
    int rc = img_resize_window(src, ow, oh, left, top, size, size, &crop);
    if (rc != CC_OK)
        return rc;
    rc = img_to_rgb(&crop, rgb);
    img_free(&crop);
    return rc;
}

void img_clip_normalize(const img_u8 *rgb, float *out)
{
    size_t plane = (size_t)rgb->w * (size_t)rgb->h;
    for (int c = 0; c < 3; c++)
        for (size_t i = 0; i < plane; i++) {
            /* float32 steps in torchvision's order: x/255, then (x-m)/s */
            float v = (float)rgb->px[i * 3 + (size_t)c] / 255.0f;
            out[(size_t)c * plane + i] = (v - IMG_CLIP_MEAN[c]) / IMG_CLIP_STD[c];
        }
}

int img_clip_preprocess_file(const char *path, int size, float *out_chw)
{
    img_u8 im, rgb;
    int rc = img_load(path, &im);
    if (rc != CC_OK)
        return rc;
    rc = img_clip_resize_crop(&im, size, &rgb);
    img_free(&im);
    if (rc != CC_OK)
        return rc;
    img_clip_normalize(&rgb, out_chw);
    img_free(&rgb);
    return CC_OK;
}
