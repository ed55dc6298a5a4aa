/* TIFF through libtiff, first page, in the mode Pillow opens it in.
 *
 * Pillow reads 8-bit contiguous grey / RGB / CMYK samples as they are
 * stored (an extra sample marked unassociated alpha makes LA / RGBA; one
 * marked associated is divided out as Pillow's "RGBa" unpacker does; an
 * unspecified extra sample is dropped), so those are read raw, by strip
 * or by tile. The rest (palette, bilevel, min-is-white, YCbCr as in
 * JPEG-compressed TIFFs) goes through libtiff's RGBA interface, which is
 * what Pillow itself uses for YCbCr; palette and bilevel images become
 * IMG_P (Pillow resizes them NEAREST). Samples wider than 8 bits and
 * floating point are refused by name.
 *
 * libtiff's error and warning handlers print on stderr by default; per-open
 * handlers keep the first error's text for the cc_fail line instead. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tiffio.h>

#include "io/image_decoders.h"
#include "runtime/status.h"

typedef struct mem_file {
    const uint8_t *b;
    size_t n, pos;
    char err[256];
} mem_file;

static tmsize_t mem_read(thandle_t h, void *dst, tmsize_t n)
{
    mem_file *m = h;
    size_t left = m->n - m->pos, k = (size_t)n < left ? (size_t)n : left;
    memcpy(dst, m->b + m->pos, k);
    m->pos += k;
    return (tmsize_t)k;
}

static tmsize_t mem_write(thandle_t h, void *src, tmsize_t n)
{
    (void)h;
    (void)src;
    (void)n;
    return 0;
}

static toff_t mem_seek(thandle_t h, toff_t off, int whence)
{
    mem_file *m = h;
    long long base = whence == SEEK_CUR ? (long long)m->pos : whence == SEEK_END ? (long long)m->n : 0;
    long long p = base + (long long)off;
    if (p < 0)
        return (toff_t)-1;
    m->pos = (size_t)p > m->n ? m->n : (size_t)p;
    return (toff_t)p;
}

static int mem_close(thandle_t h)
{
    (void)h;
    return 0;
}

static toff_t mem_size(thandle_t h) { return ((mem_file *)h)->n; }

static int mem_map(thandle_t h, void **base, toff_t *size)
{
    (void)h;
    (void)base;
    (void)size;
    return 0;
}

static void mem_unmap(thandle_t h, void *base, toff_t size)
{
    (void)h;
    (void)base;
    (void)size;
}

static int on_error(TIFF *t, void *user, const char *module, const char *fmt, va_list ap)
{
    (void)t;
    mem_file *m = user;
    if (m && !m->err[0]) {
        char msg[200];
        vsnprintf(msg, sizeof msg, fmt, ap);
        snprintf(m->err, sizeof m->err, "%s: %s", module ? module : "libtiff", msg);
    }
    return 1;
}

static int on_warning(TIFF *t, void *user, const char *module, const char *fmt, va_list ap)
{
    (void)t;
    (void)user;
    (void)module;
    (void)fmt;
    (void)ap;
    return 1;
}

/* Pillow's unpackRGBa: colour * 255 / alpha, truncated, clipped. */
static void unassociate(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++, p += 4) {
        unsigned a = p[3];
        if (a == 0) {
            p[0] = p[1] = p[2] = 0;
        } else if (a != 255) {
            for (int c = 0; c < 3; c++) {
                unsigned v = p[c] * 255u / a;
                p[c] = (uint8_t)(v > 255 ? 255 : v);
            }
        }
    }
}

/* Copies `keep` of every `spp` samples of a w-pixel row. */
static void take(uint8_t *dst, const uint8_t *src, int w, int spp, int keep)
{
    for (int x = 0; x < w; x++)
        memcpy(dst + (size_t)x * (size_t)keep, src + (size_t)x * (size_t)spp, (size_t)keep);
}

