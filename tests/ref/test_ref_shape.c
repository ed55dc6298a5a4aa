/* Ref backend, data movement, reductions and ref_eval itself: permute and
 * its inverse, concat/slice round trips, views, hand-made reductions, and
 * errors that must come back as codes rather than crashes. */
#include <string.h>

#include "tests/ref/ref_test_util.h"

static void test_permute_inverse_is_identity(void **state)
{
    (void)state;
    float x[24];
    rt_fill(x, 24, 41);
    const int p[3] = {2, 0, 1}, inv[3] = {1, 2, 0};
    graph *g = g_new();
    int tx = IN(g, "x", 2, 3, 4);
    int y = g_permute(g, tx, p);
    int z = g_permute(g, y, inv);
    assert_true(y >= 0 && z >= 0);
    assert_int_equal(g->tensors[y].shape[0], 4);
    g_mark_output(g, y), g_mark_output(g, z);
    void **d = rt_slots(g);
    d[tx] = x;
    rt_eval_ok(g, d);
    assert_memory_equal(d[z], x, sizeof x);
    /* y[i][j][k] = x[j][k][i] */
    const float *py = d[y];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 2; j++)
            for (int k = 0; k < 3; k++)
                assert_true(py[(i * 2 + j) * 3 + k] == x[(j * 3 + k) * 4 + i]);
    rt_done(g, d);
}

static void test_transpose_hand(void **state)
{
    (void)state;
    float x[6] = {1, 2, 3, 4, 5, 6};
    graph *g = g_new();
    int tx = IN(g, "x", 2, 3);
    int y = g_transpose(g, tx, 0, 1);
    assert_true(y >= 0);
    g_mark_output(g, y);
    void **d = rt_slots(g);
    d[tx] = x;
    rt_eval_ok(g, d);
    const double want[6] = {1, 4, 2, 5, 3, 6};
    NEAR((float *)d[y], want, 6, 0);
    rt_done(g, d);
}

static void test_concat_then_slice(void **state)
{
    (void)state;
    float a[2 * 2 * 3], b[2 * 3 * 3];
    rt_fill(a, 12, 51), rt_fill(b, 18, 52);
    graph *g = g_new();
    int ta = IN(g, "a", 2, 2, 3), tb = IN(g, "b", 2, 3, 3);
    int xs[2] = {ta, tb};
    int c = g_concat(g, 2, xs, 1);
    int sa = g_slice(g, c, 1, 0, 2, 1);
    int sb = g_slice(g, c, 1, 2, 5, 1);
    int odd = g_slice(g, c, 1, 1, 5, 2); /* rows 1 and 3 of each batch */
    assert_true(c >= 0 && sa >= 0 && sb >= 0 && odd >= 0);
    assert_int_equal(g->tensors[c].shape[1], 5);
    assert_int_equal(g->tensors[odd].shape[1], 2);
    g_mark_output(g, sa), g_mark_output(g, sb), g_mark_output(g, odd), g_mark_output(g, c);
    void **d = rt_slots(g);
    d[ta] = a, d[tb] = b;
    rt_eval_ok(g, d);
    assert_memory_equal(d[sa], a, sizeof a);
    assert_memory_equal(d[sb], b, sizeof b);
    const float *po = d[odd];
    for (int n = 0; n < 2; n++) {
        assert_memory_equal(po + n * 6, a + n * 6 + 3, 3 * sizeof(float));  /* concat row 1 = a row 1 */
        assert_memory_equal(po + n * 6 + 3, b + n * 9 + 3, 3 * sizeof(float)); /* row 3 = b row 1 */
    }
    rt_done(g, d);
}

/* A reshape is a view: its slot is its root's storage, and ops read through it. */
static void test_reshape_view(void **state)
{
    (void)state;
    float x[6] = {1, 2, 3, 4, 5, 6};
    graph *g = g_new();
    int tx = IN(g, "x", 2, 3);
    int s = g_scale(g, tx, 2.0f);
    int r = g_reshape(g, s, SH(3, 2));
    int m = g_sum(g, r);
    assert_true(s >= 0 && r >= 0 && m >= 0);
    g_mark_output(g, m), g_mark_output(g, r);
    void **d = rt_slots(g);
    d[tx] = x;
    rt_eval_ok(g, d);
    assert_ptr_equal(d[r], d[s]);
    const double want[3] = {6, 14, 22};
    NEAR((float *)d[m], want, 3, 0);
    rt_done(g, d);
}

