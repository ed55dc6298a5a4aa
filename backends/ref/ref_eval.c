/* Reference evaluation of a whole graph: storage for activations, views
 * pointed at their roots, nodes run in schedule order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/ref/ref.h"
#include "backends/ref/ref_ops.h"

/* Follows alias_of to the tensor that owns the storage. Kept local (rather
 * than g_storage_root) so a malformed alias chain fails instead of looping. */
static int root_of(const graph *g, int t)
{
    for (int hops = 0; hops <= g->n_tensors && t >= 0 && t < g->n_tensors; hops++) {
        if (g->tensors[t].alias_of < 0)
            return t;
        t = g->tensors[t].alias_of;
    }
    return -1;
}

static int is_act(const g_tensor *t) { return t->role == G_ROLE_ACT || t->role == G_ROLE_GRAD; }

static int check_tensor(const graph *g, int t, const char *what)
{
    if (t < 0 || t >= g->n_tensors)
        return cc_fail(CC_ERR_INVALID, "%s tensor id %d outside [0, %d)", what, t, g->n_tensors);
    return CC_OK;
}

int ref_eval_node(const graph *g, int node, void **data)
{
    if (!g || !data || node < 0 || node >= g->n_nodes)
        return cc_fail(CC_ERR_INVALID, "ref_eval_node: node %d outside [0, %d) or no graph/data",
                       node, g ? g->n_nodes : 0);
    const g_node *n = &g->nodes[node];
    if (n->n_in < 1 || n->n_in > G_MAX_INPUTS)
        return cc_fail(CC_ERR_INVALID, "%s has %d inputs", g_op_name(n->op), n->n_in);
    int rc = check_tensor(g, n->out, "output");
    if (rc)
        return rc;
    if (!data[n->out])
        return cc_fail(CC_ERR_INVALID, "output '%s' has no storage", g->tensors[n->out].name);
    for (int k = 0; k < n->n_in; k++) {
        if (n->in[k] < 0)
            continue; /* an absent optional input (bias, gamma, beta) */
        if ((rc = check_tensor(g, n->in[k], "input")))
            return rc;
        if (!data[n->in[k]])
            return cc_fail(CC_ERR_INVALID, "input %d '%s' has no data", k, g->tensors[n->in[k]].name);
    }
    ref_op_fn fn = ref_op_function(n->op);
    if (!fn)
        return cc_fail(CC_ERR_UNSUPPORTED, "ref backend: no reference function for op %s (kind %d)",
                       g_op_name(n->op), (int)n->op);
    return fn(g, n, data);
}

/* ACT/GRAD roots left NULL get zeroed storage; every view then points at
 * its root (which may be a caller-filled input). */
static int bind_storage(const graph *g, void **data)
{
    for (int t = 0; t < g->n_tensors; t++) {
        const g_tensor *tt = &g->tensors[t];
        if (tt->alias_of >= 0 || !is_act(tt) || data[t])
            continue;
        size_t bytes = (size_t)ref_numel(tt) * 4;
        data[t] = calloc(bytes ? bytes : 1, 1);
        if (!data[t])
            return cc_fail(CC_ERR_NOMEM, "ref_eval: %zu bytes for '%s'", bytes, tt->name);
    }
    for (int t = 0; t < g->n_tensors; t++) {
        if (g->tensors[t].alias_of < 0)
            continue;
        int r = root_of(g, t);
        if (r < 0)
            return cc_fail(CC_ERR_INVALID, "ref_eval: tensor '%s' has a broken alias chain", g->tensors[t].name);
        data[t] = data[r];
    }
    return CC_OK;
}

int ref_eval(const graph *g, void **data)
{
    if (!g || !data)
        return cc_fail(CC_ERR_INVALID, "ref_eval: graph or data is NULL");
    int rc = bind_storage(g, data);
    if (rc)
        return rc;
    int *order = malloc((size_t)(g->n_nodes > 0 ? g->n_nodes : 1) * sizeof *order);
    if (!order)
        return cc_fail(CC_ERR_NOMEM, "ref_eval: schedule of %d nodes", g->n_nodes);
    int cnt = g_schedule(g, order);
    if (cnt < 0) {
        free(order);
        return cc_fail(CC_ERR_INVALID, "ref_eval: the graph has a cycle (no schedule)");
    }
    for (int i = 0; i < cnt && !rc; i++) {
        rc = ref_eval_node(g, order[i], data);
        if (rc) {
            const g_node *n = &g->nodes[order[i]];
            cc_wrap(rc, "node %d '%s' (%s)", order[i], n->name[0] ? n->name : g->tensors[n->out].name,
                    g_op_name(n->op));
        }
    }
    free(order);
    return rc;
}

void ref_free_acts(const graph *g, void **data)
{
    if (!g || !data)
        return;
    /* NULL the views first, while their roots' roles are still readable. */
    for (int t = 0; t < g->n_tensors; t++) {
        if (g->tensors[t].alias_of < 0)
            continue;
        int r = root_of(g, t);
        if (r >= 0 && is_act(&g->tensors[r]))
            data[t] = NULL;
    }
    for (int t = 0; t < g->n_tensors; t++) {
        if (g->tensors[t].alias_of >= 0 || !is_act(&g->tensors[t]))
            continue;
        free(data[t]);
        data[t] = NULL;
    }
}
