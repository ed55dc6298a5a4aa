/* .npy reader and atomic writer (format spec: numpy/lib/format.py). */
#include "io/npy.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/atomic_file.h"
#include "runtime/status.h"

static const char NPY_MAGIC[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

static const char *dtype_descr(npy_dtype t)
{
    switch (t) {
    case NPY_F32: return "<f4";
    case NPY_I32: return "<i4";
    case NPY_U8: return "|u1";
    }
    return "?";
}

static size_t dtype_size(npy_dtype t) { return t == NPY_U8 ? 1 : 4; }

static int numel_of(const char *path, const int64_t *shape, int ndim, int64_t *numel)
{
    if (ndim < 0 || ndim > NPY_MAX_DIMS)
        return cc_fail(CC_ERR_INVALID, "%s: ndim %d, expected 0..%d", path, ndim, NPY_MAX_DIMS);
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return cc_fail(CC_ERR_SHAPE, "%s: dimension %d is %lld, expected >= 0", path, i,
                           (long long)shape[i]);
        if (shape[i] != 0 && n > INT64_MAX / 8 / shape[i])
            return cc_fail(CC_ERR_SHAPE, "%s: element count overflows", path);
        n *= shape[i];
    }
    *numel = n;
    return CC_OK;
}

static int write_array(const char *path, npy_dtype t, const void *data, const int64_t *shape,
                       int ndim)
{
    int64_t numel;
    int rc = numel_of(path ? path : "(null)", shape, ndim, &numel);
    if (rc != CC_OK)
        return rc;
    if (numel > 0 && !data)
        return cc_fail(CC_ERR_INVALID, "%s: no data for %lld elements", path, (long long)numel);

    char dict[512];
    int len = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                       dtype_descr(t));
    for (int i = 0; i < ndim; i++)
        len += snprintf(dict + len, sizeof dict - (size_t)len, "%lld,%s", (long long)shape[i],
                        (i + 1 < ndim) ? " " : "");
    /* numpy writes "(5,)" for 1-d and "(2, 3)" otherwise. */
    if (ndim > 1)
        len--;
    len += snprintf(dict + len, sizeof dict - (size_t)len, "), }");

    /* Preamble + header is padded with spaces and a final newline to a
     * multiple of 64 bytes so the data is aligned when mapped. */
    size_t pre = 10;
    size_t total = (pre + (size_t)len + 1 + 63) / 64 * 64;
    size_t hlen = total - pre;
    unsigned char preamble[10];
    memcpy(preamble, NPY_MAGIC, 6);
    preamble[6] = 1;
    preamble[7] = 0;
    preamble[8] = (unsigned char)(hlen & 0xff);
    preamble[9] = (unsigned char)(hlen >> 8);
    char header[640];
    memset(header, ' ', hlen);
    memcpy(header, dict, (size_t)len);
    header[hlen - 1] = '\n';

    io_atomic a;
    rc = io_atomic_open(&a, path);
    if (rc != CC_OK)
        return rc;
    rc = io_atomic_write(&a, preamble, pre);
    if (rc == CC_OK)
        rc = io_atomic_write(&a, header, hlen);
    if (rc == CC_OK)
        rc = io_atomic_write(&a, data, (size_t)numel * dtype_size(t));
    if (rc != CC_OK) {
        io_atomic_abort(&a);
        return rc;
    }
    return io_atomic_commit(&a);
}

int npy_write_f32(const char *path, const float *data, const int64_t *shape, int ndim)
{
    return write_array(path, NPY_F32, data, shape, ndim);
}

int npy_write_i32(const char *path, const int32_t *data, const int64_t *shape, int ndim)
{
    return write_array(path, NPY_I32, data, shape, ndim);
}

int npy_write_u8(const char *path, const uint8_t *data, const int64_t *shape, int ndim)
{
    return write_array(path, NPY_U8, data, shape, ndim);
}

/* ---- header dictionary parser ------------------------------------------ */

typedef struct hparse {
    const char *p, *end, *path;
} hparse;

static void skip_ws(hparse *h)
{
    while (h->p < h->end && isspace((unsigned char)*h->p))
        h->p++;
}

