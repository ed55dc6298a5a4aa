/* Image-caption datasets for training and evaluation (ds_ prefix).
 *
 * A dataset is an indexed list of samples opened from a CSV/TSV (image path +
 * caption), from webdataset .tar shards (key.jpg|png + key.txt), or from the
 * procedural generator (io/synth.h) without touching the disk. Captions are
 * read at open time; images are decoded on demand, so any sample can be loaded
 * from any thread in any order (that is what makes a seeded shuffle over tar
 * shards possible: members are read by offset).
 *
 * A loader (ds_loader_*) walks a dataset epoch by epoch in a seeded shuffled
 * order and hands out batches of preprocessed pixels (float32 B x 3 x S x S,
 * CLIP normalisation, io/image.h) + captions. Decoding and preprocessing run
 * on a small pthread pool that fills a bounded queue ahead of the consumer, so
 * the device can compute meanwhile.
 *
 * Unreadable samples (missing file, undecodable image, corrupt tar member,
 * malformed CSV row) are counted and skipped, never fatal: each one produces
 * exactly one warning line through the ds_warn_fn given in the options, always
 * called on the caller's thread (at open time, or inside ds_loader_next). */
#ifndef CLIPCL_IO_DATASET_H
#define CLIPCL_IO_DATASET_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "io/image.h"

/* Longest caption kept, in bytes (CSV/TSV field or tar .txt member); a longer
 * one skips its sample with a warning. CLIP's text context is 77 tokens, a
 * few hundred bytes; LAION's longest alt-texts are a few KB. 1 MiB bounds the
 * memory a hostile caption can take while no real one comes near it. */
#define DS_MAX_CAPTION_BYTES (1 << 20)

/* One warning line (no trailing newline) about a skipped sample or row. */
typedef void (*ds_warn_fn)(void *user, const char *msg);

typedef struct ds_open_opts {
    /* CSV/TSV: column names of the image path and the caption (open_clip's
     * --csv-img-key / --csv-caption-key; defaults "filepath" and "title"). */
    const char *img_key;
    const char *caption_key;
    /* Field separator; 0 = by extension (.tsv/.tab -> tab, otherwise ','). */
    char separator;
    ds_warn_fn warn; /* may be NULL: the counters still count */
    void *warn_user;
} ds_open_opts;

typedef struct ds_dataset ds_dataset;

/* The CSV's first row names the columns. Fields may be double-quoted ("" is a
 * quote; separators and newlines inside quotes are data); CRLF and a UTF-8
 * BOM are accepted. Relative image paths are resolved against the folder that
 * holds the CSV. A row without one of the two columns, or with an empty image
 * path, is skipped with a warning; a missing header column is an error. */
int ds_open_csv(ds_dataset **out, const char *path, const ds_open_opts *opts);

/* Shards: each entry a path or a brace pattern (shard-{000..009}.tar,
 * {a,b}.tar; several braces allowed), or several such joined by "::" as in
 * open_clip. Members are grouped into samples by key (the member path up to
 * the first dot of its file name, as webdataset does, consecutive members
 * sharing a key form one sample); a sample needs an image (jpg, jpeg, png,
 * bmp, gif, ppm, pgm, tga) and a txt caption. Headers are checked (checksum,
 * octal/base-256 sizes, pax and GNU long names); after a corrupt header the
 * reader resynchronises on the next valid header, warning once. A missing
 * shard is an error; a sample lacking its image or caption is a warning. */
int ds_open_tar(ds_dataset **out, const char *const *shards, int n_shards,
                const ds_open_opts *opts);

/* The procedural set of io/synth.h: split = SYNTH_TRAIN / SYNTH_HELDOUT_SEEN /
 * SYNTH_HELDOUT_UNSEEN, n samples drawn at size x size from seed. */
int ds_open_synth(ds_dataset **out, int split, int64_t n, int size, uint64_t seed);

void ds_close(ds_dataset *ds);

int64_t ds_count(const ds_dataset *ds);
/* Sample i's caption (valid until ds_close). */
const char *ds_caption(const ds_dataset *ds, int64_t i);
/* Image path (CSV), "shard.tar:key" (tar) or "synth:split:i", for messages. */
const char *ds_name(const ds_dataset *ds, int64_t i);
/* Decodes sample i's image; thread-safe. Errors name the sample. */
int ds_load_image(const ds_dataset *ds, int64_t i, img_u8 *out);
/* Rows/members skipped while opening (each was warned about). */
int64_t ds_open_skipped(const ds_dataset *ds);

/* ---- augmentation and preprocessing of one image ---- */

typedef struct ds_rrc {
    int enabled;
    double scale_min, scale_max; /* fraction of the area; open_clip: 0.9, 1.0 */
    double ratio_min, ratio_max; /* aspect w/h; torchvision: 3/4, 4/3 */
} ds_rrc;

/* torchvision RandomResizedCrop.get_params with draws from rng_state: the
 * crop (x, y, w, h) inside a w x h image, including its central fallback. */
void ds_rrc_params(const ds_rrc *r, int w, int h, uint64_t *rng_state, int *cx, int *cy, int *cw,
                   int *ch);
