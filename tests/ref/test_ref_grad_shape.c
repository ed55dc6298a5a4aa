/* Ref backward of the data-movement ops: embedding_grad by hand (repeated
 * ids add up, unused rows are 0) and as the table gradient of the ref
 * embedding forward; slice_grad as the adjoint of the ref slice forward,
 * element by element, on every axis and with steps. */
#include "tests/ref/test_ref_grad_util.h"

/* ids [2, 3] = {2, 0, 2, / 3, 2, 0} into V = 5 rows of D = 2: row 2 gets
 * three dy rows, row 0 two, row 3 one, rows 1 and 4 none. */
static void test_embedding_grad_hand(void **state)
{
    (void)state;
    int32_t ids[6] = {2, 0, 2, 3, 2, 0};
    float dy[12] = {1, 2, 10, 20, 100, 200, 1000, 2000, 3, 4, 30, 40};
    graph *g = g_new();
    int ti = IN_I32(g, "ids", 2, 3), tdy = IN(g, "dy", 2, 3, 2);
    int in[2] = {ti, tdy};
    int64_t shp[2] = {5, 2};
    int dt = gu_node(g, G_OP_EMBEDDING_GRAD, 2, in, NULL, 2, shp);
    g_mark_output(g, dt);
    void **d = rt_slots(g);
    d[ti] = ids, d[tdy] = dy;
    rt_eval_ok(g, d);
    const double want[10] = {10 + 30, 20 + 40, 0, 0, 1 + 100 + 3, 2 + 200 + 4, 1000, 2000, 0, 0};
    NEAR((float *)d[dt], want, 10, 0);
    rt_done(g, d);
}

static void test_embedding_grad_vs_forward(void **state)
{
    (void)state;
    enum { V = 7, D = 3, L = 9 };
    int32_t ids[L] = {6, 1, 1, 0, 6, 6, 3, 1, 0};
    float table[V * D], r[L * D];
    rt_fill(table, V * D, 81);
    rt_fill(r, L * D, 82);
    graph *g = g_new();
    int tt = IN(g, "table", V, D), ti = IN_I32(g, "ids", L), tr = IN(g, "r", L, D);
    int y = g_embedding(g, tt, ti);
    assert_true(y >= 0);
    int in[2] = {ti, tr};
    int64_t shp[2] = {V, D};
    int dt = gu_node(g, G_OP_EMBEDDING_GRAD, 2, in, NULL, 2, shp);
    g_mark_output(g, y), g_mark_output(g, dt);
    void **d = rt_slots(g);
    d[tt] = table, d[ti] = ids, d[tr] = r;
    rt_eval_ok(g, d);
    float *grad = gu_copy(g, d, dt);
    FD_CHECK(g, d, table, V * D, y, r, grad, 0.25, 1e-5);
    free(grad);
    rt_done(g, d);
}

static void test_embedding_grad_bad_id(void **state)
{
    (void)state;
    int32_t ids[2] = {1, 5};
    float dy[4] = {0};
    graph *g = g_new();
    int ti = IN_I32(g, "ids", 2), tdy = IN(g, "dy", 2, 2);
    int in[2] = {ti, tdy};
    int64_t shp[2] = {5, 2}; /* id 5 is outside [0, 5) */
    int dt = gu_node(g, G_OP_EMBEDDING_GRAD, 2, in, NULL, 2, shp);
    g_mark_output(g, dt);
    void **d = rt_slots(g);
    d[ti] = ids, d[tdy] = dy;
    assert_int_equal(ref_eval(g, d), CC_ERR_INVALID);
    rt_done(g, d);
}

/* d/dx sum(slice(x) * r) = slice_grad(r) for every element of x. */
static void check_slice(int axis, int64_t start, int64_t end, int64_t step)
{
    enum { A = 3, Bd = 7, Cd = 4, N = A * Bd * Cd };
    float x[N];
    rt_fill(x, N, 91);
    graph *g = g_new();
    int tx = IN(g, "x", A, Bd, Cd);
    int y = g_slice(g, tx, axis, start, end, step);
    assert_true(y >= 0);
    int nd;
    int64_t sy[G_MAX_DIMS], sx[G_MAX_DIMS];
    gu_shape(g, y, &nd, sy);
    gu_shape(g, tx, &nd, sx);
    int tr = g_input(g, "r", G_F32, nd, sy);
    int ny = (int)g_numel(g, y);
    float *r = malloc((size_t)ny * sizeof *r);
    assert_non_null(r);
    rt_fill(r, ny, 92);
    g_attr at = g->nodes[g->tensors[y].producer].attr; /* as the builder set them */
    int dx = gu_node(g, G_OP_SLICE_GRAD, 1, &tr, &at, nd, sx);
    g_mark_output(g, y), g_mark_output(g, dx);
    void **d = rt_slots(g);
    d[tx] = x, d[tr] = r;
    /* dirty the output first: slice_grad must write its zeros itself */
    d[dx] = malloc(N * sizeof(float));
    assert_non_null(d[dx]);
    for (int i = 0; i < N; i++)
        ((float *)d[dx])[i] = 99.0f;
    rt_eval_ok(g, d);
    float *grad = gu_copy(g, d, dx);
    FD_CHECK(g, d, x, N, y, r, grad, 0.25, 1e-6);
    free(grad), free(r);
    rt_done(g, d);
}

static void test_slice_grad_adjoint(void **state)
{
    (void)state;
    check_slice(1, 1, 6, 2);  /* middle axis, step 2: rows 1, 3, 5 */
    check_slice(0, 2, 3, 1);  /* one slab of the first axis */
    check_slice(2, 0, 4, 3);  /* last axis, columns 0 and 3 */
    check_slice(1, 0, 7, 1);  /* the whole axis */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_embedding_grad_hand),
        cmocka_unit_test(test_embedding_grad_vs_forward),
        cmocka_unit_test(test_embedding_grad_bad_id),
        cmocka_unit_test(test_slice_grad_adjoint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
