/* Image decoding: the format by its signature, then libjpeg-turbo, libwebp,
 * libtiff (io/image_jpeg.c, image_webp.c, image_tiff.c) or stb_image with the
 * container checks stb does not do; PIL's mode model (which mode PIL would
 * open the file in); formats nobody here reads named as unsupported. */
#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_HDR
#define STBI_NO_PIC
#define STBI_NO_LINEAR
#define STBI_FAILURE_USERMSG
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wmisleading-indentation"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#endif
#include <stb/stb_image.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#include "io/image.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "io/atomic_file.h"
#include "io/image_decoders.h"
#include "io/jpeg_check.h"
#include "runtime/status.h"

int img_mode_channels(img_mode m)
{
    static const int ch[] = {1, 2, 3, 4, 3, 4, 4};
    return (unsigned)m <= IMG_I32 ? ch[m] : 0;
}

int img_alloc(img_u8 *im, int w, int h, img_mode mode)
{
    im->w = w;
    im->h = h;
    im->mode = mode;
    im->c = img_mode_channels(mode);
    size_t n = (size_t)w * (size_t)h * (size_t)im->c;
    im->px = malloc(n ? n : 1);
    if (!im->px)
        return cc_fail(CC_ERR_NOMEM, "image %dx%d: out of memory", w, h);
    return CC_OK;
}