static int read_raw(TIFF *t, mem_file *m, const char *name, int spp, img_u8 *im)
{
    int keep = im->c, w = im->w, h = im->h;
    if (TIFFIsTiled(t)) {
        uint32_t tw = 0, th = 0;
        TIFFGetField(t, TIFFTAG_TILEWIDTH, &tw);
        TIFFGetField(t, TIFFTAG_TILELENGTH, &th);
        tmsize_t ts = TIFFTileSize(t);
        if (tw == 0 || th == 0 || ts < (tmsize_t)tw * th * (tmsize_t)spp)
            return cc_fail(CC_ERR_INVALID, "%s: corrupt TIFF (tile %ux%u of %lld bytes)", name, tw,
                           th, (long long)ts);
        uint8_t *tile = malloc((size_t)ts);
        if (!tile)
            return cc_fail(CC_ERR_NOMEM, "%s: out of memory for a TIFF tile", name);
        for (uint32_t y0 = 0; y0 < (uint32_t)h; y0 += th)
            for (uint32_t x0 = 0; x0 < (uint32_t)w; x0 += tw) {
                if (TIFFReadTile(t, tile, x0, y0, 0, 0) < 0) {
                    free(tile);
                    return cc_fail(CC_ERR_INVALID, "%s: corrupt TIFF (tile at %u,%u: %s)", name,
                                   x0, y0, m->err[0] ? m->err : "unreadable");
                }
                uint32_t cw = (uint32_t)w - x0 < tw ? (uint32_t)w - x0 : tw;
                for (uint32_t y = 0; y < th && y0 + y < (uint32_t)h; y++)
                    take(im->px + ((size_t)(y0 + y) * (size_t)w + x0) * (size_t)keep,
                         tile + (size_t)y * tw * (size_t)spp, (int)cw, spp, keep);
            }
        free(tile);
        return CC_OK;
    }
    tmsize_t sl = TIFFScanlineSize(t);
    if (sl < (tmsize_t)w * spp)
        return cc_fail(CC_ERR_INVALID, "%s: corrupt TIFF (rows of %lld bytes for %d pixels)", name,
                       (long long)sl, w);
    uint8_t *row = malloc((size_t)sl);
    if (!row)
        return cc_fail(CC_ERR_NOMEM, "%s: out of memory for a TIFF row", name);
    for (int y = 0; y < h; y++) {
        if (TIFFReadScanline(t, row, (uint32_t)y, 0) < 0) {
            free(row);
            return cc_fail(CC_ERR_INVALID, "%s: corrupt TIFF (row %d: %s)", name, y,
                           m->err[0] ? m->err : "unreadable");
        }
        take(im->px + (size_t)y * (size_t)w * (size_t)keep, row, w, spp, keep);
    }
    free(row);
    return CC_OK;
}

static int read_rgba(TIFF *t, mem_file *m, const char *name, img_u8 *im)
{
    size_t n = (size_t)im->w * (size_t)im->h;
    uint32_t *raster = malloc(n * sizeof *raster);
    if (!raster)
        return cc_fail(CC_ERR_NOMEM, "%s: out of memory for %dx%d TIFF pixels", name, im->w, im->h);
    if (!TIFFReadRGBAImageOriented(t, (uint32_t)im->w, (uint32_t)im->h, raster,
                                   ORIENTATION_TOPLEFT, 0)) {
        free(raster);
        return cc_fail(CC_ERR_INVALID, "%s: cannot decode TIFF (%s)", name,
                       m->err[0] ? m->err : "libtiff's RGBA reader failed");
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t p = raster[i];
        uint8_t px[4] = {(uint8_t)TIFFGetR(p), (uint8_t)TIFFGetG(p), (uint8_t)TIFFGetB(p),
                         (uint8_t)TIFFGetA(p)};
        memcpy(im->px + i * (size_t)im->c, px, (size_t)im->c);
    }
    free(raster);
    return CC_OK;
}

