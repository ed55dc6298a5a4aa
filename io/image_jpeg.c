/* JPEG through libjpeg-turbo, the library Pillow decodes with, set up as
 * Pillow's JpegDecode.c sets it: libjpeg's defaults (JDCT_ISLOW, fancy
 * upsampling, no scaling), output colour space from the frame's component
 * count, warnings ignored. Errors never exit: libjpeg's error_exit longjmps
 * back here and the message becomes a cc_fail line.
 *
 * io/jpeg_check.c runs first (img_decode): it refuses a file without EOI,
 * which libjpeg would pad with grey and call a warning, as Pillow refuses a
 * truncated JPEG. */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

#include "io/image_decoders.h"
#include "runtime/status.h"

typedef struct jpeg_err {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX];
} jpeg_err;

static void on_error(j_common_ptr ci)
{
    jpeg_err *e = (jpeg_err *)ci->err;
    (*ci->err->format_message)(ci, e->msg);
    longjmp(e->jump, 1);
}

/* libjpeg's default prints warnings on stderr; library code stays silent,
 * and Pillow ignores them too (corrupt-data warnings still decode). */
static void on_message(j_common_ptr ci, int level)
{
    (void)ci;
    (void)level;
}

/* Work that must survive the longjmp lives in this struct, not in locals. */
typedef struct jpeg_job {
    struct jpeg_decompress_struct ci;
    jpeg_err err;
    img_u8 im;
    int unsupported;
} jpeg_job;

static int decode(jpeg_job *j, const uint8_t *buf, size_t len, const char *name)
{
    jpeg_create_decompress(&j->ci);
    jpeg_mem_src(&j->ci, buf, (unsigned long)len);
    jpeg_read_header(&j->ci, TRUE);
    img_mode mode;
    switch (j->ci.num_components) {
    case 1:
        mode = IMG_L;
        j->ci.out_color_space = JCS_GRAYSCALE;
        break;
    case 3:
        mode = IMG_RGB;
        j->ci.out_color_space = JCS_RGB;
        break;
    case 4:
        mode = IMG_CMYK;
        j->ci.out_color_space = JCS_CMYK; /* libjpeg converts YCCK itself */
        break;
    default:
        j->unsupported = 1;
        snprintf(j->err.msg, sizeof j->err.msg, "%d colour components, Pillow reads 1, 3 or 4",
                 j->ci.num_components);
        return CC_ERR_UNSUPPORTED;
    }
    int rc = img_check_dims(j->ci.image_width, j->ci.image_height, name);
    if (rc != CC_OK)
        return rc;
    jpeg_start_decompress(&j->ci);
    if ((int)j->ci.output_components != img_mode_channels(mode)) {
        snprintf(j->err.msg, sizeof j->err.msg, "libjpeg gave %d components for %d",
                 j->ci.output_components, img_mode_channels(mode));
        return CC_ERR_INVALID;
    }
    rc = img_alloc(&j->im, (int)j->ci.output_width, (int)j->ci.output_height, mode);
    if (rc != CC_OK)
        return rc;
    size_t row = (size_t)j->im.w * (size_t)j->im.c;
    while (j->ci.output_scanline < j->ci.output_height) {
        JSAMPROW r = j->im.px + (size_t)j->ci.output_scanline * row;
        if (jpeg_read_scanlines(&j->ci, &r, 1) != 1) {
            snprintf(j->err.msg, sizeof j->err.msg, "no data for row %u",
                     j->ci.output_scanline);
            return CC_ERR_IO;
        }
    }
    jpeg_finish_decompress(&j->ci);
    if (mode == IMG_CMYK) {
        /* Pillow's rawmode "CMYK;I" (Adobe's convention): stored inverted */
        size_t n = row * (size_t)j->im.h;
        for (size_t i = 0; i < n; i++)
            j->im.px[i] = (uint8_t)(255 - j->im.px[i]);
    }
    return CC_OK;
}

int img_decode_jpeg(const uint8_t *buf, size_t len, const char *name, img_u8 *out)
{
    memset(out, 0, sizeof *out);
    jpeg_job *j = calloc(1, sizeof *j);
    if (!j)
        return cc_fail(CC_ERR_NOMEM, "%s: out of memory for the JPEG decoder", name);
    j->ci.err = jpeg_std_error(&j->err.pub);
    j->err.pub.error_exit = on_error;
    j->err.pub.emit_message = on_message;
    int rc;
    if (setjmp(j->err.jump) == 0) {
        rc = decode(j, buf, len, name);
        if (rc != CC_OK && j->err.msg[0])
            rc = cc_fail(rc, "%s: %s JPEG (%s)", name,
                         j->unsupported ? "unsupported" : "cannot decode", j->err.msg);
    } else {
        /* libjpeg names unsupported features (12-bit samples, odd sampling
         * factors) with "Unsupported"; everything else is a broken file. */
        int unsup = strstr(j->err.msg, "nsupported") != NULL;
        rc = cc_fail(unsup ? CC_ERR_UNSUPPORTED : CC_ERR_INVALID, "%s: %s JPEG (libjpeg: %s)",
                     name, unsup ? "unsupported" : "corrupt", j->err.msg);
    }
    jpeg_destroy_decompress(&j->ci);
    if (rc == CC_OK)
        *out = j->im;
    else
        img_free(&j->im);
    free(j);
    return rc;
}