void img_free(img_u8 *im)
{
    if (!im)
        return;
    free(im->px);
    memset(im, 0, sizeof *im);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Walks the chunk list: stb accepts a PNG whose IDAT stream ends early and
 * returns partly blank pixels, PIL refuses it. Returns the PIL mode. */
static int check_png(const uint8_t *b, size_t n, const char *name, img_mode *mode,
                     int *depth16)
{
    size_t pos = 8;
    int seen_ihdr = 0;
    for (;;) {
        if (n - pos < 12)
            return cc_fail(CC_ERR_IO, "%s: truncated PNG (chunk header at byte %zu of %zu, "
                           "expected IEND)", name, pos, n);
        uint32_t len = be32(b + pos);
        const uint8_t *type = b + pos + 4;
        if (len > 0x7fffffffu || len > n - pos - 12)
            return cc_fail(CC_ERR_IO, "%s: truncated PNG (chunk %.4s of %u bytes at byte %zu, "
                           "file has %zu)", name, (const char *)type, len, pos, n);
        uint32_t crc = (uint32_t)crc32(0L, type, len + 4);
        if (crc != be32(b + pos + 8 + len))
            return cc_fail(CC_ERR_IO, "%s: corrupt PNG (CRC mismatch in chunk %.4s at byte %zu)",
                           name, (const char *)type, pos);
        if (!seen_ihdr) {
            if (memcmp(type, "IHDR", 4) != 0 || len != 13)
                return cc_fail(CC_ERR_INVALID, "%s: PNG does not start with a 13-byte IHDR", name);
            unsigned depth = b[pos + 16], ctype = b[pos + 17];
            *depth16 = depth == 16;
            switch (ctype) {
            case 0: *mode = depth == 1 ? IMG_P : IMG_L; break;
            case 2: *mode = IMG_RGB; break;
            case 3: *mode = IMG_P; break;
            case 4: *mode = IMG_LA; break;
            case 6: *mode = IMG_RGBA; break;
            default:
                return cc_fail(CC_ERR_INVALID, "%s: PNG colour type %u, expected 0, 2, 3, 4 or 6",
                               name, ctype);
            }
            seen_ihdr = 1;
        }
        if (memcmp(type, "IEND", 4) == 0)
            return CC_OK;
        pos += 12 + (size_t)len;
    }
}

/* Debian's stb_image reads a PNM header's numbers into an int with no
 * overflow check (undefined behaviour on "P6 99999999999 ..."; newer stb
 * refuses them), so the header is walked first the way stbi__pnm_info walks
 * it (whitespace, '#' comments, digits; a read past the end gives 0) and a
 * number above INT_MAX is refused here. */
static int pnm_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

static int check_pnm(const uint8_t *b, size_t n, const char *name)
{
    static const char *const what[] = {"width", "height", "maximum value"};
    size_t j = 2;
#define PNM_NEXT() (c = j < n ? (char)b[j++] : 0)
    char c;
    long long v3[3] = {0, 0, 0};
    PNM_NEXT();
    for (int field = 0; field < 3; field++) {
        for (;;) {
            while (j < n && pnm_space(c))
                PNM_NEXT();
            if (j >= n || c != '#')
                break;
            while (j < n && c != '\n' && c != '\r')
                PNM_NEXT();
        }
        long long v = 0;
        while (j < n && c >= '0' && c <= '9') {
            v = v * 10 + (c - '0');
            if (v > INT_MAX)
                return cc_fail(CC_ERR_INVALID, "%s: corrupt PNM header (%s has more than %d)",
                               name, what[field], INT_MAX);
            PNM_NEXT();
        }
        v3[field] = v;
    }
#undef PNM_NEXT
    /* stb does not check that the pixels are there: a 15-byte file would
     * decode as a 23652x5355 image of garbage. The pixels start after the
     * one character that ends the maximum value. */
    if (v3[0] * v3[1] > IMG_MAX_PIXELS)
        return CC_OK; /* refused by the pixel limit next */
    long long need = v3[0] * v3[1] * (b[1] == '6' ? 3 : 1) * (v3[2] > 255 ? 2 : 1);
    if ((long long)(n - j) < need)
        return cc_fail(CC_ERR_INVALID, "%s: truncated PNM (%lldx%lld needs %lld bytes of pixels, "
                       "%zu present)", name, v3[0], v3[1], need, n - j);
    return CC_OK;
}

int img_check_dims(long long w, long long h, const char *name)
{
    /* stb accepts some formats (BMP, TGA, PSD, GIF, PNM) with a zero width
     * or height; nothing downstream has a pixel to read from such an image. */
    if (w < 1 || h < 1)
        return cc_fail(CC_ERR_INVALID, "%s: image is %lldx%lld pixels, expected at least 1x1",
                       name, w, h);
    if (w > INT_MAX || h > INT_MAX || w * h > IMG_MAX_PIXELS)
        return cc_fail(CC_ERR_UNSUPPORTED, "%s: %lldx%lld pixels, at most %lld allowed "
                       "(decompression bomb limit)", name, w, h, IMG_MAX_PIXELS);
    return CC_OK;
}

static int starts(const uint8_t *b, size_t n, size_t at, const char *magic, size_t m)
{
    return n >= at + m && memcmp(b + at, magic, m) == 0;
}

/* Formats recognised by their signature that no decoder here reads: the
 * error names them instead of calling the file corrupt. */
static const char *unsupported_format(const uint8_t *b, size_t n)
{
    static const char *const heif[] = {"heic", "heix", "heim", "heis", "hevc", "mif1", "msf1"};
    if (starts(b, n, 0, "\0\0\0\x0cjP  \r\n\x87\n", 12) || starts(b, n, 0, "\xff\x4f\xff\x51", 4))
        return "JPEG 2000";
    if (starts(b, n, 0, "\xff\x0a", 2) || starts(b, n, 0, "\0\0\0\x0cJXL \r\n\x87\n", 12))
        return "JPEG XL";
    if (starts(b, n, 4, "ftypavi", 7))
        return "AVIF";
    for (size_t i = 0; i < sizeof heif / sizeof *heif; i++)
        if (starts(b, n, 4, "ftyp", 4) && starts(b, n, 8, heif[i], 4))
            return "HEIF/HEIC";
    if (starts(b, n, 0, "\0\0\1\0", 4) || starts(b, n, 0, "\0\0\2\0", 4))
        return "ICO/CUR";
    if (starts(b, n, 0, "%PDF", 4))
        return "PDF";
    if (starts(b, n, 0, "%!PS", 4) || starts(b, n, 0, "\xc5\xd0\xd3\xc6", 4))
        return "PostScript/EPS";
    if (starts(b, n, 0, "<svg", 4) || starts(b, n, 0, "<?xml", 5))
        return "SVG/XML";
    if (starts(b, n, 0, "#?RADIANCE", 10) || starts(b, n, 0, "#?RGBE", 6))
        return "Radiance HDR";
    if (starts(b, n, 0, "v/1\x01", 4))
        return "OpenEXR";
    if (starts(b, n, 0, "DDS ", 4))
        return "DDS";
    if (starts(b, n, 0, "qoif", 4))
        return "QOI";
    if (starts(b, n, 0, "icns", 4))
        return "ICNS";
    if (starts(b, n, 0, "RIFF", 4) && !starts(b, n, 8, "WEBP", 4))
        return "RIFF (not WebP)";
    if (starts(b, n, 0, "P1", 2) || starts(b, n, 0, "P2", 2) || starts(b, n, 0, "P3", 2) ||
        starts(b, n, 0, "P4", 2) || starts(b, n, 0, "P7", 2))
        return "PNM other than binary P5/P6";
    return NULL;
}

/* The stb formats with a signature, for naming a broken file. */
static const char *stb_format(const uint8_t *b, size_t n)
{
    if (starts(b, n, 0, "\x89PNG", 4))
        return "PNG";
    if (starts(b, n, 0, "BM", 2))
        return "BMP";
    if (starts(b, n, 0, "GIF8", 4))
        return "GIF";
    if (starts(b, n, 0, "8BPS", 4))
        return "PSD";
    if (starts(b, n, 0, "P5", 2) || starts(b, n, 0, "P6", 2))
        return "PNM";
    return NULL;
}

static int is_tiff(const uint8_t *b, size_t n)
{
    return starts(b, n, 0, "II*\0", 4) || starts(b, n, 0, "MM\0*", 4) ||
           starts(b, n, 0, "II+\0", 4) || starts(b, n, 0, "MM\0+", 4);
}

static int decode_stb(const uint8_t *buf, size_t len, const char *name, int is_png,
                      img_mode mode, img_u8 *out)
{
    int w, h, comp;
    if (!stbi_info_from_memory(buf, (int)len, &w, &h, &comp)) {
        const char *fmt = stb_format(buf, len);
        if (fmt)
            return cc_fail(CC_ERR_INVALID, "%s: not a decodable image (corrupt %s: %s)", name, fmt,
                           stbi_failure_reason());
        return cc_fail(CC_ERR_UNSUPPORTED, "%s: not a decodable image (unsupported image format: "
                       "not recognised; clipcl reads JPEG, PNG, WebP, TIFF, BMP, GIF, TGA, PSD "
                       "and binary PNM)", name);
    }
    int rc = img_check_dims(w, h, name);
    if (rc != CC_OK)
        return rc;
    if (!is_png) {
        static const img_mode by_comp[] = {IMG_L, IMG_L, IMG_LA, IMG_RGB, IMG_RGBA};
        mode = comp >= 1 && comp <= 4 ? by_comp[comp] : IMG_RGB;
        if (len >= 4 && memcmp(buf, "GIF8", 4) == 0)
            mode = IMG_P; /* PIL opens GIFs in palette mode: resized NEAREST */
    }
    int want = img_mode_channels(mode);
    int dw, dh, dc;
    uint8_t *px = stbi_load_from_memory(buf, (int)len, &dw, &dh, &dc, want);
    if (!px)
        return cc_fail(CC_ERR_INVALID, "%s: cannot decode image (%s)", name, stbi_failure_reason());
    if (dw != w || dh != h) { /* info and load read the same header; never trust one alone */
        stbi_image_free(px);
        return cc_fail(CC_ERR_INVALID, "%s: decoded %dx%d pixels, header said %dx%d", name, dw,
                       dh, w, h);
    }
    out->w = dw;
    out->h = dh;
    out->c = want;
    out->mode = mode;
    out->px = px; /* stb allocates with malloc (STBI_MALLOC default) */
    return CC_OK;
}

int img_decode(const uint8_t *buf, size_t len, const char *name, img_u8 *out)
{
    memset(out, 0, sizeof *out);
    if (!buf || len == 0)
        return cc_fail(CC_ERR_IO, "%s: empty image file", name);
    if ((long long)len > IMG_MAX_FILE_BYTES)
        return cc_fail(CC_ERR_UNSUPPORTED, "%s: image file of %zu bytes, at most %lld allowed",
                       name, len, IMG_MAX_FILE_BYTES);
    const char *unsup = unsupported_format(buf, len);
    if (unsup)
        return cc_fail(CC_ERR_UNSUPPORTED, "%s: unsupported image format (%s); clipcl reads JPEG, "
                       "PNG, WebP, TIFF, BMP, GIF, TGA, PSD and binary PNM", name, unsup);
    img_mode mode = IMG_RGB;
    int rc = CC_OK, is_png = 0, depth16 = 0;
    if (len >= 8 && memcmp(buf, "\x89PNG\r\n\x1a\n", 8) == 0) {
        is_png = 1;
        rc = check_png(buf, len, name, &mode, &depth16);
        if (rc == CC_OK && depth16 && mode == IMG_L)
            return img_decode_png16_grey(buf, len, name, out);
    } else if (buf[0] == 0xff) {
        /* Every file starting with 0xff is taken for a JPEG, as stb did:
         * the structure check (EOI present, sane Huffman tables) first,
         * then libjpeg-turbo, Pillow's decoder. */
        rc = jpeg_check(buf, len, name);
        return rc != CC_OK ? rc : img_decode_jpeg(buf, len, name, out);
    } else if (starts(buf, len, 0, "RIFF", 4) && starts(buf, len, 8, "WEBP", 4)) {
        return img_decode_webp(buf, len, name, out);
    } else if (is_tiff(buf, len)) {
        return img_decode_tiff(buf, len, name, out);
    } else if (len >= 2 && buf[0] == 'P' && (buf[1] == '5' || buf[1] == '6')) {
        rc = check_pnm(buf, len, name);
    }
    if (rc != CC_OK)
        return rc;
    return decode_stb(buf, len, name, is_png, mode, out);
}

int img_load(const char *path, img_u8 *out)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f)
        return cc_fail(CC_ERR_IO, "cannot open image %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        const char *why = io_not_regular(fileno(f));
        fclose(f);
        return cc_fail(CC_ERR_IO, "%s: %s (expected an image file)", path, why);
    }
    if ((long long)st.st_size > IMG_MAX_FILE_BYTES) { /* refused before it is read */
        fclose(f);
        return cc_fail(CC_ERR_UNSUPPORTED, "%s: image file of %lld bytes, at most %lld allowed",
                       path, (long long)st.st_size, IMG_MAX_FILE_BYTES);
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) {
        fclose(f);
        return cc_fail(CC_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, n);
    }
    size_t got = fread(buf, 1, n, f);
    fclose(f);
    int rc = got == n ? img_decode(buf, n, path, out)
                      : cc_fail(CC_ERR_IO, "%s: read %zu of %zu bytes", path, got, n);
    free(buf);
    return rc;
}

