/* Reference backward of the data-movement ops: embedding (scatter-add of dy
 * rows into the table's shape) and slice (dy placed back into x's shape,
 * zeros elsewhere). */
#include <stdlib.h>
#include <string.h>

#include "backends/ref/ref_ops.h"

/* Positions grouped by id (a counting sort, positions ascending inside a
 * group), so each table row is one double sum without a V x D double
 * buffer: CLIP's vocabulary makes that buffer hundreds of MB. */
int ref_embedding_grad(const graph *g, const g_node *n, void **data)
{
    if (n->n_in < 2)
        return cc_fail(CC_ERR_INVALID, "embedding_grad: needs ids and dy, has %d inputs", n->n_in);
    const g_tensor *ti = ref_t(g, n->in[0]), *td = ref_t(g, n->in[1]), *to = ref_t(g, n->out);
    int64_t V = to->ndim == 2 ? to->shape[0] : 0, D = to->ndim == 2 ? to->shape[1] : 0;
    int64_t cnt = ref_numel(ti);
    if (to->ndim != 2 || ti->dtype != G_I32 || td->dtype != G_F32 || ref_numel(td) != cnt * D ||
        ref_last_dim(td) != D)
        return cc_fail(CC_ERR_SHAPE, "embedding_grad: ids '%s' (%lld, must be i32), dy '%s' (%lld elements), "
                       "output '%s' must be [V, D] with dy = [..ids, D]",
                       ti->name, (long long)cnt, td->name, (long long)ref_numel(td), to->name);
    const int32_t *ids = data[n->in[0]];
    for (int64_t i = 0; i < cnt; i++)
        if (ids[i] < 0 || ids[i] >= V)
            return cc_fail(CC_ERR_INVALID, "embedding_grad: id %d at position %lld of '%s' is outside [0, %lld)",
                           (int)ids[i], (long long)i, ti->name, (long long)V);
    int64_t *start = calloc((size_t)V + 1, sizeof *start);
    int64_t *order = malloc((size_t)(cnt > 0 ? cnt : 1) * sizeof *order);
    double *acc = malloc((size_t)(D > 0 ? D : 1) * sizeof *acc);
    if (!start || !order || !acc) {
        free(start), free(order), free(acc);
        return cc_fail(CC_ERR_NOMEM, "embedding_grad: index of %lld ids into %lld rows for '%s'",
                       (long long)cnt, (long long)V, to->name);
    }
    for (int64_t i = 0; i < cnt; i++)
        start[ids[i] + 1]++;
    for (int64_t v = 0; v < V; v++)
        start[v + 1] += start[v];
    for (int64_t i = 0; i < cnt; i++)
        order[start[ids[i]]++] = i;
    /* start[v] now ends group v, i.e. begins group v+1: shift back */
    for (int64_t v = V; v > 0; v--)
        start[v] = start[v - 1];
    start[0] = 0;
    const float *dy = data[n->in[1]];
    float *o = data[n->out];
    for (int64_t v = 0; v < V; v++) {
        for (int64_t j = 0; j < D; j++)
            acc[j] = 0.0;
        for (int64_t p = start[v]; p < start[v + 1]; p++)
            for (int64_t j = 0; j < D; j++)
                acc[j] += dy[order[p] * D + j];
        for (int64_t j = 0; j < D; j++)
            o[v * D + j] = (float)acc[j];
    }
    free(start), free(order), free(acc);
    return CC_OK;
}

/* Moves 4-byte elements without looking at them, so i32 works too. */
int ref_slice_grad(const graph *g, const g_node *n, void **data)
{
    const g_tensor *td = ref_t(g, n->in[0]), *to = ref_t(g, n->out);
    int ax = n->attr.axis;
    int ok = ax >= 0 && ax < to->ndim && td->ndim == to->ndim;
    for (int i = 0; ok && i < to->ndim; i++)
        ok = i == ax || td->shape[i] == to->shape[i];
    if (!ok)
        return cc_fail(CC_ERR_SHAPE, "slice_grad: axis %d, dy '%s' (%d dims) must match output '%s' (%d dims) off the axis",
                       ax, td->name, td->ndim, to->name, to->ndim);
    int64_t outer = 1, inner = 1, len = td->shape[ax], dim = to->shape[ax];
    int64_t start = n->attr.start, step = n->attr.step;
    for (int i = 0; i < ax; i++)
        outer *= to->shape[i];
    for (int i = ax + 1; i < to->ndim; i++)
        inner *= to->shape[i];
    /* As the forward: dy's length decides the steps, all inside x's dim. */
    if (len > 0 && (step < 1 || start < 0 || start + (len - 1) * step >= dim))
        return cc_fail(CC_ERR_SHAPE, "slice_grad: start %lld step %lld x %lld leaves output '%s' dim %d (size %lld)",
                       (long long)start, (long long)step, (long long)len, to->name, ax, (long long)dim);
    const int32_t *dy = data[n->in[0]];
    int32_t *o = data[n->out];
    /* the arena may hand over dirty storage, so the zeros are written */
    memset(o, 0, (size_t)ref_numel(to) * 4);
    for (int64_t a = 0; a < outer; a++)
        for (int64_t i = 0; i < len; i++)
            memcpy(o + (a * dim + start + i * step) * inner, dy + (a * len + i) * inner, (size_t)inner * 4);
    return CC_OK;
}

