/* Structural validation of a JPEG's marker segments, run before libjpeg-turbo
 * (io/image_jpeg.c) decodes untrusted data: it refuses a cut file that
 * libjpeg would pad with grey and only warn about (see jpeg_check.c; written
 * for stb_image, which checked even less). */
#ifndef CLIPCL_IO_JPEG_CHECK_H
#define CLIPCL_IO_JPEG_CHECK_H

#include <stddef.h>
#include <stdint.h>

/* A Huffman table assigns a code to each of at most 256 symbols (one byte
 * each, ITU T.81 B.2.4.2); stb's table arrays are sized for that many. */
#define JPEG_MAX_HUFF_CODES 256

/* b[0, n) starts with 0xff (stb's JPEG test): requires SOI, every marker
 * segment inside the file, every DHT table declaring at most
 * JPEG_MAX_HUFF_CODES codes that fit its segment, at least one scan and an
 * EOI. Returns CC_OK or a cc_fail code with one line naming `name`. */
int jpeg_check(const uint8_t *b, size_t n, const char *name);

#endif
