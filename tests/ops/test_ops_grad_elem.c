/* The elementwise and data-movement backward/loss ops on OpenCL against the
 * ref backend: log, the activation derivatives, sum_to (both variants: the
 * split into chunks differs), broadcast_to, slice_grad and embedding_grad;
 * and the contract that slice_grad and embedding_grad write every element
 * of storage the arena hands over dirty (checked against hand sums). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/opencl/ocl_backend.h"
#include "tests/common/op_harness.h"

/* PoCL's float log is within a few ulp; the ref rounds a double log. */
#define RTOL_LOG 2e-6f
/* erf by A&S 7.1.26 (1.5e-7 absolute) and float exp against double. */
#define RTOL_GELU_GRAD 1e-6f
/* float exp and a few multiplies. */
#define RTOL_QUICKGELU_GRAD 1e-6f
#define RTOL_SIGMOID_GRAD 1e-6f
/* a select: exact */
#define RTOL_RELU_GRAD 0.0f
/* Float sums over up to ~5000 terms (in chunks) against a double sum. */
#define RTOL_SUM_TO 1e-5f
/* copies of 32-bit elements: exact */
#define RTOL_COPY 0.0f
/* float sums of up to 154 dy rows per id against double sums. */
#define RTOL_EMBEDDING_GRAD 1e-6f

static const char *variants[] = { "cpu", "gpu" };

static void check_log(int ndim, const int64_t *shape)
{
    graph *g = g_new();
    int x = g_input(g, "x", G_F32, ndim, shape);
    int y = g_log(g, x);
    assert_true(y >= 0);
    g_mark_output(g, y);
    oh_f32_range(x, 1e-3f, 50.0f);
    oh_opts o = oh_tol(RTOL_LOG);
    char label[96];
    snprintf(label, sizeof label, "log n=%lld", (long long)g_numel(g, x));
    assert_int_equal(oh_check(g, &o, label), 0);
    g_free(g);
}

static void test_log(void **state)
{
    (void)state;
    static const int64_t s1[] = { 1 }, s2[] = { 7, 33 }, s3[] = { 4, 16 }; /* 64: the 16-wide kernel */
    check_log(1, s1);
    check_log(2, s2);
    check_log(2, s3);
}

typedef int (*grad_builder)(graph *, int, int);

static void check_act(const char *name, grad_builder fn, float rtol, float lo, float hi, int ndim,
                      const int64_t *shape)
{
    graph *g = g_new();
    int x = g_input(g, "x", G_F32, ndim, shape);
    int dy = g_input(g, "dy", G_F32, ndim, shape);
    int y = fn(g, x, dy);
    assert_true(y >= 0);
    g_mark_output(g, y);
    oh_f32_range(x, lo, hi);
    oh_opts o = oh_tol(rtol);
    char label[96];
    snprintf(label, sizeof label, "%s n=%lld", name, (long long)g_numel(g, x));
    assert_int_equal(oh_check(g, &o, label), 0);
    g_free(g);
}

static void test_activation_grads(void **state)
{
    (void)state;
    /* 7x33 takes the one-element kernel, 3x5x16 and 2x77x64 the 16-wide one. */
    static const int64_t s1[] = { 7, 33 }, s2[] = { 3, 5, 16 }, s3[] = { 1 }, s4[] = { 2, 77, 64 };
    const int64_t *shapes[] = { s1, s2, s3, s4 };
    int ndims[] = { 2, 3, 1, 3 };
    for (int i = 0; i < 4; i++) {
        check_act("gelu_grad", g_gelu_grad, RTOL_GELU_GRAD, -4.0f, 4.0f, ndims[i], shapes[i]);
        check_act("quickgelu_grad", g_quickgelu_grad, RTOL_QUICKGELU_GRAD, -6.0f, 6.0f, ndims[i], shapes[i]);
        check_act("relu_grad", g_relu_grad, RTOL_RELU_GRAD, -1.0f, 1.0f, ndims[i], shapes[i]);
        /* y is a sigmoid output */
        check_act("sigmoid_grad", g_sigmoid_grad, RTOL_SIGMOID_GRAD, 0.0f, 1.0f, ndims[i], shapes[i]);
    }
}

