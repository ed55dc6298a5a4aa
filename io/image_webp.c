/* WebP through libwebp's animation decoder, first frame: the path Pillow's
 * _webp module takes for every WebP, still or animated. Pillow asks for
 * MODE_RGBA and opens the image as RGB when the file has no alpha (its
 * "RGBX" rawmode drops the fourth byte), as RGBA when it has. libwebp's
 * default settings (fancy upsampling of lossy chroma) are Pillow's too. */
#include <stdlib.h>
#include <string.h>

#include <webp/decode.h>
#include <webp/demux.h>

#include "io/image_decoders.h"
#include "runtime/status.h"

int img_decode_webp(const uint8_t *buf, size_t len, const char *name, img_u8 *out)
{
    memset(out, 0, sizeof *out);
    WebPBitstreamFeatures f;
    VP8StatusCode st = WebPGetFeatures(buf, len, &f);
    if (st == VP8_STATUS_UNSUPPORTED_FEATURE)
        return cc_fail(CC_ERR_UNSUPPORTED, "%s: unsupported WebP feature (libwebp status %d)",
                       name, (int)st);
    if (st != VP8_STATUS_OK)
        return cc_fail(st == VP8_STATUS_NOT_ENOUGH_DATA ? CC_ERR_IO : CC_ERR_INVALID,
                       "%s: %s WebP (libwebp status %d)", name,
                       st == VP8_STATUS_NOT_ENOUGH_DATA ? "truncated" : "corrupt", (int)st);
    int rc = img_check_dims(f.width, f.height, name);
    if (rc != CC_OK)
        return rc;
    WebPAnimDecoderOptions o;
    if (!WebPAnimDecoderOptionsInit(&o))
        return cc_fail(CC_ERR_UNSUPPORTED, "%s: libwebp version mismatch", name);
    o.color_mode = MODE_RGBA;
    o.use_threads = 0;
    WebPData data = {buf, len};
    WebPAnimDecoder *dec = WebPAnimDecoderNew(&data, &o);
    if (!dec)
        return cc_fail(CC_ERR_INVALID, "%s: corrupt WebP (libwebp cannot parse its chunks)", name);
    WebPAnimInfo info;
    uint8_t *frame = NULL;
    int ts = 0;
    if (!WebPAnimDecoderGetInfo(dec, &info) || !WebPAnimDecoderGetNext(dec, &frame, &ts)) {
        WebPAnimDecoderDelete(dec);
        return cc_fail(CC_ERR_INVALID, "%s: corrupt WebP (libwebp cannot decode its first frame)",
                       name);
    }
    if ((rc = img_check_dims(info.canvas_width, info.canvas_height, name)) == CC_OK)
        rc = img_alloc(out, (int)info.canvas_width, (int)info.canvas_height,
                       f.has_alpha ? IMG_RGBA : IMG_RGB);
    if (rc == CC_OK) {
        size_t n = (size_t)out->w * (size_t)out->h;
        if (out->c == 4)
            memcpy(out->px, frame, n * 4);
        else
            for (size_t i = 0; i < n; i++)
                memcpy(out->px + i * 3, frame + i * 4, 3);
    }
    WebPAnimDecoderDelete(dec);
    return rc;
}
