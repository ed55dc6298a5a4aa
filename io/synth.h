/* The procedural image-caption set (`clipcl synth`): one shape per image,
 * shape x colour x size x position on a varied background (two-colour
 * gradients, pixel noise, smooth value noise), captions from several
 * phrasings. Everything about sample i of a split is a pure function of
 * (seed, split, i), so samples can be drawn in any order on any thread and
 * the same seed gives the same bytes.
 *
 * Zero-shot generalisation split: SYNTH_HELDOUT_PAIRS (shape, colour) pairs,
 * one per shape and one per colour, never occur in SYNTH_TRAIN (neither image
 * nor caption); SYNTH_HELDOUT_SEEN draws fresh images of the training pairs,
 * SYNTH_HELDOUT_UNSEEN images of the held-out pairs only. */
#ifndef CLIPCL_IO_SYNTH_H
#define CLIPCL_IO_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#include "io/image.h"

enum { SYNTH_TRAIN = 0, SYNTH_HELDOUT_SEEN = 1, SYNTH_HELDOUT_UNSEEN = 2 };

#define SYNTH_N_SHAPES 8
#define SYNTH_N_COLOURS 8
#define SYNTH_N_SIZES 3
#define SYNTH_N_POSITIONS 9
#define SYNTH_N_HELDOUT_PAIRS 8

extern const char *const synth_shape_names[SYNTH_N_SHAPES];
extern const char *const synth_colour_names[SYNTH_N_COLOURS];
extern const char *const synth_size_names[SYNTH_N_SIZES];
extern const char *const synth_position_names[SYNTH_N_POSITIONS];
extern const char *const synth_split_names[3]; /* "train", "heldout_seen", ... */
/* {shape, colour} indices of the held-out pairs. */
extern const int synth_heldout_pairs[SYNTH_N_HELDOUT_PAIRS][2];

typedef struct synth_attrs {
    int shape, colour, size, position, phrasing;
    uint64_t render_seed; /* background, jitter, rotation */
} synth_attrs;

int synth_is_heldout(int shape, int colour);
/* Class ids for zero-shot labels: shape, and shape * N_COLOURS + colour. */
static inline int synth_pair_id(int shape, int colour) { return shape * SYNTH_N_COLOURS + colour; }

/* Sample i of a split (split out of range -> everything zero). */
void synth_sample(uint64_t seed, int split, int64_t i, synth_attrs *a);
/* Its caption into buf (always NUL-terminated); returns the length. */
int synth_caption(const synth_attrs *a, char *buf, size_t cap);
/* Draws the image at size x size, RGB (IMG_RGB). */
int synth_render(const synth_attrs *a, int size, img_u8 *out);

/* Encodes RGB pixels as PNG (stb_image_write, deterministic bytes) and writes
 * it atomically. */
int synth_write_png(const char *path, const img_u8 *im);

typedef struct synth_write_opts {
    const char *out_dir;
    int64_t n;          /* training images */
    int64_t n_heldout;  /* images in each held-out split when holdout */
    int size;
    uint64_t seed;
    int holdout;
    /* progress: called after each image with (done, total); may be NULL */
    void (*progress)(void *user, int64_t done, int64_t total);
    void *progress_user;
} synth_write_opts;

/* PNG bytes of an image (malloc'd into *out), as synth_write_png writes them. */
int synth_encode_png(const img_u8 *im, uint8_t **out, size_t *len);

/* The training split as OUT/shards/shard-000000.tar, ...: each sample KEY.png
 * (the bytes synth_write_png would write) + KEY.txt (the caption), KEY the
 * 7-digit index as in the PNG layout, shard_size samples per shard, members
 * in order; ustar headers with fixed owner and time, so the same seed gives
 * the same bytes. Each shard is written atomically. Advances *done. */
int synth_write_wds(const synth_write_opts *o, int64_t shard_size, int64_t *done, int64_t total);
/* synth_write_dataset with the training split written by synth_write_wds
 * (shard_size samples per shard; 0 -> 10000) instead of PNGs + train.csv. */
int synth_write_dataset_wds(const synth_write_opts *o, int64_t shard_size);

/* Writes OUT/<split>/NNNNNNN.png, OUT/<split>.csv (filepath,title,shape,
 * colour,size,position,class_shape,class_pair; filepath relative to OUT),
 * OUT/classes_shape.txt, OUT/classes_pair.txt and OUT/heldout_pairs.txt;
 * every file atomically. */
int synth_write_dataset(const synth_write_opts *o);

#endif