static int expect_char(hparse *h, char c)
{
    skip_ws(h);
    if (h->p >= h->end)
        return cc_fail(CC_ERR_INVALID, "%s: .npy header: expected '%c', found the end", h->path, c);
    if (*h->p != c) /* as a byte value: a NUL printed with %c would cut the message */
        return cc_fail(CC_ERR_INVALID, "%s: .npy header: expected '%c', found byte 0x%02x", h->path,
                       c, (unsigned char)*h->p);
    h->p++;
    return CC_OK;
}

static int parse_str(hparse *h, char *out, size_t cap)
{
    skip_ws(h);
    if (h->p >= h->end || (*h->p != '\'' && *h->p != '"'))
        return cc_fail(CC_ERR_INVALID, "%s: .npy header: expected a quoted string", h->path);
    char q = *h->p++;
    size_t n = 0;
    while (h->p < h->end && *h->p != q) {
        if (n + 1 >= cap)
            return cc_fail(CC_ERR_INVALID, "%s: .npy header: string too long", h->path);
        out[n++] = *h->p++;
    }
    if (h->p >= h->end)
        return cc_fail(CC_ERR_INVALID, "%s: .npy header: unterminated string", h->path);
    h->p++;
    out[n] = '\0';
    return CC_OK;
}

static int parse_bool(hparse *h, int *out)
{
    skip_ws(h);
    size_t left = (size_t)(h->end - h->p);
    if (left >= 4 && memcmp(h->p, "True", 4) == 0) {
        *out = 1;
        h->p += 4;
    } else if (left >= 5 && memcmp(h->p, "False", 5) == 0) {
        *out = 0;
        h->p += 5;
    } else {
        return cc_fail(CC_ERR_INVALID, "%s: .npy header: fortran_order is not True/False", h->path);
    }
    return CC_OK;
}

static int parse_shape(hparse *h, int64_t *shape, int *ndim)
{
    int rc = expect_char(h, '(');
    if (rc != CC_OK)
        return rc;
    *ndim = 0;
    for (;;) {
        skip_ws(h);
        if (h->p < h->end && *h->p == ')') {
            h->p++;
            return CC_OK;
        }
        if (h->p >= h->end || !isdigit((unsigned char)*h->p))
            return cc_fail(CC_ERR_INVALID, "%s: .npy header: shape is not a tuple of integers",
                           h->path);
        int64_t v = 0;
        while (h->p < h->end && isdigit((unsigned char)*h->p)) {
            if (v > (INT64_MAX - 9) / 10)
                return cc_fail(CC_ERR_INVALID, "%s: .npy header: dimension overflows", h->path);
            v = v * 10 + (*h->p++ - '0');
        }
        if (h->p < h->end && *h->p == 'L') /* written by Python 2 */
            h->p++;
        if (*ndim >= NPY_MAX_DIMS)
            return cc_fail(CC_ERR_UNSUPPORTED, "%s: .npy has more than %d dimensions", h->path,
                           NPY_MAX_DIMS);
        shape[(*ndim)++] = v;
        skip_ws(h);
        if (h->p < h->end && *h->p == ',')
            h->p++;
        else if (h->p >= h->end || *h->p != ')')
            return cc_fail(CC_ERR_INVALID, "%s: .npy header: malformed shape tuple", h->path);
    }
}

static int parse_header(const char *path, const char *txt, size_t n, char *descr, size_t dcap,
                        int *fortran, int64_t *shape, int *ndim)
{
    hparse h = {txt, txt + n, path};
    int have_descr = 0, have_fortran = 0, have_shape = 0;
    int rc = expect_char(&h, '{');
    while (rc == CC_OK) {
        skip_ws(&h);
        if (h.p < h.end && *h.p == '}')
            break;
        char key[32];
        rc = parse_str(&h, key, sizeof key);
        if (rc == CC_OK)
            rc = expect_char(&h, ':');
        if (rc != CC_OK)
            break;
        if (strcmp(key, "descr") == 0) {
            rc = parse_str(&h, descr, dcap);
            have_descr = 1;
        } else if (strcmp(key, "fortran_order") == 0) {
            rc = parse_bool(&h, fortran);
            have_fortran = 1;
        } else if (strcmp(key, "shape") == 0) {
            rc = parse_shape(&h, shape, ndim);
            have_shape = 1;
        } else {
            rc = cc_fail(CC_ERR_INVALID, "%s: .npy header: unexpected key '%s'", path, key);
        }
        if (rc != CC_OK)
            break;
        skip_ws(&h);
        if (h.p < h.end && *h.p == ',')
            h.p++;
        else if (h.p >= h.end || *h.p != '}')
            rc = cc_fail(CC_ERR_INVALID, "%s: .npy header: expected ',' or '}'", path);
    }
    if (rc != CC_OK)
        return rc;
    if (!have_descr || !have_fortran || !have_shape)
        return cc_fail(CC_ERR_INVALID,
                       "%s: .npy header lacks %s (expected descr, fortran_order and shape)", path,
                       !have_descr ? "descr" : !have_fortran ? "fortran_order" : "shape");
    return CC_OK;
}