static int decode(TIFF *t, mem_file *m, const char *name, img_u8 *out)
{
    uint32_t w = 0, h = 0;
    uint16_t bps = 1, spp = 1, photo = 0, planar = PLANARCONFIG_CONTIG, fmt = SAMPLEFORMAT_UINT;
    uint16_t n_extra = 0, *extra = NULL;
    if (!TIFFGetField(t, TIFFTAG_IMAGEWIDTH, &w) || !TIFFGetField(t, TIFFTAG_IMAGELENGTH, &h))
        return cc_fail(CC_ERR_INVALID, "%s: corrupt TIFF (no image size%s%s)", name,
                       m->err[0] ? ": " : "", m->err);
    TIFFGetFieldDefaulted(t, TIFFTAG_BITSPERSAMPLE, &bps);
    TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLESPERPIXEL, &spp);
    TIFFGetFieldDefaulted(t, TIFFTAG_PLANARCONFIG, &planar);
    TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLEFORMAT, &fmt);
    TIFFGetFieldDefaulted(t, TIFFTAG_EXTRASAMPLES, &n_extra, &extra);
    if (!TIFFGetField(t, TIFFTAG_PHOTOMETRIC, &photo))
        photo = spp >= 3 ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK;
    int rc = img_check_dims(w, h, name);
    if (rc != CC_OK)
        return rc;
    if (fmt != SAMPLEFORMAT_UINT || (bps != 1 && bps != 8 && !(bps == 4 && photo ==
                                                                   PHOTOMETRIC_PALETTE)))
        return cc_fail(CC_ERR_UNSUPPORTED, "%s: unsupported TIFF (%u-bit %s samples; clipcl reads "
                       "8-bit, bilevel and palette TIFFs)", name, bps,
                       fmt == SAMPLEFORMAT_IEEEFP ? "floating-point" :
                       fmt == SAMPLEFORMAT_INT ? "signed" : "unsigned");
    int raw = bps == 8 && planar == PLANARCONFIG_CONTIG;
    int alpha = n_extra >= 1 && extra && extra[0] != EXTRASAMPLE_UNSPECIFIED;
    int assoc = alpha && extra[0] == EXTRASAMPLE_ASSOCALPHA;
    img_mode mode;
    if (raw && photo == PHOTOMETRIC_MINISBLACK && spp - n_extra == 1)
        mode = alpha ? IMG_LA : IMG_L;
    else if (raw && photo == PHOTOMETRIC_RGB && spp - n_extra == 3)
        mode = alpha ? IMG_RGBA : IMG_RGB;
    else if (raw && photo == PHOTOMETRIC_SEPARATED && spp - n_extra == 4)
        mode = IMG_CMYK; /* Pillow keeps CMYK and converts after the resize */
    else {
        raw = 0;
        if (photo == PHOTOMETRIC_PALETTE || bps == 1)
            mode = IMG_P;
        else
            mode = alpha ? IMG_RGBA : IMG_RGB;
    }
    if (raw && (assoc && mode == IMG_LA))
        return cc_fail(CC_ERR_UNSUPPORTED, "%s: unsupported TIFF (grey with associated alpha)", name);
    if ((rc = img_alloc(out, (int)w, (int)h, mode)) != CC_OK)
        return rc;
    rc = raw ? read_raw(t, m, name, spp, out) : read_rgba(t, m, name, out);
    if (rc == CC_OK && raw && assoc)
        unassociate(out->px, (size_t)w * h);
    if (rc != CC_OK)
        img_free(out);
    return rc;
}

int img_decode_tiff(const uint8_t *buf, size_t len, const char *name, img_u8 *out)
{
    memset(out, 0, sizeof *out);
    mem_file m = {.b = buf, .n = len};
    TIFFOpenOptions *o = TIFFOpenOptionsAlloc();
    if (!o)
        return cc_fail(CC_ERR_NOMEM, "%s: out of memory for libtiff", name);
    TIFFOpenOptionsSetErrorHandlerExtR(o, on_error, &m);
    TIFFOpenOptionsSetWarningHandlerExtR(o, on_warning, &m);
    /* one allocation at most the largest image at 4 bytes a pixel */
    TIFFOpenOptionsSetMaxSingleMemAlloc(o, (tmsize_t)IMG_MAX_PIXELS * 4);
    TIFF *t = TIFFClientOpenExt(name, "rm", &m, mem_read, mem_write, mem_seek, mem_close,
                                mem_size, mem_map, mem_unmap, o);
    TIFFOpenOptionsFree(o);
    if (!t)
        return cc_fail(CC_ERR_INVALID, "%s: corrupt TIFF (%s)", name,
                       m.err[0] ? m.err : "libtiff cannot read its header");
    int rc = decode(t, &m, name, out);
    TIFFClose(t);
    return rc;
}
