/* safetensors reader: mmap + full header validation (format: huggingface/safetensors). */
#include "io/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/atomic_file.h"
#include "runtime/status.h"

/* The reference implementation refuses headers above 100,000,000 bytes; this
 * bound (100 MiB) bounds the JSON handed to the parser for a hostile length
 * field, and is checked before the length is compared with the file. */
#define ST_MAX_HEADER (100u * 1024u * 1024u)
/* Tensors in one file. The reference has no count limit (its header limit
 * bounds it); the largest open_clip checkpoints hold about 1,000 tensors and
 * an LLM shard a few thousand. 65,536 keeps the per-tensor arrays (the
 * entries and the by-name index) to a few MB however the header is built. */
#define ST_MAX_TENSORS 65536u

struct st_file {
    char *path;
    unsigned char *map;
    size_t map_len;
    const unsigned char *data; /* start of the data section */
    size_t data_len;
    st_tensor *t;
    size_t n;
    const st_tensor **by_name; /* sorted by name for st_find */
    char **meta;               /* key, value, key, value ... */
    size_t n_meta;
};

static const struct {
    const char *name;
    size_t size;
} DTYPES[ST_DTYPE_COUNT] = {
    [ST_F64] = {"F64", 8},  [ST_F32] = {"F32", 4},  [ST_F16] = {"F16", 2},
    [ST_BF16] = {"BF16", 2}, [ST_I64] = {"I64", 8}, [ST_I32] = {"I32", 4},
    [ST_I16] = {"I16", 2},  [ST_I8] = {"I8", 1},    [ST_U64] = {"U64", 8},
    [ST_U32] = {"U32", 4},  [ST_U16] = {"U16", 2},  [ST_U8] = {"U8", 1},
    [ST_BOOL] = {"BOOL", 1}, [ST_F8_E4M3] = {"F8_E4M3", 1}, [ST_F8_E5M2] = {"F8_E5M2", 1},
};

const char *st_dtype_name(st_dtype t)
{
    return (unsigned)t < ST_DTYPE_COUNT ? DTYPES[t].name : "?";
}

size_t st_dtype_size(st_dtype t) { return (unsigned)t < ST_DTYPE_COUNT ? DTYPES[t].size : 0; }

static int dtype_from_name(const char *s, st_dtype *out)
{
    for (int i = 0; i < ST_DTYPE_COUNT; i++)
        if (strcmp(s, DTYPES[i].name) == 0) {
            *out = (st_dtype)i;
            return 1;
        }
    return 0;
}