static void check_sum_to(int nx, const int64_t *xs, int ny, const int64_t *ys)
{
    for (int v = 0; v < 2; v++) {
        setenv("CLIPCL_FORCE_VARIANT", variants[v], 1);
        graph *g = g_new();
        int x = g_input(g, "x", G_F32, nx, xs);
        int y = g_sum_to(g, x, ny, ys);
        assert_true(y >= 0);
        g_mark_output(g, y);
        oh_opts o = oh_tol(RTOL_SUM_TO);
        char label[96], a[48], b[48];
        snprintf(label, sizeof label, "sum_to %s %s->%s", variants[v], g_shape_str(g, x, a, sizeof a),
                 g_shape_str(g, y, b, sizeof b));
        assert_int_equal(oh_check(g, &o, label), 0);
        g_free(g);
    }
    unsetenv("CLIPCL_FORCE_VARIANT");
}

static void test_sum_to(void **state)
{
    (void)state;
    static const int64_t a[] = { 7, 33 }, a1[] = { 33 }, a2[] = { 7, 1 }, a3[] = { 1, 33 };
    check_sum_to(2, a, 1, a1);                 /* [N, C] -> [C]: a bias gradient */
    check_sum_to(2, a, 2, a2);                 /* row sums */
    check_sum_to(2, a, 2, a3);
    check_sum_to(2, a, 2, a);                  /* nothing reduced */
    static const int64_t b[] = { 2, 77, 33 }, b1[] = { 1, 1, 33 }, b2[] = { 2, 1, 33 };
    check_sum_to(3, b, 3, b1);                 /* [B, T, C] -> [1, 1, C] */
    check_sum_to(3, b, 3, b2);
    static const int64_t c[] = { 5, 3, 7, 9 }, c1[] = { 3, 1, 1 }, c2[] = { 1 };
    check_sum_to(4, c, 3, c1);                 /* [N, O, H, W] -> [O, 1, 1]: a conv bias */
    check_sum_to(4, c, 1, c2);                 /* everything to one value */
    static const int64_t d[] = { 2, 3, 4, 5, 6 }, d1[] = { 3, 1, 5, 1 };
    check_sum_to(5, d, 4, d1);                 /* reduced and kept dims alternate */
    static const int64_t e[] = { 6, 5, 4, 3, 2, 7 }, e1[] = { 5, 1, 3, 1, 7 };
    check_sum_to(6, e, 5, e1);                 /* three kept, three reduced */
    static const int64_t f[] = { 3, 1, 5 }, f1[] = { 1, 1, 5 }, f2[] = { 1 };
    check_sum_to(3, f, 3, f1);                 /* size-1 dims in x */
    check_sum_to(1, f2, 1, f2);
    /* Few outputs over long reductions: cut into uneven chunks (both variants). */
    static const int64_t h[] = { 2049, 3 }, h1[] = { 3 }, k[] = { 3, 5000 }, k1[] = { 3, 1 };
    static const int64_t m[] = { 769, 33 };
    check_sum_to(2, h, 1, h1);
    check_sum_to(2, k, 2, k1);                 /* contiguous rows, chunked */
    check_sum_to(2, m, 1, a1);
    /* Innermost dim kept and a multiple of 8: the CPU variant's float8 kernel. */
    static const int64_t w[] = { 7, 40 }, w1[] = { 40 }, u[] = { 5, 16, 3, 8 }, u1[] = { 16, 1, 8 };
    static const int64_t v[] = { 2, 77, 64 }, v1[] = { 1, 1, 64 }, z[] = { 1025, 16 }, z1[] = { 16 };
    check_sum_to(2, w, 1, w1);
    check_sum_to(4, u, 3, u1);
    check_sum_to(3, v, 3, v1);
    check_sum_to(2, z, 1, z1);                 /* and cut into chunks */
}

static void check_broadcast_to(int nx, const int64_t *xs, int ny, const int64_t *ys)
{
    graph *g = g_new();
    int x = g_input(g, "x", G_F32, nx, xs);
    int y = g_broadcast_to(g, x, ny, ys);
    assert_true(y >= 0);
    g_mark_output(g, y);
    oh_opts o = oh_tol(RTOL_COPY);
    char label[96], a[48], b[48];
    snprintf(label, sizeof label, "broadcast_to %s->%s", g_shape_str(g, x, a, sizeof a),
             g_shape_str(g, y, b, sizeof b));
    assert_int_equal(oh_check(g, &o, label), 0);
    g_free(g);
}

