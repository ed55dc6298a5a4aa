/* Embedding folders (es_ prefix): what `clipcl embed-image/embed-text --data
 * SET --out DIR` writes, and the one reader of them: the resume of those
 * commands and `clipcl search` (io/emb_index.h, built on the readers here).
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
 * Reading: es_manifest_read (or es_manifest_read_optional for a folder that
 * may have none), then es_shard_map for a shard's rows and es_metadata_read
 * for its metadata lines; the es_npy_map / es_shard_metadata forms take a
 * shard entry instead, for shards found another way (by file name). Every
 * error is one line naming the file and what was expected. Nothing here
 * prints. */
#ifndef CLIPCL_IO_EMB_SHARDS_H
#define CLIPCL_IO_EMB_SHARDS_H

#include <stddef.h>
#include <stdint.h>

enum { ES_IMAGE = 0, ES_TEXT = 1 };

/* Widest row read: 2^20 floats, far beyond any CLIP model. */
#define ES_MAX_DIM (1 << 20)

typedef struct es_shard {
    char file[64];      /* img_emb_0000.npy (relative to DIR) */
    char metadata[64];  /* metadata_0000.csv */
    int64_t rows;
    int64_t first_row;  /* on reading: the global number of its row 0 */
    int64_t input_begin, input_end; /* inputs [begin, end) this shard consumed */
} es_shard;

/* Read by es_manifest_read_optional, a field the file leaves out is -1
 * (kind, normalized, inputs), 0 (embed_dim, shard_size, failed) or NULL
 * (model, data). */
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
const char *es_npy_prefix(int kind);  /* "img_emb" / "text_emb" */
const char *es_meta_prefix(int kind); /* "metadata" / "text_metadata" */
/* DIR/name into buf; an error when it does not fit. */
int es_join(char *buf, size_t cap, const char *dir, const char *name);
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

/* Parses DIR/manifest.json; every agreed field is required. An error names
 * the file and the bad field. */
int es_manifest_read(const char *dir, es_manifest *m);
/* The same parser for a reader that can do without a manifest (a folder
 * written by hand): no file is CC_OK with every field unset, a field left
 * out stays unset (see es_manifest), a field given is checked as above. */
int es_manifest_read_optional(const char *dir, es_manifest *m);
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
/* Maps DIR/s->file read-only after checking its header: float32, C order,
 * 2-D, s->rows rows (any when negative) of dim columns (any when 0; at most
 * ES_MAX_DIM), data exactly that long. `expected` says where the wanted
 * shape comes from, for the error line. */
int es_npy_map(const char *dir, const es_shard *s, int dim, const char *expected,
               es_mapped *out);
/* Shard k of m, its rows and width as the manifest says. */
int es_shard_map(const char *dir, const es_manifest *m, int k, es_mapped *out);
void es_shard_unmap(es_mapped *s);

/* The lines of a metadata CSV or failed.csv: the header names the columns
 * (any order; others are ignored) and is dropped, every record has as many
 * fields as the header. */
typedef struct es_table {
    es_row *rows;
    int64_t n;
    char **cells_;      /* internal: owned strings */
    int64_t n_cells_;
} es_table;
/* Reads DIR/s->metadata (key,path,member,caption): s->rows records (any
 * number when negative). */
int es_shard_metadata(const char *dir, const es_shard *s, es_table *out);
/* Reads shard k's metadata. */
int es_metadata_read(const char *dir, const es_manifest *m, int k, es_table *out);
/* Reads DIR/failed.csv (path,member,error); a missing file is an empty table. */
int es_failed_read(const char *dir, es_table *out);
void es_table_free(es_table *t);

/* A whole text file of at most max_bytes, NUL-terminated (owned). */
int es_read_text(const char *path, long long max_bytes, char **out, size_t *len);

/* One RFC 4180 record from text at *pos (quotes, "" escapes, separators and
 * newlines inside quotes, CRLF, a UTF-8 BOM at 0; text after a closing quote
 * is kept, as Python's csv does): the fields are appended to cells (owned
 * copies, *n_fields of them). Returns CC_OK; *n_fields is 0 at the end. On
 * an error (a quote not closed) no field is left to free. Used by the
 * readers here and by the SET enumeration of `clipcl embed-*`. */
int es_csv_record(const char *text, size_t len, size_t *pos, char sep, char ***cells,
                  int *n_fields, int *cap);

#endif