static void test_reductions_hand(void **state)
{
    (void)state;
    float x[8] = {1, 5, -2, 5, -3, -1, -7, -1};
    graph *g = g_new();
    int tx = IN(g, "x", 2, 4);
    int su = g_sum(g, tx), me = g_mean(g, tx), mx = g_max(g, tx), am = g_argmax(g, tx);
    assert_true(su >= 0 && me >= 0 && mx >= 0 && am >= 0);
    assert_int_equal(g->tensors[am].dtype, G_I32);
    assert_int_equal(g->tensors[su].ndim, 1);
    g_mark_output(g, su), g_mark_output(g, me), g_mark_output(g, mx), g_mark_output(g, am);
    void **d = rt_slots(g);
    d[tx] = x;
    rt_eval_ok(g, d);
    const double wsu[2] = {9, -12}, wme[2] = {2.25, -3}, wmx[2] = {5, -1};
    NEAR((float *)d[su], wsu, 2, 0);
    NEAR((float *)d[me], wme, 2, 0);
    NEAR((float *)d[mx], wmx, 2, 0);
    /* ties: the first maximal index */
    assert_int_equal(((int32_t *)d[am])[0], 1);
    assert_int_equal(((int32_t *)d[am])[1], 1);
    rt_done(g, d);
}

static void test_embedding(void **state)
{
    (void)state;
    float table[8] = {0, 1, 10, 11, 20, 21, 30, 31}; /* [4, 2] */
    int32_t ids[6] = {3, 0, 2, 2, 1, 3};
    graph *g = g_new();
    int tt = IN(g, "table", 4, 2), ti = IN_I32(g, "ids", 2, 3);
    int y = g_embedding(g, tt, ti);
    assert_true(y >= 0);
    assert_int_equal(g->tensors[y].ndim, 3);
    g_mark_output(g, y);
    void **d = rt_slots(g);
    d[tt] = table, d[ti] = ids;
    rt_eval_ok(g, d);
    const double want[12] = {30, 31, 0, 1, 20, 21, 20, 21, 10, 11, 30, 31};
    NEAR((float *)d[y], want, 12, 0);
    rt_done(g, d);
}

static void check_bad_id(int32_t bad)
{
    float table[4] = {1, 2, 3, 4};
    int32_t ids[3] = {0, bad, 1};
    graph *g = g_new();
    int tt = IN(g, "table", 2, 2), ti = IN_I32(g, "ids", 3);
    int y = g_embedding(g, tt, ti);
    assert_true(y >= 0);
    g_set_name(g, y, "tok_embed");
    g_mark_output(g, y);
    void **d = rt_slots(g);
    d[tt] = table, d[ti] = ids;
    assert_int_equal(ref_eval(g, d), CC_ERR_INVALID);
    /* the message names the failing node */
    assert_non_null(strstr(cc_last_error(), "embedding"));
    rt_done(g, d);
}

static void test_embedding_bad_id_is_error(void **state)
{
    (void)state;
    check_bad_id(2);
    check_bad_id(-1);
}

static void test_missing_input_is_error(void **state)
{
    (void)state;
    graph *g = g_new();
    int tx = IN(g, "x", 3);
    int y = g_relu(g, tx);
    assert_true(y >= 0);
    g_mark_output(g, y);
    void **d = rt_slots(g);
    assert_int_equal(ref_eval(g, d), CC_ERR_INVALID);
    assert_non_null(strstr(cc_last_error(), "'x'"));
    rt_done(g, d);
}

/* ref_free_acts frees what ref_eval allocated and leaves caller data alone. */
static void test_free_acts(void **state)
{
    (void)state;
    float x[2] = {1, -1};
    graph *g = g_new();
    int tx = IN(g, "x", 2);
    int y = g_relu(g, tx);
    int r = g_reshape(g, y, SH(1, 2));
    assert_true(y >= 0 && r >= 0);
    g_mark_output(g, r);
    void **d = rt_slots(g);
    d[tx] = x;
    rt_eval_ok(g, d);
    assert_non_null(d[y]);
    ref_free_acts(g, d);
    assert_null(d[y]);
    assert_null(d[r]);
    assert_ptr_equal(d[tx], x);
    rt_done(g, d);
}

int main(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(test_permute_inverse_is_identity),
        cmocka_unit_test(test_transpose_hand),
        cmocka_unit_test(test_concat_then_slice),
        cmocka_unit_test(test_reshape_view),
        cmocka_unit_test(test_reductions_hand),
        cmocka_unit_test(test_embedding),
        cmocka_unit_test(test_embedding_bad_id_is_error),
        cmocka_unit_test(test_missing_input_is_error),
        cmocka_unit_test(test_free_acts),
    };
    return cmocka_run_group_tests(t, NULL, NULL);
}
