/* Ref backward ops, elementwise family: activation derivatives against
 * central differences of the activation written here in double, the values
 * PyTorch defines at 0, log by hand, and sum_to / broadcast_to by hand and
 * as each other's adjoints. */
#include "tests/ref/test_ref_grad_util.h"

static double f_gelu(double x) { return 0.5 * x * (1.0 + erf(x / sqrt(2.0))); }
static double f_quickgelu(double x) { return x / (1.0 + exp(-1.702 * x)); }
static double f_relu(double x) { return x > 0.0 ? x : 0.0; }
static double f_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

enum { NX = 41 };

/* x spans [-4, 4] in steps of 0.2 (x = 0 included), dy pseudo-random. */
static void fill_xs(float *x, float *dy)
{
    for (int i = 0; i < NX; i++)
        x[i] = (float)(-4.0 + 0.2 * i);
    rt_fill(dy, NX, 7);
}

static void check_activation(g_op op, double (*f)(double))
{
    float x[NX], dy[NX];
    double want[NX];
    fill_xs(x, dy);
    graph *g = g_new();
    int tx = IN(g, "x", NX), tdy = IN(g, "dy", NX);
    int in[2] = {tx, tdy};
    int64_t shp[1] = {NX};
    int dx = gu_node(g, op, 2, in, NULL, 1, shp);
    g_mark_output(g, dx);
    void **d = rt_slots(g);
    d[tx] = x, d[tdy] = dy;
    rt_eval_ok(g, d);
    const double h = 1e-5;
    for (int i = 0; i < NX; i++) {
        double xi = x[i];
        /* relu's kink: PyTorch gives 0 at exactly 0 */
        double slope = (op == G_OP_RELU_GRAD && xi == 0.0) ? 0.0 : (f(xi + h) - f(xi - h)) / (2 * h);
        want[i] = dy[i] * slope;
    }
    NEAR((float *)d[dx], want, NX, 2e-6);
    rt_done(g, d);
}

static void test_gelu_grad(void **state)
{
    (void)state;
    check_activation(G_OP_GELU_GRAD, f_gelu);
}

static void test_quickgelu_grad(void **state)
{
    (void)state;
    check_activation(G_OP_QUICKGELU_GRAD, f_quickgelu);
}

static void test_relu_grad(void **state)
{
    (void)state;
    check_activation(G_OP_RELU_GRAD, f_relu);
}

/* Values at 0 by hand: gelu'(0) = Phi(0) = 1/2, quickgelu'(0) = s(0) = 1/2,
 * relu'(0) = 0; and gelu'(1) = Phi(1) + phi(1) = 0.841345 + 0.241971. */
static void test_grads_at_known_points(void **state)
{
    (void)state;
    float x[2] = {0.0f, 1.0f}, dy[2] = {1.0f, 1.0f};
    graph *g = g_new();
    int tx = IN(g, "x", 2), tdy = IN(g, "dy", 2);
    int in[2] = {tx, tdy};
    int64_t shp[1] = {2};
    int gg = gu_node(g, G_OP_GELU_GRAD, 2, in, NULL, 1, shp);
    int gq = gu_node(g, G_OP_QUICKGELU_GRAD, 2, in, NULL, 1, shp);
    int gr = gu_node(g, G_OP_RELU_GRAD, 2, in, NULL, 1, shp);
    g_mark_output(g, gg), g_mark_output(g, gq), g_mark_output(g, gr);
    void **d = rt_slots(g);
    d[tx] = x, d[tdy] = dy;
    rt_eval_ok(g, d);
    const double wg[2] = {0.5, 0.8413447460685429 + 0.24197072451914337};
    /* quickgelu'(1) = s + 1.702 s (1 - s), s = sigmoid(1.702) = 0.845796 */
    const double s = 0.8457957659328212;
    const double wq[2] = {0.5, s + 1.702 * s * (1 - s)};
    const double wr[2] = {0.0, 1.0};
    NEAR((float *)d[gg], wg, 2, 1e-6);
    NEAR((float *)d[gq], wq, 2, 1e-6);
    NEAR((float *)d[gr], wr, 2, 0);
    rt_done(g, d);
}