/* ---- reader -------------------------------------------------------------- */

static int read_all(const char *path, unsigned char **buf, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return cc_fail(CC_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        const char *why = io_not_regular(fileno(f));
        fclose(f);
        return cc_fail(CC_ERR_IO, "%s: %s (expected a .npy file)", path, why);
    }
    if ((long long)st.st_size > NPY_MAX_BYTES) {
        fclose(f);
        return cc_fail(CC_ERR_UNSUPPORTED, "%s: .npy file of %lld bytes, at most %lld allowed",
                       path, (long long)st.st_size, NPY_MAX_BYTES);
    }
    size_t n = (size_t)st.st_size;
    unsigned char *b = malloc(n ? n : 1);
    if (!b) {
        fclose(f);
        return cc_fail(CC_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, n);
    }
    if (fread(b, 1, n, f) != n) {
        free(b);
        fclose(f);
        return cc_fail(CC_ERR_IO, "%s: read failed", path);
    }
    fclose(f);
    *buf = b;
    *len = n;
    return CC_OK;
}

static int want_descr(npy_dtype want, const char *d)
{
    switch (want) {
    case NPY_F32: return strcmp(d, "<f4") == 0;
    case NPY_I32: return strcmp(d, "<i4") == 0;
    case NPY_U8: return strcmp(d, "|u1") == 0 || strcmp(d, "<u1") == 0;
    }
    return 0;
}

int npy_read(const char *path, npy_dtype want, npy_array *out)
{
    memset(out, 0, sizeof *out);
    unsigned char *buf = NULL;
    size_t len = 0;
    int rc = read_all(path, &buf, &len);
    if (rc != CC_OK)
        return rc;
    if (len < 10 || memcmp(buf, NPY_MAGIC, 6) != 0) {
        free(buf);
        return cc_fail(CC_ERR_INVALID, "%s: not a .npy file (expected magic \\x93NUMPY, found %zu-byte file without it)", path, len);
    }
    unsigned major = buf[6];
    size_t pre, hlen;
    if (major == 1) {
        pre = 10;
        hlen = (size_t)buf[8] | (size_t)buf[9] << 8;
    } else if (major == 2 || major == 3) {
        pre = 12;
        if (len < pre) {
            free(buf);
            return cc_fail(CC_ERR_IO, "%s: truncated .npy preamble", path);
        }
        hlen = (size_t)buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
    } else {
        unsigned minor = buf[7];
        free(buf);
        return cc_fail(CC_ERR_UNSUPPORTED, "%s: .npy format version %u.%u, expected 1.x, 2.x or 3.x",
                       path, major, minor);
    }
    if (hlen > NPY_MAX_HEADER) {
        free(buf);
        return cc_fail(CC_ERR_UNSUPPORTED, "%s: .npy header of %zu bytes, at most %d allowed",
                       path, hlen, NPY_MAX_HEADER);
    }
    if (hlen > len - pre) {
        free(buf);
        return cc_fail(CC_ERR_IO, "%s: .npy header length %zu exceeds the file (%zu bytes)", path,
                       hlen, len);
    }
    char descr[32];
    int fortran = 0;
    rc = parse_header(path, (const char *)buf + pre, hlen, descr, sizeof descr, &fortran,
                      out->shape, &out->ndim);
    if (rc == CC_OK && !want_descr(want, descr))
        rc = cc_fail(CC_ERR_UNSUPPORTED, "%s: dtype '%s', expected '%s'", path, descr,
                     dtype_descr(want));
    if (rc == CC_OK && fortran)
        rc = cc_fail(CC_ERR_UNSUPPORTED, "%s: fortran_order True, expected C order", path);
    if (rc == CC_OK)
        rc = numel_of(path, out->shape, out->ndim, &out->numel);
    size_t bytes = (size_t)out->numel * dtype_size(want);
    size_t have = len - pre - hlen;
    if (rc == CC_OK && have != bytes)
        rc = cc_fail(CC_ERR_IO, "%s: data is %zu bytes, expected %zu for the header's shape%s",
                     path, have, bytes, have < bytes ? " (truncated)" : "");
    if (rc == CC_OK) {
        out->data = malloc(bytes ? bytes : 1);
        if (!out->data)
            rc = cc_fail(CC_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, bytes);
        else
            memcpy(out->data, buf + pre + hlen, bytes);
    }
    free(buf);
    out->dtype = want;
    if (rc != CC_OK) {
        free(out->data);
        memset(out, 0, sizeof *out);
    }
    return rc;
}

