/* Embedding folders (es_ prefix): what `clipcl embed-image/embed-text --data
 * SET --out DIR` writes and what a search reads back.
 *
 *   DIR/img_emb_0000.npy      float32 rows x D, C order (text: text_emb_*)
 *   DIR/metadata_0000.csv     key,path,member,caption, one line per row
 *                             (text: text_metadata_*)
 *   DIR/manifest.json         the run: settings, finished shards, counts
 *   DIR/failed.csv            path,member,error of every skipped input
 *
 * Every shard holds shard_size rows except the last. The manifest is the
 * commit point: a shard exists for readers once the manifest lists it (its
 * files are written, atomically, before the manifest is rewritten). Besides
 * the agreed fields the manifest records what a resume needs: "data" (the
 * SET as given), "inputs" (how many inputs the SET listed), "batch",
 * "complete", and per shard "inputs": [first, end) (the inputs, good and
 * failed, the shard's rows were taken from).
 *
 * Reading: es_manifest_read, then es_shard_map for a shard's rows and
 * es_metadata_read for its metadata lines. Nothing here prints. */
#ifndef CLIPCL_IO_EMB_SHARDS_H
#define CLIPCL_IO_EMB_SHARDS_H

#include <stddef.h>
#include <stdint.h>

enum { ES_IMAGE = 0, ES_TEXT = 1 };

typedef struct es_shard {
    char file[64];      /* img_emb_0000.npy (relative to DIR) */
    char metadata[64];  /* metadata_0000.csv */
    int64_t rows;
    int64_t input_begin, input_end; /* inputs [begin, end) this shard consumed */
} es_shard;

typedef struct es_manifest {
    int kind;           /* ES_IMAGE or ES_TEXT */
    char *model;        /* owned; the --model argument as given */
    char *data;         /* owned; the SET as given */
    int embed_dim;
    int normalized;
    int64_t shard_size;
    int64_t rows;       /* total over the shards */
    int64_t failed;     /* inputs skipped so far (lines of failed.csv) */
    int64_t inputs;     /* inputs the SET lists */
    int batch;
    int complete;       /* every input was consumed */
    es_shard *shards;   /* owned */
    int n_shards, cap_shards;
} es_manifest;

/* One metadata line (the four agreed columns) or failed.csv line (path,
 * member, error; key and caption unused). Strings are borrowed on write and
 * owned by an es_table on read. */
typedef struct es_row {
    const char *key, *path, *member, *caption, *error;
} es_row;

/* ---- writing ---- */

/* Shard k's file names for kind: img_emb_%04d.npy + metadata_%04d.csv or
 * text_emb_%04d.npy + text_metadata_%04d.csv. */
void es_shard_names(int kind, int k, es_shard *s);
/* Writes shard k's .npy (rows x dim) and metadata CSV, each atomically, and
 * appends its entry (with the input range) to m; the manifest file itself is
 * written by es_manifest_write. */
int es_shard_write(const char *dir, es_manifest *m, const float *x, int64_t rows,
                   const es_row *meta, int64_t input_begin, int64_t input_end);
/* Rewrites DIR/manifest.json atomically. */
int es_manifest_write(const char *dir, const es_manifest *m);
/* Rewrites DIR/failed.csv (header path,member,error) atomically. */
int es_failed_write(const char *dir, const es_row *rows, int64_t n);

/* ---- reading ---- */

/* Parses DIR/manifest.json; an error names the file and the bad field. */
int es_manifest_read(const char *dir, es_manifest *m);
void es_manifest_free(es_manifest *m);
const char *es_kind_name(int kind); /* "image" / "text" */

/* A shard's rows, memory-mapped read-only. */
typedef struct es_mapped {
    const float *rows;  /* rows x dim */
    int64_t n_rows;
    int dim;
    void *map_;         /* internal */
    size_t map_len_;
} es_mapped;
/* Maps shard k of m, checking the .npy header (float32, C order, rows as the
 * manifest says, dim == embed_dim). */
int es_shard_map(const char *dir, const es_manifest *m, int k, es_mapped *out);
void es_shard_unmap(es_mapped *s);

/* The lines of a CSV this module wrote (metadata or failed.csv), header
 * checked and dropped. */
typedef struct es_table {
    es_row *rows;
    int64_t n;
    char **cells_;      /* internal: owned strings */
    int64_t n_cells_;
} es_table;
/* Reads shard k's metadata (key,path,member,caption). */
int es_metadata_read(const char *dir, const es_manifest *m, int k, es_table *out);
/* Reads DIR/failed.csv (path,member,error); a missing file is an empty table. */
int es_failed_read(const char *dir, es_table *out);
void es_table_free(es_table *t);

/* One RFC 4180 record from text at *pos (quotes, "" escapes, separators and
 * newlines inside quotes, CRLF): the fields are appended to cells (owned
 * copies, *n_fields of them). Returns CC_OK; *n_fields is 0 at the end. On
 * an error (an unterminated quote) no field is left to free. Used
 * by the readers here and by the SET enumeration of `clipcl embed-*`. */
int es_csv_record(const char *text, size_t len, size_t *pos, char sep, char ***cells,
                  int *n_fields, int *cap);

#endif
