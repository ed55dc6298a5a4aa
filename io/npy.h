/* NumPy .npy files: little-endian, C-order arrays.
 *
 * Writers produce format 1.0 (2.0 when the header needs it) and replace the
 * destination atomically. Readers accept format 1.x, 2.x and 3.x headers and
 * exactly one dtype each; anything else (big-endian, Fortran order, another
 * dtype, a truncated file) is an error naming the file and what was found. */
#ifndef CLIPCL_IO_NPY_H
#define CLIPCL_IO_NPY_H

#include <stdint.h>

#define NPY_MAX_DIMS 8
/* numpy's own reader (np.load, numpy >= 1.24) refuses headers above 10,000
 * bytes unless told otherwise; its writer pads a header to 64 bytes and no
 * array up to NPY_MAX_DIMS needs more than a few hundred. */
#define NPY_MAX_HEADER 10000
/* Largest .npy file read (it is read whole, then the array copied out): the
 * biggest arrays clipcl reads are feature matrices, ImageNet's 1.28M train
 * images x 1024 floats = 5.2 GB; 8 GiB holds that and bounds the memory a
 * file can ask for. */
#define NPY_MAX_BYTES (8LL << 30)

typedef enum npy_dtype {
    NPY_F32 = 0, /* '<f4' */
    NPY_I32 = 1, /* '<i4' */
    NPY_U8 = 2,  /* '|u1' */
} npy_dtype;

typedef struct npy_array {
    npy_dtype dtype;
    int ndim;                      /* 0 for a scalar */
    int64_t shape[NPY_MAX_DIMS];
    int64_t numel;
    void *data;                    /* malloc'd, numel elements of dtype */
} npy_array;

int npy_write_f32(const char *path, const float *data, const int64_t *shape, int ndim);
int npy_write_i32(const char *path, const int32_t *data, const int64_t *shape, int ndim);
int npy_write_u8(const char *path, const uint8_t *data, const int64_t *shape, int ndim);

/* Reads a '<f4' array; out->data is float*. */
int npy_read_f32(const char *path, npy_array *out);
/* Reads an array that must have dtype `want`. */
int npy_read(const char *path, npy_dtype want, npy_array *out);
void npy_free(npy_array *a);

/* The header of an array of dtype `want` without reading its data,
 * for readers that map the file instead of copying it (the embedding index
 * of `clipcl search`): shape and ndim as in npy_array, *data_offset the byte
 * where the data begins. The same checks as npy_read, the file's size
 * included: the data must be exactly what the header's shape needs. */
int npy_read_header(const char *path, npy_dtype want, int64_t *shape, int *ndim,
                    int64_t *data_offset);

#endif
