/* 16-bit greyscale PNG as Pillow opens it: mode I (rawmode "I;16B"), every
 * sample kept as a 32-bit integer 0..65535. Pillow then resizes in 32 bits
 * and convert("RGB") clips to 0..255, so such an image comes out mostly
 * white: that is what open_clip feeds its model, and so what clipcl does.
 * (16-bit RGB and RGBA PNGs open as 8-bit RGB/RGBA from each sample's high
 * byte, which is what stb_image gives.) The chunk structure was checked by
 * img_decode; stb decodes the samples. */
#include <string.h>

#include <stb/stb_image.h>

#include "io/image_decoders.h"
#include "runtime/status.h"

int img_decode_png16_grey(const uint8_t *buf, size_t len, const char *name, img_u8 *out)
{
    memset(out, 0, sizeof *out);
    int w, h, comp;
    if (!stbi_info_from_memory(buf, (int)len, &w, &h, &comp))
        return cc_fail(CC_ERR_INVALID, "%s: not a decodable image (corrupt PNG: %s)", name,
                       stbi_failure_reason());
    int rc = img_check_dims(w, h, name);
    if (rc != CC_OK)
        return rc;
    int dw, dh, dc;
    stbi_us *px = stbi_load_16_from_memory(buf, (int)len, &dw, &dh, &dc, 1);
    if (!px)
        return cc_fail(CC_ERR_INVALID, "%s: cannot decode image (%s)", name, stbi_failure_reason());
    if (dw != w || dh != h)
        rc = cc_fail(CC_ERR_INVALID, "%s: decoded %dx%d pixels, header said %dx%d", name, dw, dh,
                     w, h);
    if (rc == CC_OK)
        rc = img_alloc(out, w, h, IMG_I32);
    if (rc == CC_OK) {
        size_t n = (size_t)w * (size_t)h;
        for (size_t i = 0; i < n; i++) {
            int32_t v = px[i];
            memcpy(out->px + i * 4, &v, sizeof v);
        }
    }
    stbi_image_free(px);
    return rc;
}