float st_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu, bits;
    if (e == 0) {
        if (m == 0) {
            bits = sign;
        } else {
            /* Subnormal: renormalise so the f32 keeps the exact value m*2^-24. */
            int shift = 0;
            while (!(m & 0x400u)) {
                m <<= 1;
                shift++;
            }
            bits = sign | (uint32_t)(127 - 15 + 1 - shift) << 23 | (m & 0x3ffu) << 13;
        }
    } else if (e == 31) {
        bits = sign | 0x7f800000u | m << 13; /* inf, or nan keeping its payload */
    } else {
        bits = sign | (e - 15 + 127) << 23 | m << 13;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

float st_bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static void shape_str(const int64_t *shape, int ndim, char *buf, size_t cap)
{
    size_t len = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (len < cap)
        snprintf(buf + len, cap - len, "]");
}

/* ---- header validation ---------------------------------------------------- */

static int get_int(json_object *v, int64_t *out)
{
    if (!json_object_is_type(v, json_type_int))
        return 0;
    errno = 0;
    *out = json_object_get_int64(v);
    return errno == 0 && *out >= 0;
}

static int parse_entry(st_file *f, const char *key, json_object *val, st_tensor *t)
{
    const char *p = f->path;
    if (!json_object_is_type(val, json_type_object))
        return cc_fail(CC_ERR_INVALID, "%s: tensor '%s': expected a JSON object, found %s", p,
                       key, json_type_to_name(json_object_get_type(val)));
    json_object *jd, *js, *jo;
    if (!json_object_object_get_ex(val, "dtype", &jd) || !json_object_is_type(jd, json_type_string))
        return cc_fail(CC_ERR_INVALID, "%s: tensor '%s': missing string \"dtype\"", p, key);
    if (!json_object_object_get_ex(val, "shape", &js) || !json_object_is_type(js, json_type_array))
        return cc_fail(CC_ERR_INVALID, "%s: tensor '%s': missing array \"shape\"", p, key);
    if (!json_object_object_get_ex(val, "data_offsets", &jo) ||
        !json_object_is_type(jo, json_type_array) || json_object_array_length(jo) != 2)
        return cc_fail(CC_ERR_INVALID, "%s: tensor '%s': expected \"data_offsets\": [begin, end]",
                       p, key);
    const char *ds = json_object_get_string(jd);
    if (!dtype_from_name(ds, &t->dtype))
        return cc_fail(CC_ERR_UNSUPPORTED,
                       "%s: tensor '%s': dtype \"%s\", expected one of F64 F32 F16 BF16 I64 I32 "
                       "I16 I8 U64 U32 U16 U8 BOOL F8_E4M3 F8_E5M2", p, key, ds);
    size_t nd = json_object_array_length(js);
    if (nd > ST_MAX_DIMS)
        return cc_fail(CC_ERR_UNSUPPORTED, "%s: tensor '%s': %zu dimensions, at most %d supported",
                       p, key, nd, ST_MAX_DIMS);
    t->ndim = (int)nd;
    uint64_t numel = 1;
    for (size_t i = 0; i < nd; i++) {
        int64_t d;
        if (!get_int(json_object_array_get_idx(js, i), &d))
            return cc_fail(CC_ERR_INVALID, "%s: tensor '%s': shape[%zu] is not a non-negative integer",
                           p, key, i);
        t->shape[i] = d;
        if (d != 0 && numel > (UINT64_MAX / 8) / (uint64_t)d)
            return cc_fail(CC_ERR_INVALID, "%s: tensor '%s': element count overflows", p, key);
        numel *= (uint64_t)d;
    }
    int64_t b, e;
    if (!get_int(json_object_array_get_idx(jo, 0), &b) ||
        !get_int(json_object_array_get_idx(jo, 1), &e))
        return cc_fail(CC_ERR_INVALID, "%s: tensor '%s': data_offsets are not non-negative integers",
                       p, key);
    uint64_t want = numel * st_dtype_size(t->dtype);
    char sh[160];
    shape_str(t->shape, t->ndim, sh, sizeof sh);
    if (e < b || (uint64_t)(e - b) != want)
        return cc_fail(CC_ERR_INVALID,
                       "%s: tensor '%s': data_offsets [%lld, %lld] span %lld bytes, expected %llu "
                       "(%s shape %s)", p, key, (long long)b, (long long)e,
                       (long long)(e - b), (unsigned long long)want, ds, sh);
    if ((uint64_t)e > f->data_len)
        return cc_fail(CC_ERR_IO,
                       "%s: tensor '%s': data_offsets end %lld lies beyond the data section "
                       "(%zu bytes; file truncated?)", p, key, (long long)e, f->data_len);
    t->numel = (int64_t)numel;
    t->nbytes = (size_t)want;
    t->data = f->data + b;
    return CC_OK;
}

static int parse_metadata(st_file *f, json_object *val)
{
    if (!json_object_is_type(val, json_type_object))
        return cc_fail(CC_ERR_INVALID, "%s: __metadata__ must be an object of strings", f->path);
    size_t n = (size_t)json_object_object_length(val);
    f->meta = calloc(2 * n + 1, sizeof *f->meta);
    if (!f->meta)
        return cc_fail(CC_ERR_NOMEM, "%s: out of memory", f->path);
    json_object_object_foreach(val, k, v) {
        if (!json_object_is_type(v, json_type_string))
            return cc_fail(CC_ERR_INVALID, "%s: __metadata__ entry '%s' is %s, expected a string",
                           f->path, k, json_type_to_name(json_object_get_type(v)));
        f->meta[2 * f->n_meta] = strdup(k);
        f->meta[2 * f->n_meta + 1] = strdup(json_object_get_string(v));
        f->n_meta++;
        if (!f->meta[2 * f->n_meta - 2] || !f->meta[2 * f->n_meta - 1])
            return cc_fail(CC_ERR_NOMEM, "%s: out of memory", f->path);
    }
    return CC_OK;
}

static int cmp_begin(const void *a, const void *b)
{
    const st_tensor *x = *(const st_tensor *const *)a, *y = *(const st_tensor *const *)b;
    const unsigned char *px = x->data, *py = y->data;
    return px < py ? -1 : px > py;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp((*(const st_tensor *const *)a)->name, (*(const st_tensor *const *)b)->name);
}

static int check_layout(st_file *f)
{
    const st_tensor **v = malloc((f->n ? f->n : 1) * sizeof *v);
    if (!v)
        return cc_fail(CC_ERR_NOMEM, "%s: out of memory", f->path);
    for (size_t i = 0; i < f->n; i++)
        v[i] = &f->t[i];
    qsort(v, f->n, sizeof *v, cmp_begin);
    const st_tensor *prev = NULL;
    for (size_t i = 0; i < f->n; i++) {
        if (v[i]->nbytes == 0)
            continue;
        const unsigned char *pe = prev ? (const unsigned char *)prev->data + prev->nbytes : NULL;
        if (prev && (const unsigned char *)v[i]->data < pe) {
            int rc = cc_fail(CC_ERR_INVALID,
                             "%s: tensors '%s' [%zu, %zu) and '%s' [%zu, %zu) overlap in the data "
                             "section, expected disjoint ranges", f->path, prev->name,
                             (size_t)((const unsigned char *)prev->data - f->data),
                             (size_t)(pe - f->data), v[i]->name,
                             (size_t)((const unsigned char *)v[i]->data - f->data),
                             (size_t)((const unsigned char *)v[i]->data - f->data) + v[i]->nbytes);
            free(v);
            return rc;
        }
        prev = v[i];
    }
    qsort(v, f->n, sizeof *v, cmp_name);
    f->by_name = v;
    return CC_OK;
}

static int parse_header(st_file *f, const char *json, size_t len)
{
    json_tokener *tok = json_tokener_new();
    if (!tok)
        return cc_fail(CC_ERR_NOMEM, "%s: out of memory", f->path);
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    json_object *root = json_tokener_parse_ex(tok, json, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (!root || jerr != json_tokener_success) {
        json_object_put(root);
        return cc_fail(CC_ERR_INVALID, "%s: header (%zu bytes) is not valid JSON at byte %zu: %s",
                       f->path, len, end, jerr == json_tokener_continue
                                              ? "unexpected end" : json_tokener_error_desc(jerr));
    }
    int rc = CC_OK;
    for (size_t i = end; i < len && rc == CC_OK; i++)
        if (json[i] != ' ' && json[i] != '\t' && json[i] != '\n' && json[i] != '\r')
            rc = cc_fail(CC_ERR_INVALID, "%s: header has trailing bytes after the JSON object "
                         "(at offset %zu of %zu)", f->path, i, len);
    if (rc == CC_OK && !json_object_is_type(root, json_type_object))
        rc = cc_fail(CC_ERR_INVALID, "%s: header is a JSON %s, expected an object", f->path,
                     json_type_to_name(json_object_get_type(root)));
    if (rc == CC_OK) {
        size_t cap = (size_t)json_object_object_length(root);
        size_t tensors = cap - (json_object_object_get_ex(root, "__metadata__", NULL) ? 1 : 0);
        if (tensors > ST_MAX_TENSORS)
            rc = cc_fail(CC_ERR_UNSUPPORTED, "%s: header lists %zu tensors, at most %u allowed",
                         f->path, tensors, ST_MAX_TENSORS);
        else if (!(f->t = calloc(cap ? cap : 1, sizeof *f->t)))
            rc = cc_fail(CC_ERR_NOMEM, "%s: out of memory", f->path);
    }
    if (rc == CC_OK) {
        json_object_object_foreach(root, key, val) {
            if (strcmp(key, "__metadata__") == 0) {
                rc = parse_metadata(f, val);
            } else {
                st_tensor *t = &f->t[f->n];
                rc = parse_entry(f, key, val, t);
                if (rc == CC_OK) {
                    t->name = strdup(key);
                    if (!t->name)
                        rc = cc_fail(CC_ERR_NOMEM, "%s: out of memory", f->path);
                    else
                        f->n++;
                }
            }
            if (rc != CC_OK)
                break;
        }
    }
    json_object_put(root);
    if (rc == CC_OK)
        rc = check_layout(f);
    return rc;
}

int st_open(const char *path, st_file **out)
{
    *out = NULL;
    st_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        return cc_fail(CC_ERR_NOMEM, "%s: out of memory", path);
    }
    int rc = CC_OK;
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0) {
        rc = cc_fail(CC_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    } else if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = cc_fail(CC_ERR_IO, "%s: %s (expected a .safetensors file)", path, io_not_regular(fd));
    } else if (st.st_size < 8) {
        rc = cc_fail(CC_ERR_IO, "%s: file is %lld bytes, expected at least 8 (header length)",
                     path, (long long)st.st_size);
    } else {
        f->map_len = (size_t)st.st_size;
        /* writable and private: a caller that keeps tensors in place
         * (st_take_map) may change them like its own copies */
        void *m = mmap(NULL, f->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED)
            rc = cc_fail(CC_ERR_IO, "%s: mmap failed: %s", path, strerror(errno));
        else
            f->map = m;
    }
    if (fd >= 0)
        close(fd);
    if (rc == CC_OK) {
        uint64_t hlen = 0;
        for (int i = 7; i >= 0; i--)
            hlen = hlen << 8 | f->map[i];
        size_t avail = f->map_len - 8;
        if (hlen > avail && f->map[8 < f->map_len ? 8 : 0] != '{')
            rc = cc_fail(CC_ERR_INVALID, "%s: not a safetensors file (no JSON header after the "
                         "8-byte length; header length %llu exceeds the %zu bytes left)", path,
                         (unsigned long long)hlen, avail);
        else if (hlen > ST_MAX_HEADER)
            rc = cc_fail(CC_ERR_INVALID, "%s: header length %llu exceeds the limit, at most %u "
                         "allowed", path, (unsigned long long)hlen, ST_MAX_HEADER);
        else if (hlen > avail)
            rc = cc_fail(CC_ERR_IO, "%s: header length %llu exceeds the %zu bytes after the "
                         "length field (truncated or not a safetensors file)", path,
                         (unsigned long long)hlen, avail);
        else if (hlen < 2 || f->map[8] != '{')
            rc = cc_fail(CC_ERR_INVALID, "%s: header does not start with '{' (found %llu-byte "
                         "header)", path, (unsigned long long)hlen);
        if (rc == CC_OK) {
            f->data = f->map + 8 + hlen;
            f->data_len = avail - (size_t)hlen;
            rc = parse_header(f, (const char *)f->map + 8, (size_t)hlen);
        }
    }
    if (rc != CC_OK) {
        st_close(f);
        return rc;
    }
    *out = f;
    return CC_OK;
}

