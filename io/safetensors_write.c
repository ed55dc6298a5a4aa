/* safetensors writer: JSON header padded to 8 bytes, tensors packed in the
 * order given, whole file replaced atomically. */
#include <json.h>
#include <stdlib.h>
#include <string.h>

#include "io/atomic_file.h"
#include "io/safetensors.h"
#include "runtime/status.h"

static int entry_json(const char *path, const st_write_tensor *t, uint64_t *offset,
                      json_object *root)
{
    if (!t->name || !*t->name || strcmp(t->name, "__metadata__") == 0)
        return cc_fail(CC_ERR_INVALID, "%s: tensor name '%s' is empty or reserved", path,
                       t->name ? t->name : "(null)");
    if ((unsigned)t->dtype >= ST_DTYPE_COUNT)
        return cc_fail(CC_ERR_INVALID, "%s: tensor '%s': unknown dtype %d", path, t->name,
                       (int)t->dtype);
    if (t->ndim < 0 || t->ndim > ST_MAX_DIMS)
        return cc_fail(CC_ERR_INVALID, "%s: tensor '%s': ndim %d, expected 0..%d", path, t->name,
                       t->ndim, ST_MAX_DIMS);
    if (json_object_object_get_ex(root, t->name, NULL))
        return cc_fail(CC_ERR_INVALID, "%s: tensor name '%s' given twice", path, t->name);
    uint64_t numel = 1;
    json_object *shape = json_object_new_array();
    for (int i = 0; i < t->ndim; i++) {
        if (t->shape[i] < 0) {
            json_object_put(shape);
            return cc_fail(CC_ERR_SHAPE, "%s: tensor '%s': shape[%d] = %lld", path, t->name, i,
                           (long long)t->shape[i]);
        }
        numel *= (uint64_t)t->shape[i];
        json_object_array_add(shape, json_object_new_int64(t->shape[i]));
    }
    uint64_t bytes = numel * st_dtype_size(t->dtype);
    if (bytes && !t->data) {
        json_object_put(shape);
        return cc_fail(CC_ERR_INVALID, "%s: tensor '%s' has no data", path, t->name);
    }
    json_object *e = json_object_new_object();
    json_object *offs = json_object_new_array();
    json_object_array_add(offs, json_object_new_int64((int64_t)*offset));
    json_object_array_add(offs, json_object_new_int64((int64_t)(*offset + bytes)));
    json_object_object_add(e, "dtype", json_object_new_string(st_dtype_name(t->dtype)));
    json_object_object_add(e, "shape", shape);
    json_object_object_add(e, "data_offsets", offs);
    json_object_object_add(root, t->name, e);
    *offset += bytes;
    return CC_OK;
}

int st_write(const char *path, const st_write_tensor *ts, size_t n, const char *const *meta,
             size_t n_meta)
{
    json_object *root = json_object_new_object();
    if (!root)
        return cc_fail(CC_ERR_NOMEM, "%s: out of memory", path);
    int rc = CC_OK;
    if (n_meta) {
        json_object *m = json_object_new_object();
        for (size_t i = 0; i < n_meta && rc == CC_OK; i++) {
            if (!meta[2 * i] || !meta[2 * i + 1])
                rc = cc_fail(CC_ERR_INVALID, "%s: metadata pair %zu has a NULL string", path, i);
            else
                json_object_object_add(m, meta[2 * i], json_object_new_string(meta[2 * i + 1]));
        }
        json_object_object_add(root, "__metadata__", m);
    }
    uint64_t offset = 0;
    for (size_t i = 0; i < n && rc == CC_OK; i++)
        rc = entry_json(path, &ts[i], &offset, root);
    if (rc != CC_OK) {
        json_object_put(root);
        return rc;
    }
    const char *js = json_object_to_json_string_ext(
        root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    size_t jlen = strlen(js);
    /* Pad with spaces so the data section starts 8-byte aligned. */
    size_t hlen = (jlen + 7) / 8 * 8;
    char *hdr = malloc(hlen + 8);
    if (!hdr) {
        json_object_put(root);
        return cc_fail(CC_ERR_NOMEM, "%s: out of memory", path);
    }
    for (int i = 0; i < 8; i++)
        hdr[i] = (char)((uint64_t)hlen >> (8 * i));
    memcpy(hdr + 8, js, jlen);
    memset(hdr + 8 + jlen, ' ', hlen - jlen);
    json_object_put(root);

    io_atomic a;
    rc = io_atomic_open(&a, path);
    if (rc == CC_OK) {
        rc = io_atomic_write(&a, hdr, hlen + 8);
        for (size_t i = 0; i < n && rc == CC_OK; i++) {
            uint64_t numel = 1;
            for (int d = 0; d < ts[i].ndim; d++)
                numel *= (uint64_t)ts[i].shape[d];
            rc = io_atomic_write(&a, ts[i].data, (size_t)(numel * st_dtype_size(ts[i].dtype)));
        }
        if (rc == CC_OK)
            rc = io_atomic_commit(&a);
        else
            io_atomic_abort(&a);
    }
    free(hdr);
    return rc;
}
