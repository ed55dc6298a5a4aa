/* The inputs of `clipcl embed-image/embed-text --data SET`, listed in a fixed
 * order before any is decoded, so a run and its resumption see the same
 * sequence (docs/bulk-embedding.md):
 *
 *   a folder        every image below it (jpg jpeg png bmp gif ppm pgm pnm
 *                   tga, any case; dot-files and dot-folders skipped), in
 *                   byte order of the relative path; a folder holding .tar
 *                   files at its top level is read as those shards instead
 *   X.tar, a brace or glob pattern (shard-{0000..0009}.tar, s-?.tar, several
 *                   joined by ::)   webdataset shards in the order
 *                   given (a glob's matches sorted), samples in tar order
 *   X.csv / X.tsv   the rows, image path column --csv-img-key (default
 *                   filepath), caption column --csv-caption-key (default
 *                   title; optional for images)
 *   X.txt           one image path (texts: one text) per line
 *
 * For texts, shards (a .tar, a pattern, a folder of .tar) give each sample's
 * .txt caption, keyed as the images of the same shards are. Folders of
 * images are refused.
 *
 * An input's path is the one it is opened with: relative paths inside a CSV
 * or list are joined to the folder holding it, a folder's images to the
 * folder as given (so a relative SET gives paths relative to the directory
 * the command runs in). The key is the path within the SET (as written in a
 * CSV or list, relative to the folder) without its extension, or the
 * webdataset key. */
#ifndef CLIPCL_TOOLS_EMBED_SET_H
#define CLIPCL_TOOLS_EMBED_SET_H

#include <stddef.h>
#include <stdint.h>

typedef struct bulk_input {
    char *path;     /* as opened and shown in the metadata (shards: NULL, see shard) */
    char *member;   /* tar member of the image; NULL for a plain file or a text */
    char *key;
    char *caption;  /* NULL when the SET has none */
    int32_t shard;  /* index into bulk_set.shards, -1 for a plain file */
    int64_t offset, size; /* tar: the member's data */
} bulk_input;

typedef struct bulk_set {
    bulk_input *v;
    int64_t n;
    int cap;
    char *base;        /* folder relative paths were joined to ("" = none) */
    char **shards;     /* tar shard paths as given after expansion */
    int n_shards;
    int64_t warnings;  /* structural problems warned about while listing */
    int texts;         /* listed for embed-text: webdataset samples by caption */
} bulk_set;

typedef struct bulk_set_opts {
    const char *img_key, *caption_key; /* CSV columns; NULL: filepath, title */
    int texts;                          /* list texts instead of images */
} bulk_set_opts;

/* Lists SET. Prints one "clipcl: warning: ..." line per skipped structure
 * (corrupt tar header, sample without an image); an unusable SET (missing,
 * unknown kind, no inputs, missing CSV column) fails with the message in
 * cc_last_error(). */
int bulk_set_open(const char *set, const bulk_set_opts *o, bulk_set *out);
void bulk_set_free(bulk_set *s);
/* The metadata path of input i (the shard for tar members). */
const char *bulk_input_path(const bulk_set *s, int64_t i);
/* The file to open for input i into buf (its path, or its shard). */
int bulk_input_open_path(const bulk_set *s, int64_t i, char *buf, size_t cap);

#endif
