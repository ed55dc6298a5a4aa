/* One image to CLIP input pixels, with torchvision's RandomResizedCrop as
 * the optional training augmentation (open_clip's train transform:
 * RandomResizedCrop(S, scale, interpolation=BICUBIC), convert RGB, ToTensor,
 * Normalize). */
#include "io/dataset.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/rng.h"
#include "runtime/status.h"

static double uniform(uint64_t *s, double lo, double hi) { return lo + (hi - lo) * cc_rng_uniform(s); }

/* Python's round(): half to even. */
static int round_half_even(double v)
{
    double f = floor(v), d = v - f;
    if (d > 0.5 || (d == 0.5 && fmod(f, 2.0) != 0.0))
        f += 1.0;
    return (int)f;
}

void ds_rrc_params(const ds_rrc *r, int w, int h, uint64_t *rng, int *cx, int *cy, int *cw, int *ch)
{
    double area = (double)w * h;
    double lr0 = log(r->ratio_min), lr1 = log(r->ratio_max);
    for (int attempt = 0; attempt < 10; attempt++) {
        double target = area * uniform(rng, r->scale_min, r->scale_max);
        double aspect = exp(uniform(rng, lr0, lr1));
        int tw = round_half_even(sqrt(target * aspect));
        int th = round_half_even(sqrt(target / aspect));
        if (tw > 0 && tw <= w && th > 0 && th <= h) {
            /* torch.randint(0, n + 1): n + 1 choices. */
            *cy = (int)cc_rng_below(rng, (uint64_t)(h - th + 1));
            *cx = (int)cc_rng_below(rng, (uint64_t)(w - tw + 1));
            *cw = tw;
            *ch = th;
            return;
        }
    }
    /* Fallback: the largest centred crop within the ratio range. */
    double in_ratio = (double)w / h;
    int tw = w, th = h;
    if (in_ratio < r->ratio_min) {
        th = round_half_even(tw / r->ratio_min);
    } else if (in_ratio > r->ratio_max) {
        tw = round_half_even(th * r->ratio_max);
    }
    if (th < 1)
        th = 1;
    if (tw < 1)
        tw = 1;
    *cw = tw;
    *ch = th;
    *cy = (h - th) / 2;
    *cx = (w - tw) / 2;
}

/* The window is checked here rather than trusted from ds_rrc_params: a crop
 * outside the image would read rows that do not exist. */
static int crop(const img_u8 *src, int x0, int y0, int w, int h, img_u8 *dst)
{
    if (w < 1 || h < 1 || x0 < 0 || y0 < 0 || x0 > src->w - w || y0 > src->h - h)
        return cc_fail(CC_ERR_INVALID, "random resized crop: window %dx%d at (%d, %d) outside "
                       "the %dx%d image", w, h, x0, y0, src->w, src->h);
    int rc = img_alloc(dst, w, h, src->mode);
    if (rc != CC_OK)
        return rc;
    size_t row = (size_t)w * (size_t)src->c;
    for (int y = 0; y < h; y++)
        memcpy(dst->px + (size_t)y * row,
               src->px + (((size_t)(y0 + y) * (size_t)src->w) + (size_t)x0) * (size_t)src->c, row);
    return CC_OK;
}

int ds_preprocess(const img_u8 *im, int size, const ds_rrc *r, uint64_t *rng, float *out)
{
    img_u8 rgb = {0};
    int rc;
    if (!im || !im->px || im->w < 1 || im->h < 1 || im->c != img_mode_channels(im->mode))
        return cc_fail(CC_ERR_INVALID, "image preprocessing: %dx%d image with %d channel(s), "
                       "expected at least 1x1 pixels with its mode's channels",
                       im ? im->w : 0, im ? im->h : 0, im ? im->c : 0);
    if (!r || !r->enabled) {
        rc = img_clip_resize_crop(im, size, &rgb);
    } else {
        if (!(r->scale_min > 0 && r->scale_min <= r->scale_max && r->scale_max <= 1 &&
              r->ratio_min > 0 && r->ratio_min <= r->ratio_max))
            return cc_fail(CC_ERR_INVALID, "random resized crop: scale (%g, %g), ratio (%g, %g): "
                           "expected 0 < scale_min <= scale_max <= 1, 0 < ratio_min <= ratio_max",
                           r->scale_min, r->scale_max, r->ratio_min, r->ratio_max);
        int cx, cy, cw, ch;
        ds_rrc_params(r, im->w, im->h, rng, &cx, &cy, &cw, &ch);
        img_u8 part = {0}, resized = {0};
        rc = crop(im, cx, cy, cw, ch, &part);
        if (rc == CC_OK)
            rc = img_resize(&part, size, size, &resized);
        if (rc == CC_OK)
            rc = img_to_rgb(&resized, &rgb);
        img_free(&part);
        img_free(&resized);
    }
    if (rc == CC_OK)
        img_clip_normalize(&rgb, out);
    img_free(&rgb);
    return rc;
}