int npy_read_f32(const char *path, npy_array *out) { return npy_read(path, NPY_F32, out); }

void npy_free(npy_array *a)
{
    if (!a)
        return;
    free(a->data);
    memset(a, 0, sizeof *a);
}

/* ---- header only (for readers that map the data) ------------------------ */

int npy_read_header(const char *path, npy_dtype want, int64_t *shape, int *ndim,
                    int64_t *data_offset)
{
    *ndim = 0;
    *data_offset = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return cc_fail(CC_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        const char *why = io_not_regular(fileno(f));
        fclose(f);
        return cc_fail(CC_ERR_IO, "%s: %s (expected a .npy file)", path, why);
    }
    unsigned char buf[12 + NPY_MAX_HEADER];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    if (len < 10 || memcmp(buf, NPY_MAGIC, 6) != 0)
        return cc_fail(CC_ERR_INVALID, "%s: not a .npy file (expected magic \\x93NUMPY)", path);
    unsigned major = buf[6];
    size_t pre, hlen;
    if (major == 1) {
        pre = 10;
        hlen = (size_t)buf[8] | (size_t)buf[9] << 8;
    } else if (major == 2 || major == 3) {
        pre = 12;
        if (len < pre)
            return cc_fail(CC_ERR_IO, "%s: truncated .npy preamble", path);
        hlen = (size_t)buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
    } else {
        return cc_fail(CC_ERR_UNSUPPORTED, "%s: .npy format version %u.%u, expected 1.x, 2.x or 3.x",
                       path, major, (unsigned)buf[7]);
    }
    if (hlen > NPY_MAX_HEADER)
        return cc_fail(CC_ERR_UNSUPPORTED, "%s: .npy header of %zu bytes, at most %d allowed",
                       path, hlen, NPY_MAX_HEADER);
    if (hlen > len - pre)
        return cc_fail(CC_ERR_IO, "%s: .npy header length %zu exceeds the file (%lld bytes)", path,
                       hlen, (long long)st.st_size);
    char descr[32];
    int fortran = 0;
    int rc = parse_header(path, (const char *)buf + pre, hlen, descr, sizeof descr, &fortran, shape,
                          ndim);
    if (rc == CC_OK && !want_descr(want, descr))
        rc = cc_fail(CC_ERR_UNSUPPORTED, "%s: dtype '%s', expected '%s'", path, descr,
                     dtype_descr(want));
    if (rc == CC_OK && fortran)
        rc = cc_fail(CC_ERR_UNSUPPORTED, "%s: fortran_order True, expected C order", path);
    int64_t numel = 0;
    if (rc == CC_OK)
        rc = numel_of(path, shape, *ndim, &numel);
    if (rc != CC_OK) {
        *ndim = 0;
        return rc;
    }
    /* No NPY_MAX_BYTES bound here: nothing is allocated, the caller maps. */
    long long bytes = (long long)numel * (long long)dtype_size(want);
    long long have = (long long)st.st_size - (long long)(pre + hlen);
    if (have != bytes) {
        *ndim = 0;
        return cc_fail(CC_ERR_IO, "%s: data is %lld bytes, expected %lld for the header's shape%s",
                       path, have, bytes, have < bytes ? " (truncated)" : "");
    }
    *data_offset = (int64_t)(pre + hlen);
    return CC_OK;
}