static void test_broadcast_to(void **state)
{
    (void)state;
    static const int64_t a[] = { 7, 33 }, a1[] = { 33 }, a2[] = { 7, 1 }, one[] = { 1 };
    check_broadcast_to(1, a1, 2, a);
    check_broadcast_to(2, a2, 2, a);
    check_broadcast_to(1, one, 2, a);
    check_broadcast_to(2, a, 2, a);
    static const int64_t b[] = { 2, 77, 33 }, b1[] = { 1, 1, 33 };
    check_broadcast_to(3, b1, 3, b);
    static const int64_t c[] = { 5, 3, 7, 9 }, c1[] = { 3, 1, 1 };
    check_broadcast_to(3, c1, 4, c);
    static const int64_t d[] = { 2, 3, 4, 5 }, d1[] = { 1, 3, 1, 5 };
    check_broadcast_to(4, d1, 4, d);           /* three collapsed dims: the n-d kernel */
    static const int64_t e[] = { 6, 5, 4, 3, 2, 7 }, e1[] = { 5, 1, 3, 1, 7 };
    check_broadcast_to(5, e1, 6, e);
}

static void check_slice_grad(int ndim, const int64_t *xs, int axis, int64_t start, int64_t end, int64_t step)
{
    graph *g = g_new();
    int64_t n = xs[axis], s = start < 0 ? start + n : start, e = end < 0 ? end + n : end;
    s = s < 0 ? 0 : s > n ? n : s;
    e = e < 0 ? 0 : e > n ? n : e;
    int64_t ds[G_MAX_DIMS];
    memcpy(ds, xs, sizeof(int64_t) * (size_t)ndim);
    ds[axis] = (e - s + step - 1) / step;
    int dy = g_input(g, "dy", G_F32, ndim, ds);
    int y = g_slice_grad(g, dy, axis, start, end, step, ndim, xs);
    assert_true(y >= 0);
    g_mark_output(g, y);
    oh_opts o = oh_tol(RTOL_COPY);
    char label[96], a[48];
    snprintf(label, sizeof label, "slice_grad %s ax%d [%lld:%lld:%lld]", g_shape_str(g, y, a, sizeof a), axis,
             (long long)start, (long long)end, (long long)step);
    assert_int_equal(oh_check(g, &o, label), 0);
    g_free(g);
}

static void test_slice_grad(void **state)
{
    (void)state;
    static const int64_t a[] = { 7, 33 }, b[] = { 2, 77, 5 }, c[] = { 1, 1, 1 }, d[] = { 4, 9 };
    check_slice_grad(2, a, 1, 3, 30, 4);
    check_slice_grad(2, a, 0, 1, 7, 1);
    check_slice_grad(3, b, 1, 0, 77, 3);
    check_slice_grad(3, b, 2, -2, 5, 1);       /* Python-style negative start */
    check_slice_grad(3, c, 2, 0, 1, 1);
    check_slice_grad(2, d, 1, 8, 9, 1);        /* the last column only */
    check_slice_grad(2, d, 1, 0, 9, 20);       /* a step past the end: one element */
}

/* Both variants: a work-item per (column, row) for GPUs, per row for CPUs. */
static void check_embedding_grad(int64_t V, int64_t D, int nid, const int64_t *ids_shape)
{
    for (int v = 0; v < 2; v++) {
        setenv("CLIPCL_FORCE_VARIANT", variants[v], 1);
        graph *g = g_new();
        int64_t ds[G_MAX_DIMS];
        memcpy(ds, ids_shape, sizeof(int64_t) * (size_t)nid);
        ds[nid] = D;
        int ids = g_input(g, "ids", G_I32, nid, ids_shape);
        int dy = g_input(g, "dy", G_F32, nid + 1, ds);
        int y = g_embedding_grad(g, ids, dy, V);
        assert_true(y >= 0);
        g_mark_output(g, y);
        oh_int_range(ids, 0, (int32_t)(V - 1));
        oh_opts o = oh_tol(RTOL_EMBEDDING_GRAD);
        char label[96];
        snprintf(label, sizeof label, "embedding_grad %s V=%lld D=%lld ids=%lld", variants[v], (long long)V,
                 (long long)D, (long long)g_numel(g, ids));
        assert_int_equal(oh_check(g, &o, label), 0);
        g_free(g);
    }
    unsetenv("CLIPCL_FORCE_VARIANT");
}

static void test_embedding_grad(void **state)
{
    (void)state;
    static const int64_t i1[] = { 1 }, i2[] = { 2, 77 }, i3[] = { 3 }, i4[] = { 5, 1 }, i5[] = { 4, 16 };
    check_embedding_grad(7, 33, 2, i2);        /* ~22 repeats per id */
    check_embedding_grad(1000, 17, 1, i3);     /* mostly zero rows */
    check_embedding_grad(1, 1, 2, i4);         /* every id the same */
    check_embedding_grad(49, 64, 2, i5);
    check_embedding_grad(49408, 3, 1, i1);     /* CLIP's vocabulary */
}

