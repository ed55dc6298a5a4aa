/* Graph storage: tensor and node arrays, tensor declaration, node appending. */
#include "graph/graph_internal.h"
#include "graph/op_table.h"
#include "runtime/grow.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

graph *g_new(void)
{
    graph *g = calloc(1, sizeof *g);
    if (!g) {
        cc_fail(CC_ERR_NOMEM, "g_new: out of memory allocating a graph");
        return NULL;
    }
    return g;
}

void g_free(graph *g)
{
    if (!g)
        return;
    free(g->tensors);
    free(g->nodes);
    free(g);
}

int g_err(graph *g, cc_code code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (g)
        g->n_errors++;
    cc_fail(code, "%s", msg);
    return -1;
}

int g_check_id(graph *g, const char *op, int t)
{
    if (t == -1)
        return 0;
    if (t < 0 || t >= g->n_tensors)
        return g_err(g, CC_ERR_INVALID, "%s: tensor id %d does not exist (graph has %d tensors)",
                     op, t, g->n_tensors);
    return 1;
}

const char *g_fmt_shape(int ndim, const int64_t *shape, char *buf, size_t len)
{
    size_t used = 0;
    if (!buf || len == 0)
        return "";
    buf[0] = '\0';
    used += (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < ndim && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%lld", i ? ", " : "",
                                 (long long)shape[i]);
    if (used < len)
        snprintf(buf + used, len - used, "]");
    return buf;
}

const char *g_shape_str(const graph *g, int t, char *buf, size_t len)
{
    if (!g || t < 0 || t >= g->n_tensors) {
        if (buf && len)
            snprintf(buf, len, "[?]");
        return buf ? buf : "";
    }
    return g_fmt_shape(g->tensors[t].ndim, g->tensors[t].shape, buf, len);
}

const char *g_sh(const graph *g, int t)
{
    static _Thread_local char ring[8][96];
    static _Thread_local int next;
    char *buf = ring[next];
    next = (next + 1) % 8;
    return g_shape_str(g, t, buf, sizeof ring[0]);
}

static int check_shape(graph *g, const char *what, const char *name, int ndim,
                       const int64_t *shape)
{
    if (ndim < 1 || ndim > G_MAX_DIMS)
        return g_err(g, CC_ERR_SHAPE, "%s '%s': ndim %d, expected 1..%d", what,
                     name ? name : "", ndim, G_MAX_DIMS);
    if (!shape)
        return g_err(g, CC_ERR_INVALID, "%s '%s': shape is NULL", what, name ? name : "");
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 1) {
            char buf[96];
            return g_err(g, CC_ERR_SHAPE, "%s '%s': shape %s has dim %d = %lld, expected >= 1",
                         what, name ? name : "", g_fmt_shape(ndim, shape, buf, sizeof buf), i,
                         (long long)shape[i]);
        }
    return 0;
}

static int new_tensor(graph *g, const char *name, g_dtype dt, g_role role, int ndim,
                      const int64_t *shape)
{
    if (cc_grow((void **)&g->tensors, &g->cap_tensors, g->n_tensors + 1, sizeof(g_tensor), "graph tensors"))
        return g_err(g, CC_ERR_NOMEM, "graph: out of memory growing tensors to %d",
                     g->n_tensors + 1);
    int id = g->n_tensors++;
    g_tensor *t = &g->tensors[id];
    memset(t, 0, sizeof *t);
    if (name)
        snprintf(t->name, sizeof t->name, "%s", name);
    t->dtype = dt;
    t->role = role;
    t->ndim = ndim;
    memcpy(t->shape, shape, (size_t)ndim * sizeof shape[0]);
    t->producer = -1;
    t->alias_of = -1;
    return id;
}

int g_input(graph *g, const char *name, g_dtype dt, int ndim, const int64_t *shape)
{
    if (!g)
        return cc_fail(CC_ERR_INVALID, "g_input: graph is NULL"), -1;
    if (dt != G_F32 && dt != G_I32)
        return g_err(g, CC_ERR_INVALID, "g_input '%s': dtype %d, expected G_F32 or G_I32",
                     name ? name : "", (int)dt);
    if (check_shape(g, "g_input", name, ndim, shape))
        return -1;
    return new_tensor(g, name, dt, G_ROLE_INPUT, ndim, shape);
}

int g_param(graph *g, const char *name, int ndim, const int64_t *shape)
{
    if (!g)
        return cc_fail(CC_ERR_INVALID, "g_param: graph is NULL"), -1;
    if (check_shape(g, "g_param", name, ndim, shape))
        return -1;
    return new_tensor(g, name, G_F32, G_ROLE_PARAM, ndim, shape);
}

