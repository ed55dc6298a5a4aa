/* Image decoding (stb_image) and CLIP preprocessing that reproduces the
 * reference pipeline byte for byte: torchvision Resize(S, BICUBIC) on a PIL
 * image, CenterCrop(S), convert("RGB"), ToTensor, Normalize (OpenAI mean/std).
 *
 * Images keep the mode PIL would open them in, because PIL resizes modes
 * differently: palette and 1-bit images with NEAREST whatever the filter,
 * RGBA/LA in premultiplied alpha; conversion to RGB happens after the crop,
 * as in OpenAI's _transform. Pixels are interleaved HWC uint8. */
#ifndef CLIPCL_IO_IMAGE_H
#define CLIPCL_IO_IMAGE_H

#include <stddef.h>
#include <stdint.h>

typedef enum img_mode {
    IMG_L = 0,    /* grey, 1 channel */
    IMG_LA = 1,   /* grey + alpha, 2 channels */
    IMG_RGB = 2,  /* 3 channels */
    IMG_RGBA = 3, /* 4 channels */
    IMG_P = 4,    /* palette or 1-bit: already expanded to 3 channels (RGB) */
    IMG_CMYK = 5, /* 4 channels, no alpha: resized as they are, then converted */
    IMG_I32 = 6,  /* Pillow's mode I (16-bit grey PNGs): one native int32 per
                   * pixel, c = 4 bytes; resized in 32-bit, clipped to 0..255
                   * by the conversion to RGB */
} img_mode;

/* Pillow's resampling filters that CLIP preprocessing configs name. */
typedef enum img_filter {
    IMG_FILTER_BICUBIC = 0,
    IMG_FILTER_BILINEAR = 1,
} img_filter;

typedef struct img_u8 {
    int w, h, c;
    img_mode mode;
    uint8_t *px;  /* h * w * c bytes, row-major HWC */
} img_u8;

/* Pillow's decompression-bomb limit: Image.open raises DecompressionBombError
 * above 2 * MAX_IMAGE_PIXELS = 2 * (1024 * 1024 * 1024 // 4 // 3) pixels, so
 * any image open_clip could train on fits. Checked from the header
 * (stbi_info_from_memory) before a byte of pixels is allocated: at 4 channels
 * the largest accepted image takes 716 MB. */
#define IMG_MAX_PIXELS 178956970LL
/* Largest image file read into memory (and largest tar image member): the
 * biggest uncompressed file at the pixel limit, a 4-channel TGA or BMP, is
 * 716 MB; 1 GiB holds it with its headers, and stays below stb_image's int
 * length. */
#define IMG_MAX_FILE_BYTES (1LL << 30)

extern const float IMG_CLIP_MEAN[3];
extern const float IMG_CLIP_STD[3];

/* Decodes an image file the way Pillow's Image.open would (docs/io.md,
 * "Image decoders"): JPEG through libjpeg-turbo, WebP through libwebp, TIFF
 * (first page) through libtiff, 16-bit greyscale PNG as Pillow's mode I;
 * PNG, BMP, GIF (first frame), TGA, PSD and PNM through stb_image. A broken
 * file is an error saying "corrupt" or "truncated"; a format clipcl does not
 * read (JPEG 2000, HEIF/AVIF, JPEG XL, ICO, ...) an error saying
 * "unsupported image format" and naming it when it is recognised. */
int img_load(const char *path, img_u8 *out);
/* Same from memory; name is used in error messages. */
int img_decode(const uint8_t *buf, size_t len, const char *name, img_u8 *out);
void img_free(img_u8 *im);
int img_alloc(img_u8 *im, int w, int h, img_mode mode);
int img_mode_channels(img_mode m);

/* PIL convert("RGB"): grey replicated, alpha dropped (not composited),
 * CMYK as Pillow's cmyk2rgb. */
int img_to_rgb(const img_u8 *src, img_u8 *dst);

/* PIL Image.resize((ow, oh), BICUBIC) (NEAREST for IMG_P), but only the
 * window [x0, x0+cw) x [y0, y0+ch) of the result is produced. Same mode out. */
int img_resize_window(const img_u8 *src, int ow, int oh, int x0, int y0, int cw, int ch,
                      img_u8 *dst);
int img_resize(const img_u8 *src, int ow, int oh, img_u8 *dst);
/* Same with the filter named (BICUBIC is img_resize_window). */
int img_resize_window_filter(const img_u8 *src, img_filter f, int ow, int oh, int x0, int y0,
                             int cw, int ch, img_u8 *dst);

/* torchvision Resize(size) output dimensions: short side = size, long side
 * int(size * long / short). */
void img_resize_dims(int w, int h, int size, int *ow, int *oh);
/* Resize(size) + CenterCrop(size) + convert("RGB"): size x size x 3 uint8. */
int img_clip_resize_crop(const img_u8 *src, int size, img_u8 *rgb);
/* ToTensor + Normalize: rgb (S x S x 3) -> out[3][S][S] float32. */
void img_clip_normalize(const img_u8 *rgb, float *out_chw);
/* The whole pipeline for one file into out (3 * size * size floats). */
int img_clip_preprocess_file(const char *path, int size, float *out_chw);

#endif
