/* Ref backward ops, row-normalisation family: every element of softmax_grad
 * (plain and causal), layernorm_grad_x / _gamma (and beta's sum_to), and
 * l2norm_grad (above and below the eps clamp) against central differences
 * of the ref forward op's sum(forward(x) * r). */
#include "tests/ref/test_ref_grad_util.h"

static void check_softmax(int causal)
{
    enum { B = 2, T = 3, D = 5, N = B * T * D };
    float x[N], r[N];
    rt_fill(x, N, 11);
    rt_fill(r, N, 12);
    for (int i = 0; i < N; i++)
        x[i] *= 3.0f; /* spread the logits so the softmax is far from uniform */
    graph *g = g_new();
    int tx = IN(g, "x", B, T, D), tr = IN(g, "r", B, T, D);
    int y = g_softmax(g, tx, causal);
    assert_true(y >= 0);
    int in[2] = {y, tr};
    int nd;
    int64_t shp[G_MAX_DIMS];
    gu_shape(g, tx, &nd, shp);
    int dx = gu_node(g, G_OP_SOFTMAX_GRAD, 2, in, NULL, nd, shp);
    g_mark_output(g, y), g_mark_output(g, dx);
    void **d = rt_slots(g);
    d[tx] = x, d[tr] = r;
    rt_eval_ok(g, d);
    float *grad = gu_copy(g, d, dx);
    if (causal) /* row t of each [T, D] block sees columns 0..t only */
        for (int i = 0; i < N; i++)
            if (i % D > (i / D) % T)
                assert_true(grad[i] == 0.0f);
    FD_CHECK(g, d, x, N, y, r, grad, 1e-2, 1e-3);
    free(grad);
    rt_done(g, d);
}

static void test_softmax_grad(void **state)
{
    (void)state;
    check_softmax(0);
}

static void test_softmax_grad_causal(void **state)
{
    (void)state;
    check_softmax(1);
}

/* A large eps (0.5) on low-variance rows makes a backward that drops eps,
 * or uses the unbiased variance, visibly wrong. */
static void check_layernorm(float eps, float spread)
{
    enum { R = 3, C = 7, N = R * C };
    float x[N], r[N], gamma[C], beta[C];
    rt_fill(x, N, 21);
    rt_fill(r, N, 22);
    rt_fill(gamma, C, 23);
    rt_fill(beta, C, 24);
    for (int i = 0; i < N; i++)
        x[i] = x[i] * spread + 0.3f * (float)(i / C); /* a different mean per row */
    for (int j = 0; j < C; j++)
        gamma[j] += 1.5f;
    graph *g = g_new();
    int tx = IN(g, "x", R, C), tr = IN(g, "r", R, C), tg = IN(g, "gamma", C), tb = IN(g, "beta", C);
    int y = g_layernorm(g, tx, tg, tb, eps);
    assert_true(y >= 0);
    g_attr at = {0};
    at.eps = eps;
    int in_x[3] = {tx, tg, tr}, in_g[2] = {tx, tr};
    int64_t sx[2] = {R, C}, sc[1] = {C};
    int dx = gu_node(g, G_OP_LAYERNORM_GRAD_X, 3, in_x, &at, 2, sx);
    int dg = gu_node(g, G_OP_LAYERNORM_GRAD_GAMMA, 2, in_g, &at, 1, sc);
    int db = gu_node(g, G_OP_SUM_TO, 1, &tr, NULL, 1, sc);
    g_mark_output(g, y), g_mark_output(g, dx), g_mark_output(g, dg), g_mark_output(g, db);
    void **d = rt_slots(g);
    d[tx] = x, d[tr] = r, d[tg] = gamma, d[tb] = beta;
    rt_eval_ok(g, d);
    float *gx = gu_copy(g, d, dx), *gg = gu_copy(g, d, dg), *gb = gu_copy(g, d, db);
    FD_CHECK(g, d, x, N, y, r, gx, 1e-3 * spread, 1e-3);
    FD_CHECK(g, d, gamma, C, y, r, gg, 1e-2, 1e-4);
    FD_CHECK(g, d, beta, C, y, r, gb, 1e-2, 1e-4);
    free(gx), free(gg), free(gb);
    rt_done(g, d);
}

static void test_layernorm_grads(void **state)
{
    (void)state;
    check_layernorm(1e-5f, 1.0f);
}

