/* Reading an embedding folder as `clipcl search` needs it (embidx_ prefix),
 * on top of the one reader of io/emb_shards.h.
 *
 * The layout (written by `clipcl embed-image --data`/`embed-text --data`,
 * docs/search.md): DIR/img_emb_0000.npy, img_emb_0001.npy, ... float32
 * rows x D, C order, each with DIR/metadata_0000.csv, ... (RFC 4180, header
 * key,path,member,caption, one line per row); texts as text_emb_NNNN.npy +
 * text_metadata_NNNN.csv; DIR/manifest.json, when there is one, names the
 * kind, the model and the dimension. The shards are found by file name, not
 * from the manifest, so a folder written by hand or by an interrupted run
 * is searched over the shards it has. A row's global number is its index in
 * the concatenation of the shards in shard-number order.
 *
 * Opening checks each .npy header (es_npy_map); a shard's data is mapped
 * read-only when searched (embidx_map) and unmapped after, so a search over
 * a million rows streams through the page cache instead of holding them in
 * memory. Metadata is parsed only for the shards that hold the rows asked
 * for. */
#ifndef CLIPCL_IO_EMB_INDEX_H
#define CLIPCL_IO_EMB_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "io/emb_shards.h"

enum { EMBIDX_AUTO = -1, EMBIDX_IMAGE = ES_IMAGE, EMBIDX_TEXT = ES_TEXT };

typedef struct embidx {
    char *dir;         /* owned copy of the folder given */
    int kind;          /* EMBIDX_IMAGE or EMBIDX_TEXT */
    int dim;           /* columns of every shard */
    int64_t rows;      /* all shards together */
    int n_shards;
    es_shard *shards;  /* file, metadata, rows, first_row */
    /* From manifest.json when the folder has one, else NULL / -1. */
    char *model;       /* as recorded by the writer */
    char *data;        /* the SET the paths are relative to, if recorded */
    int normalized;    /* 1, 0, or -1 when not recorded */
} embidx;

/* Opens dir. kind EMBIDX_AUTO takes the manifest's kind, else the image
 * shards if there are any, else the text shards. Errors (one line naming
 * the file): dir missing or not a folder, no shards of the kind, a gap in
 * the shard numbers, a shard that is not float32 2-D C order or whose
 * width differs from the first's or the manifest's embed_dim, a shard
 * without its metadata file, a malformed manifest. */
int embidx_open(embidx *ix, const char *dir, int kind);
void embidx_close(embidx *ix);

/* Shard s's rows, mapped read-only (es_shard_unmap after), its header
 * checked again. */
int embidx_map(const embidx *ix, int s, es_mapped *v);

/* One row's metadata (owned strings, "" where empty). */
typedef struct embidx_meta {
    char *key, *path, *member, *caption;
} embidx_meta;

/* Fills out[i] for the global rows[i], i < n (any order, repeats allowed).
 * Each shard concerned is read once (es_shard_metadata): exactly as many
 * records as its .npy has rows, the four columns by name. */
int embidx_metadata(const embidx *ix, const int64_t *rows, int n, embidx_meta *out);
void embidx_meta_free(embidx_meta *m, int n);

#endif
