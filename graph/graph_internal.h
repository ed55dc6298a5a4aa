/* Helpers shared by the graph/ sources only (not part of the contract). */
#ifndef CLIPCL_GRAPH_INTERNAL_H
#define CLIPCL_GRAPH_INTERNAL_H

#include "graph/graph.h"
#include "runtime/status.h"

/* Records a builder failure: bumps g->n_errors, sets the message, returns -1. */
int g_err(graph *g, cc_code code, const char *fmt, ...) CC_PRINTF(3, 4);

/* 1 when t names a tensor of g; 0 for -1 (silent: an earlier failure);
 * -1 after recording an error for any other bad id. */
int g_check_id(graph *g, const char *op, int t);

/* 0 when t is f32, else -1 after recording an error naming op and what. */
int g_need_f32(graph *g, const char *op, const char *what, int t);

/* The shape string of t in a small ring of static buffers, so one message
 * can name several shapes. Only for building error messages. */
const char *g_sh(const graph *g, int t);

/* Formats an arbitrary shape the way g_shape_str does. */
const char *g_fmt_shape(int ndim, const int64_t *shape, char *buf, size_t len);

#endif
