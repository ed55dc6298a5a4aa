/* Image decoding with stb_image, container checks stb does not do, and PIL's
 * mode model (which mode PIL would open the file in). */
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
#include "io/jpeg_check.h"
#include "runtime/status.h"

int img_mode_channels(img_mode m)
{
    static const int ch[] = {1, 2, 3, 4, 3};
    return (unsigned)m <= IMG_P ? ch[m] : 0;
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
static int check_png(const uint8_t *b, size_t n, const char *name, img_mode *mode)
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

int img_decode(const uint8_t *buf, size_t len, const char *name, img_u8 *out)
{
    memset(out, 0, sizeof *out);
    if (!buf || len == 0)
        return cc_fail(CC_ERR_IO, "%s: empty image file", name);
    if ((long long)len > IMG_MAX_FILE_BYTES)
        return cc_fail(CC_ERR_UNSUPPORTED, "%s: image file of %zu bytes, at most %lld allowed",
                       name, len, IMG_MAX_FILE_BYTES);
    img_mode mode;
    int rc = CC_OK, is_png = 0;
    if (len >= 8 && memcmp(buf, "\x89PNG\r\n\x1a\n", 8) == 0) {
        is_png = 1;
        rc = check_png(buf, len, name, &mode);
    } else if (buf[0] == 0xff) {
        /* stb tries every file starting with 0xff (after fill bytes, SOI) as a JPEG */
        rc = jpeg_check(buf, len, name);
    } else if (len >= 2 && buf[0] == 'P' && (buf[1] == '5' || buf[1] == '6')) {
        rc = check_pnm(buf, len, name);
    }
    if (rc != CC_OK)
        return rc;
    int w, h, comp;
    if (!stbi_info_from_memory(buf, (int)len, &w, &h, &comp))
        return cc_fail(CC_ERR_INVALID, "%s: not a decodable image (%s)", name, stbi_failure_reason());
    /* stb accepts some formats (BMP, TGA, PSD, GIF, PNM) with a zero width
     * or height; nothing downstream has a pixel to read from such an image. */
    if (w < 1 || h < 1)
        return cc_fail(CC_ERR_INVALID, "%s: image is %dx%d pixels, expected at least 1x1", name,
                       w, h);
    if ((long long)w * h > IMG_MAX_PIXELS)
        return cc_fail(CC_ERR_UNSUPPORTED, "%s: %dx%d pixels, at most %lld allowed (decompression "
                       "bomb limit)", name, w, h, IMG_MAX_PIXELS);
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
        if (src->c <= 2) {
            d[0] = d[1] = d[2] = s[0];
        } else {
            d[0] = s[0];
            d[1] = s[1];
            d[2] = s[2];
        }
    }
    return CC_OK;
}
