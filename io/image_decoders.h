/* Decoders behind img_decode (io/image.c) for the formats stb_image does not
 * read the way Pillow does: each one produces the mode and pixels Pillow's
 * Image.open + load would, or a cc_fail naming the file. Internal to io/. */
#ifndef CLIPCL_IO_IMAGE_DECODERS_H
#define CLIPCL_IO_IMAGE_DECODERS_H

#include <stddef.h>
#include <stdint.h>

#include "io/image.h"

/* libjpeg-turbo with Pillow's settings (islow IDCT, fancy upsampling):
 * grey -> IMG_L, YCbCr/RGB -> IMG_RGB, CMYK/YCCK -> IMG_CMYK (Adobe's
 * inverted convention, as Pillow's "CMYK;I"). */
int img_decode_jpeg(const uint8_t *buf, size_t len, const char *name, img_u8 *out);
/* libwebp's animation decoder, first frame, as Pillow: IMG_RGB without
 * alpha, IMG_RGBA with. */
int img_decode_webp(const uint8_t *buf, size_t len, const char *name, img_u8 *out);
/* libtiff, first page: 8-bit grey, grey+alpha, RGB, RGBA; palette, bilevel
 * and the other photometrics through libtiff's RGBA interface. */
int img_decode_tiff(const uint8_t *buf, size_t len, const char *name, img_u8 *out);

/* A 16-bit greyscale PNG as Pillow's mode I (IMG_I32). */
int img_decode_png16_grey(const uint8_t *buf, size_t len, const char *name, img_u8 *out);

/* The pixel limit check shared by every decoder (Pillow's bomb limit). */
int img_check_dims(long long w, long long h, const char *name);

#endif