/* Runs a one-node plan whose output first holds garbage; returns the plan
 * (caller reads and frees). */
static ocl_plan *run_dirty(graph *g, int out, int n_in, const int *in, void *const *host)
{
    ocl_plan *p = NULL;
    assert_int_equal(ocl_plan_create(oh_ctx(), g, &p), 0);
    int64_t n = g_numel(g, out);
    float *junk = malloc(sizeof(float) * (size_t)n);
    assert_non_null(junk);
    for (int64_t i = 0; i < n; i++)
        junk[i] = 12345.0f + (float)i;
    assert_int_equal(ocl_plan_write(p, out, junk, sizeof(float) * (size_t)n), 0);
    free(junk);
    for (int i = 0; i < n_in; i++)
        assert_int_equal(ocl_plan_write(p, in[i], host[i], g_nbytes(g, in[i])), 0);
    assert_int_equal(ocl_plan_run(p), 0);
    return p;
}

static void dirty_storage(void)
{
    assert_non_null(oh_ctx());
    /* slice_grad [4, 5] axis 1 [1:5:2] -> columns 1 and 3 hold dy. */
    graph *g = g_new();
    int64_t xs[] = { 4, 5 }, dsh[] = { 4, 2 };
    int dy = g_input(g, "dy", G_F32, 2, dsh);
    int y = g_slice_grad(g, dy, 1, 1, 5, 2, 2, xs);
    assert_true(y >= 0);
    g_mark_output(g, y);
    float d[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, got[20];
    void *host[1] = { d };
    ocl_plan *p = run_dirty(g, y, 1, &dy, host);
    assert_int_equal(ocl_plan_read(p, y, got, sizeof got), 0);
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 5; c++) {
            float want = c == 1 ? d[r * 2] : c == 3 ? d[r * 2 + 1] : 0.0f;
            assert_true(got[r * 5 + c] == want);
        }
    ocl_plan_free(p);
    g_free(g);

    /* embedding_grad V=4, D=3, ids {2, 0, 2}: rows 1 and 3 never occur. */
    g = g_new();
    int64_t is[] = { 3 }, es[] = { 3, 3 };
    int ids = g_input(g, "ids", G_I32, 1, is);
    dy = g_input(g, "dy", G_F32, 2, es);
    y = g_embedding_grad(g, ids, dy, 4);
    assert_true(y >= 0);
    g_mark_output(g, y);
    int32_t id[3] = { 2, 0, 2 };
    float e[9] = { 1, 2, 3, 10, 20, 30, 100, 200, 300 }, tab[12];
    void *host2[2] = { id, e };
    int in2[2] = { ids, dy };
    p = run_dirty(g, y, 2, in2, host2);
    assert_int_equal(ocl_plan_read(p, y, tab, sizeof tab), 0);
    const float want[12] = { 10, 20, 30, 0, 0, 0, 101, 202, 303, 0, 0, 0 };
    for (int i = 0; i < 12; i++)
        assert_true(tab[i] == want[i]);
    /* a second run with other ids: the rows of the first run's ids must go */
    int32_t id2[3] = { 3, 3, 1 };
    assert_int_equal(ocl_plan_write(p, ids, id2, sizeof id2), 0);
    assert_int_equal(ocl_plan_run(p), 0);
    assert_int_equal(ocl_plan_read(p, y, tab, sizeof tab), 0);
    const float want2[12] = { 0, 0, 0, 100, 200, 300, 0, 0, 0, 11, 22, 33 };
    for (int i = 0; i < 12; i++)
        assert_true(tab[i] == want2[i]);
    ocl_plan_free(p);
    g_free(g);
}

static void test_dirty_storage(void **state)
{
    (void)state;
    for (int v = 0; v < 2; v++) {
        setenv("CLIPCL_FORCE_VARIANT", variants[v], 1);
        dirty_storage();
    }
    unsetenv("CLIPCL_FORCE_VARIANT");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log),
        cmocka_unit_test(test_activation_grads),
        cmocka_unit_test(test_sum_to),
        cmocka_unit_test(test_broadcast_to),
        cmocka_unit_test(test_slice_grad),
        cmocka_unit_test(test_embedding_grad),
        cmocka_unit_test(test_dirty_storage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
