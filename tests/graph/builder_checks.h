/* Shared by the graph builder tests: shape/dtype expectations and the
 * error-path check (a failed builder returns -1, bumps n_errors by one, adds
 * no node, and its message names the op and the shapes). */
#ifndef CLIPCL_TESTS_BUILDER_CHECKS_H
#define CLIPCL_TESTS_BUILDER_CHECKS_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "graph/graph.h"
#include "runtime/status.h"

#define SHAPE(...) ((const int64_t[]){__VA_ARGS__})
#define NDIM(...) ((int)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))
#define IN(g, ...) g_input(g, "x", G_F32, NDIM(__VA_ARGS__), SHAPE(__VA_ARGS__))
#define IN_I32(g, ...) g_input(g, "ids", G_I32, NDIM(__VA_ARGS__), SHAPE(__VA_ARGS__))
#define PAR(g, ...) g_param(g, "w", NDIM(__VA_ARGS__), SHAPE(__VA_ARGS__))

static void check_shape(const graph *g, int t, g_dtype dt, int ndim, const int64_t *shape,
                        int line)
{
    if (t < 0)
        fail_msg("line %d: builder failed: %s", line, cc_last_error());
    char got[96], want[96];
    g_shape_str(g, t, got, sizeof got);
    graph tmp = {0};
    g_tensor tt = {0};
    tt.ndim = ndim;
    memcpy(tt.shape, shape, (size_t)ndim * sizeof shape[0]);
    tmp.tensors = &tt;
    tmp.n_tensors = 1;
    g_shape_str(&tmp, 0, want, sizeof want);
    if (strcmp(got, want) != 0)
        fail_msg("line %d: shape %s, expected %s", line, got, want);
    if (g->tensors[t].dtype != dt)
        fail_msg("line %d: dtype %d, expected %d", line, g->tensors[t].dtype, dt);
}
#define EXPECT(g, t, ...) check_shape(g, t, G_F32, NDIM(__VA_ARGS__), SHAPE(__VA_ARGS__), __LINE__)
#define EXPECT_I32(g, t, ...) \
    check_shape(g, t, G_I32, NDIM(__VA_ARGS__), SHAPE(__VA_ARGS__), __LINE__)

/* The builder call must fail, bump n_errors by one, add no node, and the
 * message must contain each given fragment (op name, shapes). */
static void check_err(graph *g, int r, int errs_before, int nodes_before, int line,
                      const char *const *frags)
{
    const char *msg = cc_last_error();
    if (r != -1)
        fail_msg("line %d: expected -1, got %d", line, r);
    if (g->n_errors != errs_before + 1)
        fail_msg("line %d: n_errors %d, expected %d", line, g->n_errors, errs_before + 1);
    if (g->n_nodes != nodes_before)

        fail_msg("line %d: a failed builder appended a node", line);
    for (; *frags; frags++)
        if (!strstr(msg, *frags))
            fail_msg("line %d: message \"%s\" lacks \"%s\"", line, msg, *frags);
}
#define EXPECT_ERR(g, call, ...)                                                  \
    do {                                                                          \
        int e0_ = (g)->n_errors, n0_ = (g)->n_nodes;                              \
        cc_clear_error();                                                         \
        int r_ = (call);                                                          \
        check_err(g, r_, e0_, n0_, __LINE__, (const char *const[]){__VA_ARGS__, NULL}); \
    } while (0)

#endif