void st_close(st_file *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++)
        free((char *)f->t[i].name);
    for (size_t i = 0; i < 2 * f->n_meta; i++)
        free(f->meta[i]);
    /* parse_metadata may fail half-way through a pair */
    if (f->meta)
        free(f->meta[2 * f->n_meta]);
    free(f->meta);
    free(f->t);
    free(f->by_name);
    if (f->map)
        munmap(f->map, f->map_len);
    free(f->path);
    free(f);
}

void st_take_map(st_file *f, void **map, size_t *len)
{
    *map = f ? f->map : NULL;
    *len = f ? f->map_len : 0;
    if (f)
        f->map = NULL; /* st_close leaves it mapped */
}

void st_unmap(void *map, size_t len)
{
    if (map)
        munmap(map, len);
}

const char *st_path(const st_file *f) { return f->path; }
size_t st_count(const st_file *f) { return f->n; }
const st_tensor *st_at(const st_file *f, size_t i) { return i < f->n ? &f->t[i] : NULL; }
size_t st_metadata_count(const st_file *f) { return f->n_meta; }

void st_metadata_at(const st_file *f, size_t i, const char **key, const char **value)
{
    *key = i < f->n_meta ? f->meta[2 * i] : NULL;
    *value = i < f->n_meta ? f->meta[2 * i + 1] : NULL;
}