/* The node as it would be appended, for the op table's inference. */
static g_node draft(g_op op, int n_in, const int *in, const g_attr *attr)
{
    g_node n = {0};
    n.op = op;
    n.n_in = n_in;
    memcpy(n.in, in, (size_t)n_in * sizeof in[0]);
    n.out = -1;
    if (attr)
        n.attr = *attr;
    return n;
}

static int check_arity(graph *g, const g_op_row *row, int n_in)
{
    if (n_in < row->min_in || n_in > row->max_in)
        return g_err(g, CC_ERR_INVALID, "g_append_node(%s): %d inputs, expected %d..%d", row->name, n_in,
                     row->min_in, row->max_in);
    return 0;
}

/* The op table's arity check, and its inferred output against the recorded one. */
static int check_row(graph *g, g_op op, int n_in, const int *in, const g_attr *attr, g_dtype out_dt,
                     int out_ndim, const int64_t *out_shape)
{
    const g_op_row *row = g_op_info(op);
    if (check_arity(g, row, n_in))
        return -1;
    g_node n = draft(op, n_in, in, attr);
    g_tensor want = {0};
    want.dtype = out_dt;
    want.ndim = out_ndim;
    memcpy(want.shape, out_shape, (size_t)out_ndim * sizeof out_shape[0]);
    if (row->infer(g, &n, &want))
        return -1;
    if (want.dtype != out_dt || want.ndim != out_ndim ||
        memcmp(want.shape, out_shape, (size_t)out_ndim * sizeof out_shape[0]) != 0) {
        char got[96], exp[96];
        return g_err(g, CC_ERR_SHAPE, "g_append_node(%s): output %s %s, expected %s%s", row->name,
                     out_dt == G_I32 ? "i32" : "f32", g_fmt_shape(out_ndim, out_shape, got, sizeof got),
                     want.dtype == out_dt ? "" : want.dtype == G_I32 ? "i32 " : "f32 ",
                     g_fmt_shape(want.ndim, want.shape, exp, sizeof exp));
    }
    return 0;
}

static int append(graph *g, g_op op, int n_in, const int *in, const g_attr *attr, g_dtype out_dt, int out_ndim,
                  const int64_t *out_shape, int checked)
{
    if (!g)
        return cc_fail(CC_ERR_INVALID, "g_append_node: graph is NULL"), -1;
    const char *opn = g_op_name(op);
    if ((int)op < 0 || op >= G_OP_COUNT)
        return g_err(g, CC_ERR_INVALID, "g_append_node: op %d, expected 0..%d", (int)op,
                     G_OP_COUNT - 1);
    if (n_in < 0 || n_in > G_MAX_INPUTS || (n_in > 0 && !in))
        return g_err(g, CC_ERR_INVALID, "g_append_node(%s): %d inputs, expected 0..%d", opn,
                     n_in, G_MAX_INPUTS);
    for (int i = 0; i < n_in; i++)
        if (in[i] < 0 || in[i] >= g->n_tensors)
            return g_err(g, CC_ERR_INVALID,
                         "g_append_node(%s): input %d is tensor id %d, expected 0..%d", opn, i,
                         in[i], g->n_tensors - 1);
    if (out_dt != G_F32 && out_dt != G_I32)
        return g_err(g, CC_ERR_INVALID, "g_append_node(%s): output dtype %d", opn, (int)out_dt);
    if (check_shape(g, "g_append_node output of", opn, out_ndim, out_shape))
        return -1;
    if (checked && check_row(g, op, n_in, in, attr, out_dt, out_ndim, out_shape))
        return -1;
    /* Callers often pass pointers into g's own arrays (a tensor's shape, a
     * node's inputs or attrs), which the growth below may move: copy first. */
    int64_t shape[G_MAX_DIMS];
    int ins[G_MAX_INPUTS];
    g_attr at = {0};
    memcpy(shape, out_shape, (size_t)out_ndim * sizeof shape[0]);
    if (n_in > 0)
        memcpy(ins, in, (size_t)n_in * sizeof ins[0]);
    if (attr)
        at = *attr;
    if (cc_grow((void **)&g->nodes, &g->cap_nodes, g->n_nodes + 1, sizeof(g_node), "graph nodes"))
        return g_err(g, CC_ERR_NOMEM, "graph: out of memory growing nodes to %d",
                     g->n_nodes + 1);

    int nid = g->n_nodes;
    char name[G_NAME_LEN];
    snprintf(name, sizeof name, "%s_%d", opn, nid);
    int t = new_tensor(g, name, out_dt, G_ROLE_ACT, out_ndim, shape);
    if (t < 0)
        return -1;
    g->n_nodes++;
    g_node *n = &g->nodes[nid];
    memset(n, 0, sizeof *n);
    n->op = op;
    n->n_in = n_in;
    for (int i = 0; i < n_in; i++)
        n->in[i] = ins[i];
    n->out = t;
    n->attr = at;
    snprintf(n->name, sizeof n->name, "%s", name);
    g->tensors[t].producer = nid;
    /* A view op (reshape) is always a view, whoever appends it (builder or pass). */
    if (g_op_info(op)->view && n_in >= 1)
        g->tensors[t].alias_of = g_storage_root(g, ins[0]);
    return t;
}

