/* Reference data-movement ops: reshape, permute, slice, concat, embedding.
 * They move 4-byte elements without looking at them, so f32 and i32 both
 * work. */
#include <string.h>

#include "backends/ref/ref_ops.h"

int ref_reshape(const graph *g, const g_node *n, void **data)
{
    const g_tensor *tx = ref_t(g, n->in[0]), *to = ref_t(g, n->out);
    if (ref_numel(tx) != ref_numel(to))
        return cc_fail(CC_ERR_SHAPE, "reshape: '%s' has %lld elements, '%s' %lld", tx->name,
                       (long long)ref_numel(tx), to->name, (long long)ref_numel(to));
    /* Normally a view sharing its root's storage; copy only if the caller
     * bound separate storage. */
    if (data[n->out] != data[n->in[0]])
        memmove(data[n->out], data[n->in[0]], (size_t)ref_numel(to) * 4);
    return CC_OK;
}

int ref_permute(const graph *g, const g_node *n, void **data)
{
    const g_tensor *tx = ref_t(g, n->in[0]), *to = ref_t(g, n->out);
    int nd = tx->ndim, seen[G_MAX_DIMS] = {0};
    int64_t in_stride[G_MAX_DIMS], st[G_MAX_DIMS], idx[G_MAX_DIMS] = {0};
    if (to->ndim != nd)
        return cc_fail(CC_ERR_SHAPE, "permute: '%s' has %d dims, output '%s' %d", tx->name, nd, to->name, to->ndim);
    for (int i = 0; i < nd; i++) {
        int p = n->attr.perm[i];
        if (p < 0 || p >= nd || seen[p]++ || to->shape[i] != tx->shape[p])
            return cc_fail(CC_ERR_SHAPE, "permute: perm[%d] = %d does not fit '%s' -> '%s'", i, p,
                           tx->name, to->name);
    }
    int64_t s = 1;
    for (int i = nd - 1; i >= 0; i--) {
        in_stride[i] = s;
        s *= tx->shape[i];
    }
    for (int i = 0; i < nd; i++)
        st[i] = in_stride[n->attr.perm[i]]; /* output dim i walks input dim perm[i] */
    const int32_t *x = data[n->in[0]];
    int32_t *o = data[n->out];
    int64_t total = ref_numel(to), off = 0;
    for (int64_t e = 0; e < total; e++) {
        o[e] = x[off];
        for (int d = nd - 1; d >= 0; d--) {
            off += st[d];
            if (++idx[d] < to->shape[d])
                break;
            off -= st[d] * to->shape[d];
            idx[d] = 0;
        }
    }
    return CC_OK;
}

/* outer = product of dims before axis, inner = after it. */
static void split_at(const g_tensor *t, int axis, int64_t *outer, int64_t *inner)
{
    *outer = 1;
    *inner = 1;
    for (int i = 0; i < axis; i++)
        *outer *= t->shape[i];
    for (int i = axis + 1; i < t->ndim; i++)
        *inner *= t->shape[i];
}

int ref_slice(const graph *g, const g_node *n, void **data)
{
    const g_tensor *tx = ref_t(g, n->in[0]), *to = ref_t(g, n->out);
    int ax = n->attr.axis;
    if (ax < 0 || ax >= tx->ndim || to->ndim != tx->ndim)
        return cc_fail(CC_ERR_SHAPE, "slice: axis %d on '%s' (%d dims) -> '%s' (%d dims)", ax,
                       tx->name, tx->ndim, to->name, to->ndim);
    int64_t outer, inner, len = to->shape[ax], dim = tx->shape[ax];
    int64_t start = n->attr.start, step = n->attr.step;
    split_at(tx, ax, &outer, &inner);
    /* The output's length decides how many steps are taken; every index
     * they reach must be inside the input. */
    if (len > 0 && (start < 0 || start >= dim || start + (len - 1) * step < 0 || start + (len - 1) * step >= dim))
        return cc_fail(CC_ERR_SHAPE, "slice: start %lld step %lld x %lld leaves '%s' dim %d (size %lld)",
                       (long long)start, (long long)step, (long long)len, tx->name, ax, (long long)dim);
    const int32_t *x = data[n->in[0]];
    int32_t *o = data[n->out];
    for (int64_t a = 0; a < outer; a++)
        for (int64_t i = 0; i < len; i++)
            memcpy(o + (a * len + i) * inner, x + (a * dim + start + i * step) * inner, (size_t)inner * 4);
    return CC_OK;
}

int ref_concat(const graph *g, const g_node *n, void **data)
{
    const g_tensor *to = ref_t(g, n->out);
    int ax = n->attr.axis;
    if (ax < 0 || ax >= to->ndim)
        return cc_fail(CC_ERR_SHAPE, "concat: axis %d outside output '%s' (%d dims)", ax, to->name, to->ndim);
    int64_t outer, inner, total_ax = 0;
    split_at(to, ax, &outer, &inner);
    for (int k = 0; k < n->n_in; k++) {
        const g_tensor *t = ref_t(g, n->in[k]);
        int64_t o2, i2;
        split_at(t, ax, &o2, &i2);
        if (t->ndim != to->ndim || o2 != outer || i2 != inner)
            return cc_fail(CC_ERR_SHAPE, "concat: input %d '%s' does not match output '%s' off axis %d",
                           k, t->name, to->name, ax);
        total_ax += t->shape[ax];
    }
    if (total_ax != to->shape[ax])
        return cc_fail(CC_ERR_SHAPE, "concat: inputs sum to %lld along axis %d, output '%s' has %lld",
                       (long long)total_ax, ax, to->name, (long long)to->shape[ax]);
    int32_t *o = data[n->out];
    int64_t pos = 0; /* running offset along the axis */
    for (int k = 0; k < n->n_in; k++) {
        const int32_t *x = data[n->in[k]];
        int64_t len = ref_t(g, n->in[k])->shape[ax];
        for (int64_t a = 0; a < outer; a++)
            memcpy(o + (a * to->shape[ax] + pos) * inner, x + a * len * inner, (size_t)(len * inner) * 4);
        pos += len;
    }
    return CC_OK;
}

int ref_embedding(const graph *g, const g_node *n, void **data)
{
    const g_tensor *tt = ref_t(g, n->in[0]), *ti = ref_t(g, n->in[1]), *to = ref_t(g, n->out);
    if (tt->ndim != 2 || ti->dtype != G_I32 || ref_numel(to) != ref_numel(ti) * tt->shape[1])
        return cc_fail(CC_ERR_SHAPE, "embedding: table '%s' must be [V, D], ids '%s' i32, output '%s' [..., D]",
                       tt->name, ti->name, to->name);
    int64_t V = tt->shape[0], D = tt->shape[1], cnt = ref_numel(ti);
    const float *table = data[n->in[0]];
    const int32_t *ids = data[n->in[1]];
    float *o = data[n->out];
    for (int64_t i = 0; i < cnt; i++) {
        if (ids[i] < 0 || ids[i] >= V)
            return cc_fail(CC_ERR_INVALID, "embedding: id %d at position %lld of '%s' is outside [0, %lld)",
                           (int)ids[i], (long long)i, ti->name, (long long)V);
        memcpy(o + i * D, table + (int64_t)ids[i] * D, (size_t)D * 4);
    }
    return CC_OK;
}