const char *st_metadata(const st_file *f, const char *key)
{
    for (size_t i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta[2 * i], key) == 0)
            return f->meta[2 * i + 1];
    return NULL;
}

int st_find(const st_file *f, const char *name, const st_tensor **out)
{
    size_t lo = 0, hi = f->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(f->by_name[mid]->name, name);
        if (c == 0) {
            *out = f->by_name[mid];
            return CC_OK;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *out = NULL;
    return cc_fail(CC_ERR_INVALID, "%s: no tensor named '%s' (file has %zu tensors)", f->path,
                   name, f->n);
}

int st_read_f32(const st_file *f, const st_tensor *t, float *dst, size_t n)
{
    if ((size_t)t->numel != n)
        return cc_fail(CC_ERR_SHAPE, "%s: tensor '%s' has %lld elements, caller expected %zu",
                       f->path, t->name, (long long)t->numel, n);
    const unsigned char *src = t->data;
    switch (t->dtype) {
    case ST_F32:
        memcpy(dst, src, n * 4);
        return CC_OK;
    case ST_F16:
    case ST_BF16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h = (uint16_t)(src[2 * i] | src[2 * i + 1] << 8);
            dst[i] = t->dtype == ST_F16 ? st_f16_to_f32(h) : st_bf16_to_f32(h);
        }
        return CC_OK;
    default:
        return cc_fail(CC_ERR_UNSUPPORTED, "%s: tensor '%s' is %s, expected F32, F16 or BF16",
                       f->path, t->name, st_dtype_name(t->dtype));
    }
}

int st_load_f32(const st_file *f, const char *name, const int64_t *shape, int ndim, float *dst)
{
    const st_tensor *t;
    int rc = st_find(f, name, &t);
    if (rc != CC_OK)
        return rc;
    if (shape) {
        int same = t->ndim == ndim;
        for (int i = 0; same && i < ndim; i++)
            same = t->shape[i] == shape[i];
        if (!same) {
            char want[160], have[160];
            shape_str(shape, ndim, want, sizeof want);
            shape_str(t->shape, t->ndim, have, sizeof have);
            return cc_fail(CC_ERR_SHAPE, "%s: tensor '%s' has shape %s, expected %s", f->path,
                           name, have, want);
        }
    }
    return st_read_f32(f, t, dst, (size_t)t->numel);
}
