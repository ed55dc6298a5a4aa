/* Arena memory planner: liveness intervals over schedule steps, then greedy
 * placement by decreasing size at the lowest free aligned offset. */
#include "graph/graph_internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct item {
    int t;
    int start, end; /* inclusive schedule steps */
    size_t size;    /* aligned */
} item;

static int by_size_desc(const void *pa, const void *pb)
{
    const item *a = pa, *b = pb;
    if (a->size != b->size)
        return a->size < b->size ? 1 : -1;
    if (a->start != b->start)
        return a->start < b->start ? -1 : 1;
    return a->t < b->t ? -1 : (a->t > b->t);
}

static size_t align_up(size_t v, size_t a) { return (v + a - 1) / a * a; }

static int in_arena(const g_tensor *t)
{
    return (t->role == G_ROLE_ACT || t->role == G_ROLE_GRAD) && t->alias_of < 0;
}

/* Places items (already sorted largest first). placed[] is kept sorted by
 * offset so each search is a single sweep over the earlier placements. */
static size_t place_all(item *it, int n, size_t align, size_t *off, int *placed)
{
    int np = 0;
    size_t peak = 0;
    for (int i = 0; i < n; i++) {
        size_t cand = 0;
        for (int j = 0; j < np; j++) {
            const item *o = &it[placed[j]];
            if (o->end < it[i].start || it[i].end < o->start)
                continue; /* never live at the same time */
            size_t oo = off[o->t];
            if (cand + it[i].size <= oo)
                break; /* fits in the gap before o */
            size_t e = align_up(oo + o->size, align);
            if (e > cand)
                cand = e;
        }
        off[it[i].t] = cand;
        if (cand + it[i].size > peak)
            peak = cand + it[i].size;
        int k = np++;
        while (k > 0 && off[it[placed[k - 1]].t] > cand) {
            placed[k] = placed[k - 1];
            k--;
        }
        placed[k] = i;
    }
    return peak;
}

int g_live_ranges(const graph *g, const int *order, int n_order, int *start, int *end)
{
    if (!g || !start || !end || n_order < 0 || (n_order > 0 && !order))
        return cc_fail(CC_ERR_INVALID, "g_live_ranges: graph, order or range arrays missing");
    int nt = g->n_tensors;
    for (int t = 0; t < nt; t++) {
        start[t] = -1;
        end[t] = -1;
    }
    for (int p = 0; p < n_order; p++) {
        int nid = order[p];
        if (nid < 0 || nid >= g->n_nodes)
            return cc_fail(CC_ERR_INVALID, "g_plan_memory: order[%d] = %d is not a node id", p, nid);
        int t = g->nodes[nid].out;
        int r = g_storage_root(g, t);
        if (r == t && start[t] < 0)
            start[t] = end[t] = p;
        /* A view produced at p keeps its root alive to at least p. */
        if (r != t && r >= 0 && end[r] < p)
            end[r] = p;
    }
    for (int p = 0; p < n_order; p++) {
        const g_node *n = &g->nodes[order[p]];
        for (int k = 0; k < n->n_in; k++) {
            int r = g_storage_root(g, n->in[k]);
            if (r >= 0 && end[r] < p)
                end[r] = p;
        }
    }
    for (int t = 0; t < nt; t++)
        if (g->tensors[t].is_output) {
            int r = g_storage_root(g, t);
            if (r >= 0 && start[r] >= 0)
                end[r] = n_order; /* past the last step: readable after the run */
        }
    return CC_OK;
}

int g_plan_memory(const graph *g, const int *order, int n_order, size_t align, g_memplan *out)
{
    if (!out)
        return cc_fail(CC_ERR_INVALID, "g_plan_memory: out is NULL");
    memset(out, 0, sizeof *out);
    if (!g || (n_order > 0 && !order) || n_order < 0)
        return cc_fail(CC_ERR_INVALID, "g_plan_memory: graph or order missing");
    if (align == 0 || (align & (align - 1)) != 0)
        return cc_fail(CC_ERR_INVALID, "g_plan_memory: align %zu, expected a power of two",
                       align);
    int nt = g->n_tensors;
    size_t *off = malloc((size_t)(nt ? nt : 1) * sizeof *off);
    int *start = malloc((size_t)(nt ? nt : 1) * sizeof *start);
    int *end = malloc((size_t)(nt ? nt : 1) * sizeof *end);
    item *it = malloc((size_t)(nt ? nt : 1) * sizeof *it);
    int *placed = malloc((size_t)(nt ? nt : 1) * sizeof *placed);
    int rc = CC_OK;
    if (!off || !start || !end || !it || !placed) {
        rc = cc_fail(CC_ERR_NOMEM, "g_plan_memory: out of memory for %d tensors", nt);
        goto fail;
    }
    for (int t = 0; t < nt; t++)
        off[t] = (size_t)-1;
    if ((rc = g_live_ranges(g, order, n_order, start, end)))
        goto fail;

    int n = 0;
    size_t naive = 0;
    for (int t = 0; t < nt; t++) {
        if (!in_arena(&g->tensors[t]) || start[t] < 0)
            continue;
        it[n].t = t;
        it[n].start = start[t];
        it[n].end = end[t];
        it[n].size = align_up(g_nbytes(g, t), align);
        naive += it[n].size;
        n++;
    }
    qsort(it, (size_t)n, sizeof *it, by_size_desc);
    out->arena_bytes = place_all(it, n, align, off, placed);
    out->naive_bytes = naive;
    /* Views share their root's bytes, so they report the root's offset. */
    for (int t = 0; t < nt; t++) {
        int r = g_storage_root(g, t);
        if (r != t && r >= 0 && in_arena(&g->tensors[r]))
            off[t] = off[r];
    }
    out->offset = off;
    out->n_tensors = nt;
    off = NULL;
fail:
    free(off);
    free(start);
    free(end);
    free(it);
    free(placed);
    return rc;
}

void g_memplan_free(g_memplan *p)
{
    if (!p)
        return;
    free(p->offset);
    memset(p, 0, sizeof *p);
}
