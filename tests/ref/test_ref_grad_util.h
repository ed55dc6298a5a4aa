/* Finite-difference oracle for the ref backward ops: a gradient is judged
 * against central differences of L(p) = sum_j out[j] * r[j], where out is
 * the ref FORWARD op recomputed by ref_eval on perturbed inputs. Checking
 * every element of p (not one random direction) catches a wrong index as
 * well as a wrong formula, and using the ref forward op checks that the
 * backward agrees with the forward's own conventions (masks, head layout,
 * padding, attribute reading). */
#ifndef CLIPCL_TEST_REF_GRAD_UTIL_H
#define CLIPCL_TEST_REF_GRAD_UTIL_H

#include <string.h>

#include "tests/ref/ref_test_util.h"
#include "runtime/settings.h"

static inline double gu_loss(const graph *g, void **d, int out, const float *r)
{
    rt_eval_ok(g, d);
    const float *o = d[out];
    int64_t n = g_numel(g, out);
    double s = 0.0;
    for (int64_t j = 0; j < n; j++)
        s += (double)o[j] * r[j];
    return s;
}

/* p: the caller's array bound to an input of g (np elements); grad: the
 * backward result, copied out before this call (ref_eval reruns the whole
 * graph). Passes when |grad - fd| <= tol * scale for every element, scale
 * being the largest |fd| (so near-zero components are judged on the
 * gradient's own scale). Fails if fd is identically zero: a check whose
 * reference vanishes proves nothing. Returns the worst error / scale. */
static inline double gu_fd_check_(const graph *g, void **d, float *p, int64_t np, int out,
                                  const float *r, const float *grad, double h, double tol,
                                  const char *what, int line)
{
    double *fd = malloc((size_t)np * sizeof *fd);
    assert_non_null(fd);
    double scale = 0.0, worst = 0.0;
    for (int64_t i = 0; i < np; i++) {
        float p0 = p[i];
        float pp = (float)(p0 + h), pm = (float)(p0 - h);
        p[i] = pp;
        double lp = gu_loss(g, d, out, r);
        p[i] = pm;
        double lm = gu_loss(g, d, out, r);
        p[i] = p0;
        /* divide by the step actually taken, after float rounding */
        fd[i] = (lp - lm) / ((double)pp - (double)pm);
        if (fabs(fd[i]) > scale)
            scale = fabs(fd[i]);
    }
    if (!(scale > 0.0)) {
        print_error("line %d, %s: finite differences are all zero\n", line, what);
        free(fd);
        fail();
    }
    for (int64_t i = 0; i < np; i++) {
        double err = fabs((double)grad[i] - fd[i]) / scale;
        if (err > worst)
            worst = err;
        if (!(err <= tol)) {
            print_error("line %d, %s[%lld]: got %.9g, finite differences %.9g (scale %.3g)\n", line,
                        what, (long long)i, grad[i], fd[i], scale);
            free(fd);
            fail();
        }
    }
    free(fd);
    if (rt_setting_value(RT_SET_TEST_VERBOSE)) /* to see the margin under tol */
        fprintf(stderr, "line %d, %s: worst |grad - fd| / scale = %.3g (tol %.3g)\n", line, what,
                worst, tol);
    gu_loss(g, d, out, r); /* leave the graph's results at the unperturbed point */
    return worst;
}
#define FD_CHECK(g, d, p, np, out, r, grad, h, tol) \
    gu_fd_check_((g), (d), (p), (np), (out), (r), (grad), (h), (tol), #grad, __LINE__)

/* A copy of a float tensor's current data (the caller frees it). */
static inline float *gu_copy(const graph *g, void **d, int t)
{
    int64_t n = g_numel(g, t);
    float *c = malloc((size_t)(n > 0 ? n : 1) * sizeof *c);
    assert_non_null(c);
    memcpy(c, d[t], (size_t)n * sizeof *c);
    return c;
}

/* Appends a node with an explicit output shape, asserting success. Skips the
 * op table's check: some tests hand the backend malformed nodes on purpose. */
static inline int gu_node(graph *g, g_op op, int n_in, const int *in, const g_attr *at, int ndim,
                          const int64_t *shape)
{
    int t = g_append_node_unchecked(g, op, n_in, in, at, G_F32, ndim, shape);
    if (t < 0)
        print_error("g_append_node: %s\n", cc_last_error());
    assert_true(t >= 0);
    return t;
}

/* Shape of tensor t, copied (graph arrays may move as nodes are added). */
static inline void gu_shape(const graph *g, int t, int *ndim, int64_t *shape)
{
    *ndim = g->tensors[t].ndim;
    memcpy(shape, g->tensors[t].shape, sizeof g->tensors[t].shape);
}

#endif
