/* Decoding and preprocessing the images of a bulk_set on host threads, handed
 * out strictly in input order whatever the thread timing.
 *
 * Workers claim inputs begin, begin+1, ... and decode each into its slot of a
 * ring of `queue` preprocessed images (the model's preprocessing at its
 * resolution, exactly as clipcl_encode_image_files does it); a worker waits while
 * the ring is full. The consumer (the thread driving the device) takes the
 * inputs back in order, so decoding of the next batches runs while the device
 * computes the current one. */
#ifndef CLIPCL_TOOLS_EMBED_DECODE_H
#define CLIPCL_TOOLS_EMBED_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "clipcl.h"
#include "tools/embed_set.h"

typedef struct bulk_decoder bulk_decoder;

/* workers >= 1 threads; queue >= workers images decoded ahead. The set and
 * the model (only its preprocessing is used, thread-safe) must outlive the
 * decoder. */
int bulk_decoder_open(bulk_decoder **out, const bulk_set *set, int64_t begin, int64_t end,
                      const clipcl_model *model, int workers, int queue);
/* The next input in order: *ok = 1 and its 3 x R x R floats in pixels,
 * or *ok = 0 and the one-line reason in err (the input could not be read or
 * decoded). Returns CC_OK, or an error when out of inputs. */
int bulk_decoder_next(bulk_decoder *d, float *pixels, int *ok, char *err, size_t err_cap);
/* Stops the workers (waiting for the ones mid-image) and frees everything. */
void bulk_decoder_close(bulk_decoder *d);

/* Decodes input i of set into pixels (the work one worker does). */
int bulk_decode_one(const bulk_set *set, int64_t i, const clipcl_model *model, float *pixels);

#endif
