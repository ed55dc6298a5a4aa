/* Human-readable dumps: one line per live node, and Graphviz DOT. */
#include "graph/graph_internal.h"

#include <string.h>

static const char *dtype_name(g_dtype d) { return d == G_I32 ? "i32" : "f32"; }

int g_dump_text(const graph *g, FILE *f)
{
    if (!g || !f)
        return cc_fail(CC_ERR_INVALID, "g_dump_text: graph or file is NULL");
    char buf[96];
    fprintf(f, "graph: %d tensors, %d nodes\n", g->n_tensors, g->n_nodes);
    for (int t = 0; t < g->n_tensors; t++) {
        const g_tensor *T = &g->tensors[t];
        if (T->producer >= 0)
            continue;
        fprintf(f, "  %%%d %s '%s' %s %s\n", t, T->role == G_ROLE_PARAM ? "param" : "input",
                T->name, dtype_name(T->dtype), g_shape_str(g, t, buf, sizeof buf));
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const g_node *n = &g->nodes[i];
        if (n->dead)
            continue;
        fprintf(f, "  #%d %s '%s' (", i, g_op_name(n->op), n->name);
        for (int k = 0; k < n->n_in; k++)
            fprintf(f, "%s%%%d %s", k ? ", " : "", n->in[k],
                    g_shape_str(g, n->in[k], buf, sizeof buf));
        const g_tensor *O = &g->tensors[n->out];
        fprintf(f, ") -> %%%d %s %s", n->out, dtype_name(O->dtype),
                g_shape_str(g, n->out, buf, sizeof buf));
        if (O->alias_of >= 0)
            fprintf(f, " view of %%%d", O->alias_of);
        if (O->is_output)
            fprintf(f, " [output]");
        fputc('\n', f);
    }
    return ferror(f) ? cc_fail(CC_ERR_IO, "g_dump_text: write failed") : CC_OK;
}

/* DOT string literal: quotes and backslashes escaped, newlines as \\n, other control chars dropped. */
static void put_quoted(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', f);
        if (*s == '\n')
            fputs("\\n", f);
        else if ((unsigned char)*s >= 0x20)
            fputc(*s, f);
    }
    fputc('"', f);
}

int g_dump_dot(const graph *g, FILE *f)
{
    if (!g || !f)
        return cc_fail(CC_ERR_INVALID, "g_dump_dot: graph or file is NULL");
    char buf[96], label[G_NAME_LEN + 112];
    fprintf(f, "digraph clipcl {\n  rankdir=TB;\n  node [fontname=\"Helvetica\"];\n");
    /* Inputs and params are boxes; ops are ellipses. Each edge is a tensor,
     * labelled with its shape. */
    for (int t = 0; t < g->n_tensors; t++) {
        const g_tensor *T = &g->tensors[t];
        if (T->producer >= 0)
            continue;
        snprintf(label, sizeof label, "%s\n%s", T->name, g_shape_str(g, t, buf, sizeof buf));
        fprintf(f, "  t%d [shape=box, ", t);
        if (T->role == G_ROLE_PARAM)
            fprintf(f, "style=\"rounded,filled\", fillcolor=\"#dde8f7\", label=");
        else
            fprintf(f, "style=filled, fillcolor=\"#f7e7c6\", label=");
        put_quoted(f, label);
        fprintf(f, "];\n");
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const g_node *n = &g->nodes[i];
        if (n->dead)
            continue;
        snprintf(label, sizeof label, "%s\n%s", g_op_name(n->op), n->name);
        fprintf(f, "  n%d [shape=ellipse, label=", i);
        put_quoted(f, label);
        fprintf(f, "%s];\n", g->tensors[n->out].is_output ? ", peripheries=2" : "");
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const g_node *n = &g->nodes[i];
        if (n->dead)
            continue;
        for (int k = 0; k < n->n_in; k++) {
            int t = n->in[k], p = g->tensors[t].producer;
            if (p >= 0)
                fprintf(f, "  n%d -> n%d [label=", p, i);
            else
                fprintf(f, "  t%d -> n%d [label=", t, i);
            put_quoted(f, g_shape_str(g, t, buf, sizeof buf));
            fprintf(f, "];\n");
        }
    }
    /* Outputs get a sink so their shapes show too. */
    for (int t = 0; t < g->n_tensors; t++) {
        const g_tensor *T = &g->tensors[t];
        if (!T->is_output || T->producer < 0 || g->nodes[T->producer].dead)
            continue;
        fprintf(f, "  out%d [shape=plaintext, label=", t);
        put_quoted(f, T->name);
        fprintf(f, "];\n  n%d -> out%d [label=", T->producer, t);
        put_quoted(f, g_shape_str(g, t, buf, sizeof buf));
        fprintf(f, "];\n");
    }
    fprintf(f, "}\n");
    return ferror(f) ? cc_fail(CC_ERR_IO, "g_dump_dot: write failed") : CC_OK;
}