/* sigmoid_grad takes the forward OUTPUT y, so feed it the ref sigmoid. */
static void test_sigmoid_grad(void **state)
{
    (void)state;
    float x[NX], dy[NX];
    double want[NX];
    fill_xs(x, dy);
    graph *g = g_new();
    int tx = IN(g, "x", NX), tdy = IN(g, "dy", NX);
    int y = g_sigmoid(g, tx);
    assert_true(y >= 0);
    int in[2] = {y, tdy};
    int64_t shp[1] = {NX};
    int dx = gu_node(g, G_OP_SIGMOID_GRAD, 2, in, NULL, 1, shp);
    g_mark_output(g, dx);
    void **d = rt_slots(g);
    d[tx] = x, d[tdy] = dy;
    rt_eval_ok(g, d);
    const double h = 1e-5;
    for (int i = 0; i < NX; i++)
        want[i] = dy[i] * (f_sigmoid(x[i] + h) - f_sigmoid(x[i] - h)) / (2 * h);
    NEAR((float *)d[dx], want, NX, 2e-6);
    rt_done(g, d);
}

static void test_log(void **state)
{
    (void)state;
    float x[5] = {1.0f, 2.718281828f, 0.5f, 1000.0f, 0.0f};
    graph *g = g_new();
    int tx = IN(g, "x", 5);
    int64_t shp[1] = {5};
    int y = gu_node(g, G_OP_LOG, 1, &tx, NULL, 1, shp);
    g_mark_output(g, y);
    void **d = rt_slots(g);
    d[tx] = x;
    rt_eval_ok(g, d);
    const double want[4] = {0.0, 1.0, -0.6931471805599453, 6.907755278982137};
    NEAR((float *)d[y], want, 4, 1e-6);
    const float *o = d[y];
    assert_true(isinf(o[4]) && o[4] < 0); /* log(0) = -inf, as torch.log */
    rt_done(g, d);
}

/* x [2, 3] = 1..6: sum_to [1, 3] = column sums, [2, 1] = row sums,
 * [3] (right-aligned) = column sums, [1] = total. */
static void test_sum_to_hand(void **state)
{
    (void)state;
    float x[6] = {1, 2, 3, 4, 5, 6};
    graph *g = g_new();
    int tx = IN(g, "x", 2, 3);
    int64_t s13[2] = {1, 3}, s21[2] = {2, 1}, s3[1] = {3}, s1[1] = {1};
    int a = gu_node(g, G_OP_SUM_TO, 1, &tx, NULL, 2, s13);
    int b = gu_node(g, G_OP_SUM_TO, 1, &tx, NULL, 2, s21);
    int c = gu_node(g, G_OP_SUM_TO, 1, &tx, NULL, 1, s3);
    int e = gu_node(g, G_OP_SUM_TO, 1, &tx, NULL, 1, s1);
    g_mark_output(g, a), g_mark_output(g, b), g_mark_output(g, c), g_mark_output(g, e);
    void **d = rt_slots(g);
    d[tx] = x;
    rt_eval_ok(g, d);
    const double wa[3] = {5, 7, 9}, wb[2] = {6, 15}, we[1] = {21};
    NEAR((float *)d[a], wa, 3, 0);
    NEAR((float *)d[b], wb, 2, 0);
    NEAR((float *)d[c], wa, 3, 0);
    NEAR((float *)d[e], we, 1, 0);
    rt_done(g, d);
}

/* broadcast_to [3] -> [2, 3] repeats rows; [2, 1] -> [2, 3] repeats columns;
 * i32 data is moved untouched. */