/* Without augmentation: CLIP's Resize + CenterCrop (img_clip_resize_crop).
 * With it: crop by ds_rrc_params then resize to size x size (BICUBIC, as
 * open_clip's training transform), convert to RGB. Then ToTensor+Normalize
 * into out (3 * size * size floats). */
int ds_preprocess(const img_u8 *im, int size, const ds_rrc *r, uint64_t *rng_state, float *out);

/* ---- loader ---- */

typedef struct ds_loader_opts {
    int batch;         /* samples per batch (required, >= 1) */
    int size;          /* output resolution S (required) */
    uint64_t seed;     /* shuffle and augmentation seed */
    int no_shuffle;    /* 1: dataset order every epoch */
    int workers;       /* decoding threads; 0 -> 2; -1 -> decode inline */
    int queue;         /* samples decoded ahead; 0 -> 4 * batch */
    int drop_last;     /* 1: drop each epoch's final partial batch */
    ds_rrc rrc;        /* augmentation (off when rrc.enabled == 0) */
    /* parts > 1: read only part `part` of every global batch of
     * parts * batch samples (data-parallel training; io/dataset_loader.c);
     * 0 or 1: everything. */
    int part, parts;
    ds_warn_fn warn;   /* one line per skipped sample; may be NULL */
    void *warn_user;
} ds_loader_opts;

typedef struct ds_batch {
    int cap, size;     /* capacity (samples) and S */
    int n;             /* samples filled by the last ds_loader_next */
    int64_t epoch;     /* epoch these samples belong to */
    float *pixels;     /* cap x 3 x S x S */
    char **captions;   /* n captions, owned by the batch */
    int64_t *index;    /* dataset index of each sample */
} ds_batch;

int ds_batch_init(ds_batch *b, int cap, int size);
void ds_batch_free(ds_batch *b);

typedef struct ds_loader ds_loader;

/* The loader keeps a pointer to ds, which must outlive it. */
int ds_loader_open(ds_loader **out, const ds_dataset *ds, const ds_loader_opts *opts);
/* Fills b with the next batch of the current epoch, skipping unreadable
 * samples (so a batch is full unless it is the epoch's last). Sets *got to
 * 1 when b holds a batch, 0 at the end of the epoch; the following call
 * begins the next epoch. Order: a Fisher-Yates shuffle seeded by (seed,
 * epoch), independent of thread timing. Fails (CC_ERR_IO) only when a whole
 * epoch yielded no readable sample. */
int ds_loader_next(ds_loader *l, ds_batch *b, int *got);
/* Samples skipped as unreadable so far (each warned once per epoch). */
int64_t ds_loader_skipped(const ds_loader *l);
void ds_loader_close(ds_loader *l);

/* ---- internals shared by io/dataset*.c and io/tar*.c ---- */

/* One regular file inside a tar: full path (pax/GNU long names applied),
 * offset of its data in the archive, size. */
typedef struct ds_tar_member {
    const char *path;
    int64_t offset, size;
} ds_tar_member;
/* Called per regular member; return non-zero to stop (that value is returned). */
typedef int (*ds_tar_fn)(void *user, const ds_tar_member *m);
/* Walks a tar file's headers (seeking over data). Corrupt headers: warned
 * (counted in *bad) and skipped by resynchronising. A truncated archive ends
 * the walk with a warning. Fails only if the file cannot be opened/read. */
int ds_tar_scan(const char *path, ds_tar_fn fn, void *user, ds_warn_fn warn, void *warn_user,
                int64_t *bad);
/* Expands {a..b} (zero-padded when a bound is) and {x,y} patterns, and splits
 * on "::". *out is a malloc'd array of malloc'd strings. */
int ds_brace_expand(const char *pattern, char ***out, int *n);
void ds_strings_free(char **s, int n);

/* The dataset object itself (io/dataset.c); the openers fill it. */
enum { DS_KIND_CSV = 0, DS_KIND_TAR = 1, DS_KIND_SYNTH = 2 };
typedef struct ds_item {
    char *caption, *name;  /* owned */
    int32_t shard;         /* tar: index into shards */
    int64_t offset, size;  /* tar: image member's data */
} ds_item;
struct ds_dataset {
    int kind;
    int64_t n, cap;
    ds_item *items;
    char **shards;
    int n_shards;
    int64_t open_skipped;
    int synth_split, synth_size;
    uint64_t synth_seed;
    ds_warn_fn warn;
    void *warn_user;
};
ds_dataset *ds_new(int kind, const ds_open_opts *opts);
/* Appends a sample, taking ownership of caption and name (freed on failure). */
int ds_push(ds_dataset *ds, char *caption, char *name, int32_t shard, int64_t offset, int64_t size);
/* Formats one warning line and hands it to warn (nothing when warn is NULL). */
void ds_vwarn(ds_warn_fn warn, void *user, const char *fmt, va_list ap);
/* Counts a skipped row/member and warns once. */
void ds_open_warn(ds_dataset *ds, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
char *ds_strdup(const char *s);

#endif
