/* Shape ops on OpenCL against the ref backend: permute, slice, concat, and
 * reshape (a free view) inside chains. Shapes are odd and include size-1
 * dims; copies are exact, so the tolerance is 0. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>

#include "tests/common/op_harness.h"

#define RTOL_COPY 0.0f

static void finish(graph *g, int y, const char *label)
{
    assert_true(y >= 0);
    g_mark_output(g, y);
    oh_opts o = oh_tol(RTOL_COPY);
    assert_int_equal(oh_check(g, &o, label), 0);
    g_free(g);
}

static void check_permute(int ndim, const int64_t *shape, const int *perm, const char *label)
{
    graph *g = g_new();
    int x = g_input(g, "x", G_F32, ndim, shape);
    finish(g, g_permute(g, x, perm), label);
}

static void test_permute(void **state)
{
    (void)state;
    static const int64_t s2[] = { 33, 77 }, s4[] = { 2, 3, 5, 7 }, s4b[] = { 1, 7, 1, 33 },
                         s6[] = { 2, 3, 1, 5, 2, 3 }, s3[] = { 7, 1, 513 };
    static const int p2[] = { 1, 0 }, p4a[] = { 0, 2, 1, 3 }, p4b[] = { 3, 1, 0, 2 }, p4i[] = { 0, 1, 2, 3 },
                     p6[] = { 5, 0, 3, 1, 4, 2 }, p3[] = { 2, 0, 1 };
    check_permute(2, s2, p2, "permute [33,77] (1,0)");
    check_permute(4, s4, p4a, "permute [2,3,5,7] (0,2,1,3)");
    check_permute(4, s4, p4b, "permute [2,3,5,7] (3,1,0,2)");
    check_permute(4, s4, p4i, "permute identity");
    check_permute(4, s4b, p4b, "permute [1,7,1,33] (3,1,0,2)");
    check_permute(6, s6, p6, "permute 6-d");
    check_permute(3, s3, p3, "permute [7,1,513] (2,0,1)");
    /* g_transpose is a permute too. */
    graph *g = g_new();
    int x = g_input(g, "x", G_F32, 4, s4);
    finish(g, g_transpose(g, x, 1, 3), "transpose [2,3,5,7] (1,3)");
}

/* Transposes take the tiled copy_t kernel (16 x 16 tiles): whole tiles only,
 * partial tiles only, both, batched and not, two merged dims, a transpose
 * after a slice, and the ViT patch permute [B, W, P]. */
static void test_transpose_tiles(void **state)
{
    (void)state;
    static const int p3[] = { 0, 2, 1 }, p2[] = { 1, 0 }, p4[] = { 0, 3, 1, 2 };
    static const int64_t a[] = { 5, 16, 32 }, b[] = { 3, 33, 77 }, c[] = { 2, 17, 4 }, d[] = { 1, 5, 7 },
                         e[] = { 64, 64, 16 }, f[] = { 48, 16 }, h[] = { 2, 7, 5, 33 };
    check_permute(3, a, p3, "transpose [5,16,32] (0,2,1) whole tiles");
    check_permute(3, b, p3, "transpose [3,33,77] (0,2,1) partial tiles");
    check_permute(3, c, p3, "transpose [2,17,4] (0,2,1) thin");
    check_permute(3, d, p3, "transpose [1,5,7] (0,2,1) one partial tile");
    check_permute(3, e, p3, "transpose [64,64,16] (0,2,1) ViT patches");
    check_permute(2, f, p2, "transpose [48,16] (1,0)");
    check_permute(4, h, p4, "permute [2,7,5,33] (0,3,1,2) batched transpose of merged dims");
    graph *g = g_new();
    int64_t xs[3] = { 3, 20, 40 };
    int x = g_input(g, "x", G_F32, 3, xs);
    int sl = g_slice(g, x, 2, 4, 37, 1);
    finish(g, g_permute(g, sl, p3), "transpose of a slice [3,20,40][..., 4:37] (0,2,1)");
}

static void check_slice(int ndim, const int64_t *shape, int axis, int64_t start, int64_t end, int64_t step,
                        const char *label)
{
    graph *g = g_new();
    int x = g_input(g, "x", G_F32, ndim, shape);
    finish(g, g_slice(g, x, axis, start, end, step), label);
}

static void test_slice(void **state)
{
    (void)state;
    static const int64_t s2[] = { 77, 33 }, s3[] = { 3, 77, 513 }, s1[] = { 769 };
    check_slice(2, s2, 0, 1, 77, 1, "slice axis0 1:77");
    check_slice(2, s2, 1, 0, 1, 1, "slice axis1 0:1 (CLS token style)");
    check_slice(2, s2, -1, 3, 30, 2, "slice axis-1 3:30:2");
    check_slice(3, s3, 1, 5, 76, 7, "slice [3,77,513] axis1 5:76:7");
    check_slice(3, s3, 2, 1, 512, 3, "slice [3,77,513] axis2 1:512:3");
    check_slice(1, s1, 0, -7, 769, 1, "slice 1-d -7:");
    check_slice(3, s3, 0, 2, 3, 1, "slice axis0 last");
}

static void test_concat(void **state)
{
    (void)state;
    struct { int ndim, n, axis; int64_t shapes[3][4]; const char *label; } cases[] = {
        { 2, 2, 0, { { 1, 33 }, { 76, 33 } }, "concat [1,33]+[76,33] axis0 (CLS prepend)" },
        { 2, 3, 1, { { 7, 1 }, { 7, 33 }, { 7, 5 } }, "concat 3 inputs axis1" },
        { 3, 2, 1, { { 2, 3, 7 }, { 2, 5, 7 } }, "concat middle axis" },
        { 3, 2, -1, { { 2, 3, 1 }, { 2, 3, 1 } }, "concat last axis size-1 inputs" },
        { 4, 2, 2, { { 1, 3, 1, 5 }, { 1, 3, 2, 5 } }, "concat 4-d axis2" },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        graph *g = g_new();
        int xs[3];
        for (int i = 0; i < cases[c].n; i++) {
            char nm[16];
            snprintf(nm, sizeof nm, "x%d", i);
            xs[i] = g_input(g, nm, G_F32, cases[c].ndim, cases[c].shapes[i]);
        }
        finish(g, g_concat(g, cases[c].n, xs, cases[c].axis), cases[c].label);
    }
}

/* reshape emits no launch (a view): the chain relu -> reshape -> permute,
 * and a reshape that is itself the output, must read the right bytes. */
static void test_reshape_chain(void **state)
{
    (void)state;
    graph *g = g_new();
    int64_t sx[] = { 2, 77, 12 }, sr[] = { 2, 77, 3, 4 };
    int x = g_input(g, "x", G_F32, 3, sx);
    int h = g_relu(g, x);
    h = g_reshape(g, h, 4, sr);
    static const int perm[] = { 0, 2, 1, 3 };
    finish(g, g_permute(g, h, perm), "relu -> reshape -> permute");

    g = g_new();
    int64_t sflat[] = { -1 };
    x = g_input(g, "x", G_F32, 3, sx);
    h = g_scale(g, x, 2.0f); /* exact, so the tolerance stays 0 */
    finish(g, g_reshape(g, h, 1, sflat), "scale -> reshape(-1) as output");
}

int main(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(test_permute),
        cmocka_unit_test(test_transpose_tiles),
        cmocka_unit_test(test_slice),
        cmocka_unit_test(test_concat),
        cmocka_unit_test(test_reshape_chain),
    };
    return cmocka_run_group_tests(t, NULL, NULL);
}