static void test_layernorm_grads_large_eps(void **state)
{
    (void)state;
    check_layernorm(0.5f, 0.3f);
}

static void check_l2norm(const float *x0, int rows, float eps)
{
    enum { D = 5 };
    float x[4 * D], r[4 * D];
    assert_true(rows <= 4);
    for (int i = 0; i < rows * D; i++)
        x[i] = x0[i];
    rt_fill(r, rows * D, 41);
    graph *g = g_new();
    int tx = IN(g, "x", rows, D), tr = IN(g, "r", rows, D);
    int y = g_l2norm(g, tx, eps);
    assert_true(y >= 0);
    g_attr at = {0};
    at.eps = eps;
    int in[2] = {tx, tr};
    int64_t sx[2] = {rows, D};
    int dx = gu_node(g, G_OP_L2NORM_GRAD, 2, in, &at, 2, sx);
    g_mark_output(g, y), g_mark_output(g, dx);
    void **d = rt_slots(g);
    d[tx] = x, d[tr] = r;
    rt_eval_ok(g, d);
    float *grad = gu_copy(g, d, dx);
    FD_CHECK(g, d, x, rows * D, y, r, grad, 1e-3, 1e-3);
    free(grad);
    rt_done(g, d);
}

/* Rows of norm about 0.5 .. 3, all above eps = 0.1. */
static void test_l2norm_grad(void **state)
{
    (void)state;
    float x[4 * 5];
    rt_fill(x, 20, 42);
    for (int i = 0; i < 20; i++)
        x[i] *= 0.5f + (float)(i / 5);
    check_l2norm(x, 4, 0.1f);
}

/* Row norms 0.05 (clamped: y = x / eps) and about 0.06 below eps = 0.1. On
 * the clamped side dx = dy / eps, a different formula. */
static void test_l2norm_grad_clamped(void **state)
{
    (void)state;
    float x[2 * 5] = {0.03f, -0.04f, 0.0f, 0.0f, 0.0f, 0.02f, 0.03f, -0.02f, 0.04f, 0.01f};
    check_l2norm(x, 2, 0.1f);
}

/* PyTorch 1.13 (F.normalize(x, eps=0.5).backward(dy)) gives these: at
 * |x| == eps exactly the norm branch is taken (clamp_min passes the
 * gradient where |x| >= eps), a zero row gets dy / eps. */
static void test_l2norm_grad_torch_edges(void **state)
{
    (void)state;
    float x[6] = {0.5f, 0.0f, 0.0f, 0.0f, 3.0f, 4.0f}, dy[6] = {1, 2, 3, -1, 1, 1};
    graph *g = g_new();
    int tx = IN(g, "x", 3, 2), tdy = IN(g, "dy", 3, 2);
    g_attr at = {0};
    at.eps = 0.5f;
    int in[2] = {tx, tdy};
    int64_t s[2] = {3, 2};
    int dx = gu_node(g, G_OP_L2NORM_GRAD, 2, in, &at, 2, s);
    g_mark_output(g, dx);
    void **d = rt_slots(g);
    d[tx] = x, d[tdy] = dy;
    rt_eval_ok(g, d);
    const double want[6] = {0.0, 4.0, 6.0, -2.0, 0.032, -0.024};
    NEAR((float *)d[dx], want, 6, 1e-6);
    rt_done(g, d);
}

static void test_grad_shape_mismatch(void **state)
{
    (void)state;
    float y[6] = {0}, dy[4] = {0};
    graph *g = g_new();
    int ty = IN(g, "y", 2, 3), tdy = IN(g, "dy", 2, 2);
    int in[2] = {ty, tdy};
    int64_t s[2] = {2, 3};
    int dx = gu_node(g, G_OP_SOFTMAX_GRAD, 2, in, NULL, 2, s);
    g_mark_output(g, dx);
    void **d = rt_slots(g);
    d[ty] = y, d[tdy] = dy;
    assert_int_equal(ref_eval(g, d), CC_ERR_SHAPE);
    rt_done(g, d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_softmax_grad),
        cmocka_unit_test(test_softmax_grad_causal),
        cmocka_unit_test(test_layernorm_grads),
        cmocka_unit_test(test_layernorm_grads_large_eps),
        cmocka_unit_test(test_l2norm_grad),
        cmocka_unit_test(test_l2norm_grad_clamped),
        cmocka_unit_test(test_l2norm_grad_torch_edges),
        cmocka_unit_test(test_grad_shape_mismatch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
