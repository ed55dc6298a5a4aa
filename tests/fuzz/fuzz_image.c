/* Every image decoder path (stb_image, libjpeg-turbo, libwebp, libtiff
 * through io/image.c) into CLIP's
 * preprocessing: Resize + CenterCrop, convert("RGB"), Normalize
 * (io/preprocess.c), and the training augmentation's random-resized crop
 * (io/dataset_augment.c). */
#include <stdlib.h>

#include <stb/stb_image.h>
#include <webp/decode.h>

#include "io/dataset.h"
#include "io/image.h"
#include "io/jpeg_check.h"
#include "tests/fuzz/fuzz_util.h"

/* Small outputs and a pixel bound keep each input in milliseconds; the
 * decoders' own bounds are tested by the limits tests, not here. */
#define OUT_SIZE 24
#define MAX_PIXELS (1 << 18)

/* Frame size from a JPEG's first SOF marker (0 when none is found): the
 * decoders accept up to Pillow's limit, far too slow for a fuzzer. */
static int64_t jpeg_pixels(const uint8_t *b, size_t n)
{
    for (size_t i = 2; i + 8 < n; i++)
        if (b[i] == 0xff && b[i + 1] >= 0xc0 && b[i + 1] <= 0xcf && b[i + 1] != 0xc4 &&
            b[i + 1] != 0xc8 && b[i + 1] != 0xcc)
            return (int64_t)(b[i + 5] << 8 | b[i + 6]) * (b[i + 7] << 8 | b[i + 8]);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int w, h, comp;
    if (size > (1u << 20))
        return 0;
    /* stb is asked for the size only where img_decode's own guards would let
     * it read the header: not a PNM (stb's PNM header parser overflows; its
     * pixels must all be in the input, which -max_len bounds), not a JPEG
     * that io/jpeg_check.c refuses (stb's Huffman builder would index out of
     * bounds). */
    const int pnm = size >= 2 && data[0] == 'P' && (data[1] == '5' || data[1] == '6');
    const int bad_jpeg = size >= 1 && data[0] == 0xff && jpeg_check(data, size, "probe") != 0;
    if (!pnm && !bad_jpeg && stbi_info_from_memory(data, (int)size, &w, &h, &comp) &&
        (int64_t)w * h > MAX_PIXELS)
        return 0;
    if (size >= 1 && data[0] == 0xff && jpeg_pixels(data, size) > MAX_PIXELS)
        return 0;
    if (WebPGetInfo(data, size, &w, &h) && (int64_t)w * h > MAX_PIXELS)
        return 0;
    img_u8 im = {0};
    int rc = img_decode(data, size, "fuzz input", &im);
    fz_check_error(rc, "img_decode");
    if (rc)
        return 0;
    img_u8 rgb = {0};
    rc = img_clip_resize_crop(&im, OUT_SIZE, &rgb);
    fz_check_error(rc, "img_clip_resize_crop");
    static float out[3 * OUT_SIZE * OUT_SIZE];
    if (!rc)
        img_clip_normalize(&rgb, out);
    img_free(&rgb);
    rc = img_to_rgb(&im, &rgb);
    fz_check_error(rc, "img_to_rgb");
    img_free(&rgb);
    /* The training transform, seeded so each input always takes one crop. */
    ds_rrc r = {.enabled = 1, .scale_min = 0.08, .scale_max = 1.0, .ratio_min = 0.75,
                .ratio_max = 4.0 / 3.0};
    uint64_t rng = 0x9E3779B97F4A7C15ull ^ size;
    for (int k = 0; k < 2; k++)
        fz_check_error(ds_preprocess(&im, OUT_SIZE, &r, &rng, out), "ds_preprocess");
    r.enabled = 0;
    fz_check_error(ds_preprocess(&im, OUT_SIZE, &r, &rng, out), "ds_preprocess");
    img_free(&im);
    return 0;
}
