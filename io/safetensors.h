/* safetensors files: memory-mapped reader with full header validation, and an
 * atomic writer.
 *
 * Layout: 8-byte little-endian header length N, N bytes of JSON (an object
 * mapping tensor names to {dtype, shape, data_offsets:[begin,end]} plus an
 * optional "__metadata__" string->string object), then the data section;
 * offsets are relative to the data section. st_open checks every entry
 * (known dtype, non-negative shape, end-begin == numel*itemsize, range inside
 * the data section, no two ranges overlapping) so later accessors can trust
 * it. Every error is one line naming the file (and the key). */
#ifndef CLIPCL_IO_SAFETENSORS_H
#define CLIPCL_IO_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#define ST_MAX_DIMS 8

typedef enum st_dtype {
    ST_F64, ST_F32, ST_F16, ST_BF16,
    ST_I64, ST_I32, ST_I16, ST_I8,
    ST_U64, ST_U32, ST_U16, ST_U8,
    ST_BOOL, ST_F8_E4M3, ST_F8_E5M2,
    ST_DTYPE_COUNT
} st_dtype;

typedef struct st_tensor {
    const char *name;
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    int64_t numel;
    size_t nbytes;
    const void *data;   /* inside the mapping; may be unaligned: use memcpy */
} st_tensor;

typedef struct st_file st_file;

int st_open(const char *path, st_file **out);
void st_close(st_file *f);
/* Hands the file's mapping (copy-on-write: a write to it changes this
 * process's copy, never the file) over to the caller, who unmaps it with
 * st_unmap once done with every tensor's data; st_close then leaves it
 * mapped. Lets a loader use F32 tensors in place instead of copying them. */
void st_take_map(st_file *f, void **map, size_t *len);
void st_unmap(void *map, size_t len);

const char *st_path(const st_file *f);
size_t st_count(const st_file *f);
/* Tensors in header order; i < st_count. */
const st_tensor *st_at(const st_file *f, size_t i);
/* CC_ERR_INVALID naming the file and key when absent. */
int st_find(const st_file *f, const char *name, const st_tensor **out);
/* Value of a "__metadata__" entry, or NULL. */
const char *st_metadata(const st_file *f, const char *key);
size_t st_metadata_count(const st_file *f);
void st_metadata_at(const st_file *f, size_t i, const char **key, const char **value);

/* Copies t (F32, F16 or BF16) into dst as f32; n must equal t->numel. */
int st_read_f32(const st_file *f, const st_tensor *t, float *dst, size_t n);
/* st_find + st_read_f32, also checking the shape when shape != NULL. */
int st_load_f32(const st_file *f, const char *name, const int64_t *shape, int ndim, float *dst);

const char *st_dtype_name(st_dtype t);
size_t st_dtype_size(st_dtype t);
float st_f16_to_f32(uint16_t h);
float st_bf16_to_f32(uint16_t h);

/* ---- writer ---- */
typedef struct st_write_tensor {
    const char *name;
    st_dtype dtype;
    int ndim;
    const int64_t *shape;
    const void *data;    /* numel * st_dtype_size(dtype) bytes, little-endian */
} st_write_tensor;

/* Writes the tensors in order (contiguous, header padded to 8 bytes) plus
 * metadata pairs meta[2*i] -> meta[2*i+1]; replaces path atomically. */
int st_write(const char *path, const st_write_tensor *ts, size_t n, const char *const *meta,
             size_t n_meta);

#endif
