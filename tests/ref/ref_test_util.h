/* Helpers shared by the ref backend tests: build a graph with the public
 * builders, bind caller arrays to its inputs, run ref_eval, compare. */
#ifndef CLIPCL_REF_TEST_UTIL_H
#define CLIPCL_REF_TEST_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "backends/ref/ref.h"
#include "runtime/status.h"

static inline int64_t *rt_shape_(int n, ...)
{
    static int64_t s[G_MAX_DIMS];
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++)
        s[i] = va_arg(ap, int64_t);
    va_end(ap);
    return s;
}
/* SH(2, 3) -> a shape array of int64 for g_input. */
#define RT_CNT_(...) RT_CNT2_(__VA_ARGS__, 6, 5, 4, 3, 2, 1)
#define RT_CNT2_(a, b, c, d, e, f, n, ...) n
#define SH(...) RT_CNT_(__VA_ARGS__), rt_shape_(RT_CNT_(__VA_ARGS__), RT_I64_(__VA_ARGS__))
#define RT_I64_(...) RT_MAP_(RT_CNT_(__VA_ARGS__), __VA_ARGS__)
#define RT_MAP_(n, ...) RT_MAPN_(n, __VA_ARGS__)
#define RT_MAPN_(n, ...) RT_MAP##n##_(__VA_ARGS__)
#define RT_MAP1_(a) (int64_t)(a)
#define RT_MAP2_(a, ...) (int64_t)(a), RT_MAP1_(__VA_ARGS__)
#define RT_MAP3_(a, ...) (int64_t)(a), RT_MAP2_(__VA_ARGS__)
#define RT_MAP4_(a, ...) (int64_t)(a), RT_MAP3_(__VA_ARGS__)
#define RT_MAP5_(a, ...) (int64_t)(a), RT_MAP4_(__VA_ARGS__)
#define RT_MAP6_(a, ...) (int64_t)(a), RT_MAP5_(__VA_ARGS__)

/* Float input/param of the given shape: IN(g, "x", 2, 3). */
#define IN(g, name, ...) g_input((g), (name), G_F32, SH(__VA_ARGS__))
#define IN_I32(g, name, ...) g_input((g), (name), G_I32, SH(__VA_ARGS__))

/* One slot per tensor; call after the graph is complete. */
static inline void **rt_slots(const graph *g)
{
    void **d = calloc((size_t)g->n_tensors + 1, sizeof *d);
    assert_non_null(d);
    return d;
}

/* Runs the graph; asserts success (printing the error otherwise). */
static inline void rt_eval_ok(const graph *g, void **d)
{
    int rc = ref_eval(g, d);
    if (rc)
        print_error("ref_eval: %s\n", cc_last_error());
    assert_int_equal(rc, 0);
}

static inline void rt_done(graph *g, void **d)
{
    ref_free_acts(g, d);
    free(d);
    g_free(g);
}

/* |got - want| <= tol * max(1, |want|), naming the index on failure. */
static inline void rt_near_(const float *got, const double *want, int n, double tol,
                            const char *what, int line)
{
    for (int i = 0; i < n; i++) {
        double err = fabs((double)got[i] - want[i]);
        double lim = tol * (fabs(want[i]) > 1.0 ? fabs(want[i]) : 1.0);
        if (!(err <= lim)) {
            print_error("line %d, %s[%d]: got %.9g, want %.9g\n", line, what, i, got[i], want[i]);
            fail();
        }
    }
}
#define NEAR(got, want, n, tol) rt_near_((got), (want), (n), (tol), #got, __LINE__)

/* Deterministic values in [-1, 1) (LCG), so tests never depend on rand(). */
static inline void rt_fill(float *x, int n, unsigned seed)
{
    uint32_t s = seed * 2654435761u + 1u;
    for (int i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = (float)((double)(s >> 8) / (double)(1u << 23) - 1.0);
    }
}

#endif