int g_append_node(graph *g, g_op op, int n_in, const int *in, const g_attr *attr, g_dtype out_dt, int out_ndim,
                  const int64_t *out_shape)
{
    return append(g, op, n_in, in, attr, out_dt, out_ndim, out_shape, 1);
}

int g_op_append(graph *g, g_op op, int n_in, const int *in, const g_attr *attr)
{
    if (!g)
        return cc_fail(CC_ERR_INVALID, "g_op_append: graph is NULL"), -1;
    if ((int)op < 0 || op >= G_OP_COUNT)
        return g_err(g, CC_ERR_INVALID, "g_op_append: op %d, expected 0..%d", (int)op, G_OP_COUNT - 1);
    const g_op_row *row = g_op_info(op);
    if (n_in < 0 || n_in > G_MAX_INPUTS || (n_in > 0 && !in))
        return g_err(g, CC_ERR_INVALID, "g_op_append(%s): %d inputs, expected 0..%d", row->name, n_in,
                     G_MAX_INPUTS);
    if (check_arity(g, row, n_in))
        return -1;
    for (int i = 0; i < n_in; i++)
        if (in[i] < 0 || in[i] >= g->n_tensors)
            return g_err(g, CC_ERR_INVALID, "g_op_append(%s): input %d is tensor id %d, expected 0..%d", row->name,
                         i, in[i], g->n_tensors - 1);
    g_node n = draft(op, n_in, in, attr);
    g_tensor out = {0};
    if (row->infer(g, &n, &out))
        return -1;
    /* inferred by the row itself: no second check */
    return append(g, op, n_in, in, attr, out.dtype, out.ndim, out.shape, 0);
}

int g_append_node_unchecked(graph *g, g_op op, int n_in, const int *in, const g_attr *attr, g_dtype out_dt,
                            int out_ndim, const int64_t *out_shape)
{
    return append(g, op, n_in, in, attr, out_dt, out_ndim, out_shape, 0);
}

void g_mark_output(graph *g, int t)
{
    if (g && t >= 0 && t < g->n_tensors)
        g->tensors[t].is_output = 1;
}

/* Names the producing node too, so profiles and dumps show the caller's name. */
void g_set_name(graph *g, int t, const char *name)
{
    if (!g || !name || t < 0 || t >= g->n_tensors)
        return;
    snprintf(g->tensors[t].name, sizeof g->tensors[t].name, "%s", name);
    int p = g->tensors[t].producer;
    if (p >= 0 && p < g->n_nodes)
        snprintf(g->nodes[p].name, sizeof g->nodes[p].name, "%s", name);
}

int64_t g_numel(const graph *g, int t)
{
    if (!g || t < 0 || t >= g->n_tensors)
        return 0;
    int64_t n = 1;
    for (int i = 0; i < g->tensors[t].ndim; i++)
        n *= g->tensors[t].shape[i];
    return n;
}

/* Both dtypes are 4 bytes wide. */
size_t g_nbytes(const graph *g, int t)
{
    return (size_t)g_numel(g, t) * 4u;
}

int g_storage_root(const graph *g, int t)
{
    if (!g || t < 0 || t >= g->n_tensors)
        return -1;
    /* Bounded walk: a malformed alias chain must not hang. */
    for (int hops = 0; hops <= g->n_tensors; hops++) {
        int a = g->tensors[t].alias_of;
        if (a < 0 || a >= g->n_tensors)
            return t;
        t = a;
    }
    return t;
}

int g_need_f32(graph *g, const char *op, const char *what, int t)
{
    if (g->tensors[t].dtype != G_F32)
        return g_err(g, CC_ERR_SHAPE, "%s: %s %s is i32, expected f32", op, what, g_sh(g, t));
    return 0;
}

int g_find_tensor(const graph *g, const char *name)
{
    if (!g || !name)
        return -1;
    for (int t = 0; t < g->n_tensors; t++)
        if (strcmp(g->tensors[t].name, name) == 0)
            return t;
    return -1;
}