int img_to_rgb(const img_u8 *src, img_u8 *dst)
{
    int rc = img_alloc(dst, src->w, src->h, IMG_RGB);
    if (rc != CC_OK)
        return rc;
    size_t n = (size_t)src->w * (size_t)src->h;
    const uint8_t *s = src->px;
    uint8_t *d = dst->px;
    for (size_t i = 0; i < n; i++, d += 3, s += src->c) {
        if (src->mode == IMG_I32) {
            /* Pillow's i2rgb: clipped to 0..255 */
            int32_t v;
            memcpy(&v, s, sizeof v);
            d[0] = d[1] = d[2] = (uint8_t)(v <= 0 ? 0 : v >= 255 ? 255 : v);
        } else if (src->mode == IMG_CMYK) {
            /* Pillow's cmyk2rgb: (255 - k) - c * (255 - k) / 255, rounded */
            int nk = 255 - s[3];
            for (int c = 0; c < 3; c++) {
                int t = s[c] * nk + 128;
                int v = nk - (((t >> 8) + t) >> 8);
                d[c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        } else if (src->c <= 2) {
            d[0] = d[1] = d[2] = s[0];
        } else {
            d[0] = s[0];
            d[1] = s[1];
            d[2] = s[2];
        }
    }
    return CC_OK;
}