static void test_broadcast_to_hand(void **state)
{
    (void)state;
    float r[3] = {1, 2, 3}, col[2] = {7, 8};
    int32_t ids[3] = {5, -6, 7};
    graph *g = g_new();
    int tr = IN(g, "r", 3), tc = IN(g, "c", 2, 1), ti = IN_I32(g, "ids", 3);
    int64_t s23[2] = {2, 3};
    int a = gu_node(g, G_OP_BROADCAST_TO, 1, &tr, NULL, 2, s23);
    int b = gu_node(g, G_OP_BROADCAST_TO, 1, &tc, NULL, 2, s23);
    int c = g_append_node(g, G_OP_BROADCAST_TO, 1, &ti, NULL, G_I32, 2, s23);
    assert_true(c >= 0);
    g_mark_output(g, a), g_mark_output(g, b), g_mark_output(g, c);
    void **d = rt_slots(g);
    d[tr] = r, d[tc] = col, d[ti] = ids;
    rt_eval_ok(g, d);
    const double wa[6] = {1, 2, 3, 1, 2, 3}, wb[6] = {7, 7, 7, 8, 8, 8};
    NEAR((float *)d[a], wa, 6, 0);
    NEAR((float *)d[b], wb, 6, 0);
    const int32_t *o = d[c];
    assert_int_equal(o[0], 5), assert_int_equal(o[4], -6), assert_int_equal(o[5], 7);
    rt_done(g, d);
}

/* <sum_to(a), b> = <a, broadcast_to(b)>, element by element: the gradient
 * of sum(broadcast_to(b) * a) with respect to b is sum_to(a), and that of
 * sum(sum_to(a) * b) with respect to a is broadcast_to(b). */
static void check_adjoint(int bnd, const int64_t *bshape, int snd, const int64_t *sshape)
{
    graph *g = g_new();
    int ta = g_input(g, "a", G_F32, bnd, bshape), tb = g_input(g, "b", G_F32, snd, sshape);
    int64_t nb = g_numel(g, ta), ns = g_numel(g, tb);
    float *a = malloc((size_t)nb * sizeof *a), *b = malloc((size_t)ns * sizeof *b);
    assert_true(a && b);
    rt_fill(a, (int)nb, 31);
    rt_fill(b, (int)ns, 32);
    int st = gu_node(g, G_OP_SUM_TO, 1, &ta, NULL, snd, sshape);
    int bt = gu_node(g, G_OP_BROADCAST_TO, 1, &tb, NULL, bnd, bshape);
    g_mark_output(g, st), g_mark_output(g, bt);
    void **d = rt_slots(g);
    d[ta] = a, d[tb] = b;
    rt_eval_ok(g, d);
    float *sum_a = gu_copy(g, d, st), *bc_b = gu_copy(g, d, bt);
    /* linear maps: a step of 1 is exact up to rounding */
    FD_CHECK(g, d, b, ns, bt, a, sum_a, 1.0, 1e-5);
    FD_CHECK(g, d, a, nb, st, b, bc_b, 1.0, 1e-5);
    free(sum_a), free(bc_b), free(a), free(b);
    rt_done(g, d);
}

static void test_sum_to_broadcast_adjoint(void **state)
{
    (void)state;
    const int64_t big[3] = {2, 3, 4};
    const int64_t s31[2] = {3, 1}, s4[1] = {4}, s134[3] = {1, 3, 4}, s201[3] = {2, 1, 1}, s1[1] = {1};
    check_adjoint(3, big, 2, s31);
    check_adjoint(3, big, 1, s4);
    check_adjoint(3, big, 3, s134);
    check_adjoint(3, big, 3, s201);
    check_adjoint(3, big, 3, big);
    check_adjoint(3, big, 1, s1);
}

static void test_sum_to_bad_shape(void **state)
{
    (void)state;
    float x[6] = {0};
    graph *g = g_new();
    int tx = IN(g, "x", 2, 3);
    int64_t s2[1] = {2}; /* [2] is not broadcastable to [2, 3] (right-aligned) */
    int y = gu_node(g, G_OP_SUM_TO, 1, &tx, NULL, 1, s2);
    g_mark_output(g, y);
    void **d = rt_slots(g);
    d[tx] = x;
    assert_int_equal(ref_eval(g, d), CC_ERR_SHAPE);
    rt_done(g, d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gelu_grad),
        cmocka_unit_test(test_quickgelu_grad),
        cmocka_unit_test(test_relu_grad),
        cmocka_unit_test(test_grads_at_known_points),
        cmocka_unit_test(test_sigmoid_grad),
        cmocka_unit_test(test_log),
        cmocka_unit_test(test_sum_to_hand),
        cmocka_unit_test(test_broadcast_to_hand),
        cmocka_unit_test(test_sum_to_broadcast_adjoint),
        cmocka_unit_test(test_sum_to_bad_shape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
