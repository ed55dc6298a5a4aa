/* Topological order of the live nodes that the outputs need (Kahn's algorithm). */
#include "graph/graph_internal.h"

#include <stdlib.h>
#include <string.h>

/* A binary min-heap of node ids: among ready nodes the oldest goes first, so
 * an untouched graph schedules in creation order and dumps stay readable. */
static void heap_push(int *h, int *n, int v)
{
    int i = (*n)++;
    h[i] = v;
    while (i > 0 && h[(i - 1) / 2] > h[i]) {
        int p = (i - 1) / 2, t = h[p];
        h[p] = h[i];
        h[i] = t;
        i = p;
    }
}

static int heap_pop(int *h, int *n)
{
    int top = h[0];
    h[0] = h[--(*n)];
    for (int i = 0;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < *n && h[l] < h[m])
            m = l;
        if (r < *n && h[r] < h[m])
            m = r;
        if (m == i)
            break;
        int t = h[m];
        h[m] = h[i];
        h[i] = t;
        i = m;
    }
    return top;
}

/* Marks the live nodes that some output needs; returns -1 if a needed tensor's
 * producer is dead (nothing could compute it). */
static int mark_needed(const graph *g, char *need, int *stack)
{
    int any_output = 0, sp = 0;
    for (int t = 0; t < g->n_tensors; t++)
        if (g->tensors[t].is_output) {
            any_output = 1;
            int p = g->tensors[t].producer;
            if (p >= 0 && !need[p]) {
                need[p] = 1;
                stack[sp++] = p;
            }
        }
    if (!any_output) {
        for (int i = 0; i < g->n_nodes; i++)
            need[i] = !g->nodes[i].dead;
    }
    while (sp > 0) {
        const g_node *n = &g->nodes[stack[--sp]];
        for (int i = 0; i < n->n_in; i++) {
            int p = g->tensors[n->in[i]].producer;
            if (p >= 0 && !need[p]) {
                need[p] = 1;
                stack[sp++] = p;
            }
        }
    }
    for (int i = 0; i < g->n_nodes; i++) {
        if (!need[i])
            continue;
        const g_node *n = &g->nodes[i];
        if (n->dead) {
            if (any_output)
                return cc_fail(CC_ERR_INVALID,
                               "g_schedule: node %d (%s '%s') is dead but an output needs it",
                               i, g_op_name(n->op), n->name),
                       -1;
            need[i] = 0;
            continue;
        }
        for (int k = 0; k < n->n_in; k++) {
            int p = g->tensors[n->in[k]].producer;
            if (p >= 0 && g->nodes[p].dead)
                return cc_fail(CC_ERR_INVALID,
                               "g_schedule: node %d (%s '%s') reads tensor %d whose producer "
                               "%d is dead",
                               i, g_op_name(n->op), n->name, n->in[k], p),
                       -1;
        }
    }
    return 0;
}

int g_schedule(const graph *g, int *order)
{
    if (!g || (!order && g->n_nodes > 0))
        return cc_fail(CC_ERR_INVALID, "g_schedule: graph or order is NULL"), -1;
    int nn = g->n_nodes;
    if (nn == 0)
        return 0;
    char *need = calloc((size_t)nn, 1);
    int *indeg = calloc((size_t)nn, sizeof *indeg);
    int *heap = malloc((size_t)nn * sizeof *heap);
    /* consumers of each node's output, in CSR form */
    int *cstart = calloc((size_t)nn + 1, sizeof *cstart);
    int *clist = NULL;
    int count = -1;
    if (!need || !indeg || !heap || !cstart) {
        cc_fail(CC_ERR_NOMEM, "g_schedule: out of memory for %d nodes", nn);
        goto done;
    }
    if (mark_needed(g, need, heap))
        goto done;

    int edges = 0;
    for (int i = 0; i < nn; i++) {
        if (!need[i])
            continue;
        for (int k = 0; k < g->nodes[i].n_in; k++) {
            int p = g->tensors[g->nodes[i].in[k]].producer;
            if (p >= 0 && need[p]) {
                cstart[p + 1]++;
                indeg[i]++;
                edges++;
            }
        }
    }
    for (int i = 0; i < nn; i++)
        cstart[i + 1] += cstart[i];
    clist = malloc((size_t)(edges ? edges : 1) * sizeof *clist);
    int *fill = malloc((size_t)nn * sizeof *fill);
    if (!clist || !fill) {
        free(fill);
        cc_fail(CC_ERR_NOMEM, "g_schedule: out of memory for %d edges", edges);
        goto done;
    }
    memcpy(fill, cstart, (size_t)nn * sizeof *fill);
    for (int i = 0; i < nn; i++) {
        if (!need[i])
            continue;
        for (int k = 0; k < g->nodes[i].n_in; k++) {
            int p = g->tensors[g->nodes[i].in[k]].producer;
            if (p >= 0 && need[p])
                clist[fill[p]++] = i;
        }
    }
    free(fill);

    int hn = 0, n_need = 0;
    for (int i = 0; i < nn; i++) {
        n_need += need[i];
        if (need[i] && indeg[i] == 0)
            heap_push(heap, &hn, i);
    }
    count = 0;
    while (hn > 0) {
        int v = heap_pop(heap, &hn);
        order[count++] = v;
        for (int e = cstart[v]; e < cstart[v + 1]; e++)
            if (--indeg[clist[e]] == 0)
                heap_push(heap, &hn, clist[e]);
    }
    if (count != n_need) {
        cc_fail(CC_ERR_INVALID, "g_schedule: cycle: only %d of %d needed nodes could be ordered",
                count, n_need);
        count = -1;
    }
done:
    free(need);
    free(indeg);
    free(heap);
    free(cstart);
    free(clist);
    return count;
}
