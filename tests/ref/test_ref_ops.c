/* Ref backend, arithmetic ops: hand-computed small cases and algebraic
 * identities, none of which reuse the backend's loop nests. */
#include "tests/ref/ref_test_util.h"

static void test_matmul_hand(void **state)
{
    (void)state;
    float A[6] = {1, 2, 3, 4, 5, 6};             /* [2,3] */
    float At[6] = {1, 4, 2, 5, 3, 6};            /* A^T [3,2] */
    float B[6] = {7, 8, 9, 10, 11, 12};          /* [3,2] */
    float Bt[6] = {7, 9, 11, 8, 10, 12};         /* B^T [2,3] */
    float bias[2] = {1, -1};
    graph *g = g_new();
    int a = IN(g, "a", 2, 3), at = IN(g, "at", 3, 2), b = IN(g, "b", 3, 2), bt = IN(g, "bt", 2, 3);
    int bi = IN(g, "bias", 2);
    int y0 = g_matmul(g, a, b, -1, 0, 0);
    int y1 = g_matmul(g, at, b, bi, 1, 0);
    int y2 = g_matmul(g, a, bt, -1, 0, 1);
    int y3 = g_matmul(g, at, bt, -1, 1, 1);
    assert_true(y0 >= 0 && y1 >= 0 && y2 >= 0 && y3 >= 0);
    g_mark_output(g, y0), g_mark_output(g, y1), g_mark_output(g, y2), g_mark_output(g, y3);
    void **d = rt_slots(g);
    d[a] = A, d[at] = At, d[b] = B, d[bt] = Bt, d[bi] = bias;
    rt_eval_ok(g, d);
    const double want[4] = {58, 64, 139, 154}, want_b[4] = {59, 63, 140, 153};
    NEAR((float *)d[y0], want, 4, 0);
    NEAR((float *)d[y1], want_b, 4, 0);
    NEAR((float *)d[y2], want, 4, 0);
    NEAR((float *)d[y3], want, 4, 0);
    rt_done(g, d);
}

/* A [2,2,3] against a shared 2-D B: batch 1 is 2x batch 0, so its product is 2x. */
static void test_matmul_batched_shared_b(void **state)
{
    (void)state;
    float A[12] = {1, 2, 3, 4, 5, 6, 2, 4, 6, 8, 10, 12};
    float B[6] = {7, 8, 9, 10, 11, 12};
    graph *g = g_new();
    int a = IN(g, "a", 2, 2, 3), b = IN(g, "b", 3, 2);
    int y = g_matmul(g, a, b, -1, 0, 0);
    assert_true(y >= 0);
    assert_int_equal(g->tensors[y].ndim, 3);
    g_mark_output(g, y);
    void **d = rt_slots(g);
    d[a] = A, d[b] = B;
    rt_eval_ok(g, d);
    const double want[8] = {58, 64, 139, 154, 116, 128, 278, 308};
    NEAR((float *)d[y], want, 8, 0);
    rt_done(g, d);
}

static void test_broadcast_binary(void **state)
{
    (void)state;
    float a[3] = {1, 2, 3}, b[4] = {10, 20, 30, 40}, c[6] = {2, 4, 6, 8, 10, 12}, s[3] = {2, 4, 3};
    graph *g = g_new();
    int ta = IN(g, "a", 3, 1), tb = IN(g, "b", 4), tc = IN(g, "c", 2, 3), ts = IN(g, "s", 3);
    int add = g_add(g, ta, tb), sub = g_sub(g, ta, tb), mul = g_mul(g, tc, ts), dv = g_div(g, tc, ts);
    assert_true(add >= 0 && sub >= 0 && mul >= 0 && dv >= 0);
    assert_int_equal(g->tensors[add].ndim, 2);
    assert_int_equal(g->tensors[add].shape[0], 3);
    assert_int_equal(g->tensors[add].shape[1], 4);
    g_mark_output(g, add), g_mark_output(g, sub), g_mark_output(g, mul), g_mark_output(g, dv);
    void **d = rt_slots(g);
    d[ta] = a, d[tb] = b, d[tc] = c, d[ts] = s;
    rt_eval_ok(g, d);
    double wadd[12], wsub[12];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++) {
            wadd[i * 4 + j] = (i + 1) + 10.0 * (j + 1);
            wsub[i * 4 + j] = (i + 1) - 10.0 * (j + 1);
        }
    const double wmul[6] = {4, 16, 18, 16, 40, 36}, wdiv[6] = {1, 1, 2, 4, 2.5, 4};
    NEAR((float *)d[add], wadd, 12, 0);
    NEAR((float *)d[sub], wsub, 12, 0);
    NEAR((float *)d[mul], wmul, 6, 0);
    NEAR((float *)d[dv], wdiv, 6, 1e-7);
    rt_done(g, d);
}

static void test_unary_known_values(void **state)
{
    (void)state;
    float x[4] = {1, -1, 0, 2};
    graph *g = g_new();
    int tx = IN(g, "x", 4);
    int ge = g_gelu(g, tx), qg = g_quickgelu(g, tx), re = g_relu(g, tx);
    int sg = g_sigmoid(g, tx), ex = g_exp(g, tx), sc = g_scale(g, tx, -0.5f);
    int ys[6] = {ge, qg, re, sg, ex, sc};
    for (int i = 0; i < 6; i++) {
        assert_true(ys[i] >= 0);
        g_mark_output(g, ys[i]);
    }
    void **d = rt_slots(g);
    d[tx] = x;
    rt_eval_ok(g, d);
    /* gelu and quickgelu values from Python's math.erf / math.exp */
    const double wge[4] = {0.8413447460685429, -0.15865525393145707, 0, 1.9544997361036416};
    const double wqg[4] = {0.8457957659328212, -(1 - 0.8457957659328212), 0, -0.06434137685579186 + 2 * 1};
    const double wre[4] = {1, 0, 0, 2};
    const double e = 2.718281828459045;
    const double wsg[4] = {e / (1 + e), 1 / (1 + e), 0.5, e * e / (1 + e * e)};
    const double wex[4] = {e, 1 / e, 1, e * e};
    const double wsc[4] = {-0.5, 0.5, 0, -1};
    NEAR((float *)d[ge], wge, 4, 1e-7);
    /* quickgelu(-1) = -sigmoid(-1.702) = -(1 - sigmoid(1.702)); quickgelu(2) = 2 - 2 sigmoid(-3.404) */
    NEAR((float *)d[qg], wqg, 4, 1e-7);
    NEAR((float *)d[re], wre, 4, 0);
    NEAR((float *)d[sg], wsg, 4, 1e-7);
    NEAR((float *)d[ex], wex, 4, 1e-7);
    NEAR((float *)d[sc], wsc, 4, 0);
    rt_done(g, d);
}

static void test_softmax_identities(void **state)
{
    (void)state;
    enum { R = 3, D = 5 };
    float x[R * D];
    rt_fill(x, R * D, 7);
    x[D] = 1000.0f; /* max subtraction keeps a large logit finite */
    graph *g = g_new();
    int tx = IN(g, "x", R, D);
    int y = g_softmax(g, tx, 0);
    assert_true(y >= 0);
    g_mark_output(g, y);
    void **d = rt_slots(g);
    d[tx] = x;
    rt_eval_ok(g, d);
    const float *p = d[y];
    for (int r = 0; r < R; r++) {
        double s = 0;
        for (int j = 0; j < D; j++) {
            assert_true(isfinite(p[r * D + j]) && p[r * D + j] >= 0);
            s += p[r * D + j];
        }
        assert_true(fabs(s - 1.0) < 1e-6);
        if (r == 1)
            continue; /* the other entries underflow to 0 next to 1000 */
        for (int i = 0; i < D; i++)
            for (int j = 0; j < D; j++) {
                double ratio = (double)p[r * D + i] / p[r * D + j];
                double want = exp((double)x[r * D + i] - x[r * D + j]);
                assert_true(fabs(ratio - want) <= 1e-6 * want);
            }
    }
    assert_true(fabs(p[D] - 1.0) < 1e-6);
    rt_done(g, d);
}

/* Causal: row i keeps columns 0..i; those renormalise among themselves. */
static void test_softmax_causal(void **state)
{
    (void)state;
    float x[2 * 3 * 3];
    rt_fill(x, 18, 3);
    graph *g = g_new();
    int tx = IN(g, "x", 2, 3, 3);
    int y = g_softmax(g, tx, 1);
    assert_true(y >= 0);
    g_mark_output(g, y);
    void **d = rt_slots(g);
    d[tx] = x;
    rt_eval_ok(g, d);
    const float *p = d[y];
    for (int b = 0; b < 2; b++)
        for (int i = 0; i < 3; i++) {
            const float *xr = x + (b * 3 + i) * 3, *pr = p + (b * 3 + i) * 3;
            double z = 0;
            for (int j = 0; j <= i; j++)
                z += exp(xr[j]);
            for (int j = 0; j < 3; j++) {
                double want = j <= i ? exp(xr[j]) / z : 0.0;
                assert_true(fabs(pr[j] - want) < 1e-6);
            }
        }
    assert_true(p[0] == 1.0f); /* row 0 sees only itself */
    rt_done(g, d);
}

static void test_layernorm(void **state)
{
    (void)state;
    enum { R = 4, D = 7 };
    float x[R * D], ones[D], zeros[D], gam[D], bet[D];
    rt_fill(x, R * D, 11);
    rt_fill(gam, D, 12);
    rt_fill(bet, D, 13);
    for (int j = 0; j < D; j++)
        ones[j] = 1, zeros[j] = 0;
    float h[3] = {1, 2, 3};
    graph *g = g_new();
    int tx = IN(g, "x", R, D), t1 = IN(g, "one", D), t0 = IN(g, "zero", D);
    int tg = IN(g, "gamma", D), tb = IN(g, "beta", D), th = IN(g, "h", 3);
    int th1 = IN(g, "h1", 3), th0 = IN(g, "h0", 3);
    int plain = g_layernorm(g, tx, t1, t0, 1e-5f);
    int affine = g_layernorm(g, tx, tg, tb, 1e-5f);
    int hand = g_layernorm(g, th, th1, th0, 0.0f);
    assert_true(plain >= 0 && affine >= 0 && hand >= 0);
    g_mark_output(g, plain), g_mark_output(g, affine), g_mark_output(g, hand);
    void **d = rt_slots(g);
    d[tx] = x, d[t1] = ones, d[t0] = zeros, d[tg] = gam, d[tb] = bet;
    d[th] = h, d[th1] = ones, d[th0] = zeros;
    rt_eval_ok(g, d);
    const float *z = d[plain], *a = d[affine];
    for (int r = 0; r < R; r++) {
        double m = 0, v = 0, xm = 0, xv = 0;
        for (int j = 0; j < D; j++)
            m += z[r * D + j], xm += x[r * D + j];
        m /= D, xm /= D;
        for (int j = 0; j < D; j++)
            v += (z[r * D + j] - m) * (z[r * D + j] - m), xv += (x[r * D + j] - xm) * (x[r * D + j] - xm);
        v /= D, xv /= D;
        assert_true(fabs(m) < 1e-6);
        /* biased variance: exactly var/(var+eps) */
        assert_true(fabs(v - xv / (xv + 1e-5)) < 1e-5);
        for (int j = 0; j < D; j++)
            assert_true(fabs(a[r * D + j] - ((double)z[r * D + j] * gam[j] + bet[j])) < 1e-6);
    }
    const double s = sqrt(1.5); /* (x - 2) / sqrt(2/3) */
    const double wh[3] = {-s, 0, s};
    NEAR((float *)d[hand], wh, 3, 1e-6);
    rt_done(g, d);
}

static void test_batchnorm_hand(void **state)
{
    (void)state;
    /* x [1, 2, 1, 2]: channel 0 = {1, 3}, channel 1 = {10, 20} */
    float x[4] = {1, 3, 10, 20}, gam[2] = {2, 0.5f}, bet[2] = {1, -1}, mean[2] = {1, 10}, var[2] = {4, 100};
    graph *g = g_new();
    int tx = IN(g, "x", 1, 2, 1, 2), tg = IN(g, "g", 2), tb = IN(g, "b", 2);
    int tm = IN(g, "m", 2), tv = IN(g, "v", 2);
    int y = g_batchnorm(g, tx, tg, tb, tm, tv, 0.0f);
    assert_true(y >= 0);
    g_mark_output(g, y);
    void **d = rt_slots(g);
    d[tx] = x, d[tg] = gam, d[tb] = bet, d[tm] = mean, d[tv] = var;
    rt_eval_ok(g, d);
    /* (1-1)/2*2+1 = 1, (3-1)/2*2+1 = 3, (10-10)/10*0.5-1 = -1, (20-10)/10*0.5-1 = -0.5 */
    const double want[4] = {1, 3, -1, -0.5};
    NEAR((float *)d[y], want, 4, 1e-7);
    rt_done(g, d);
}

static void test_l2norm(void **state)
{
    (void)state;
    float x[6] = {3, 4, 0, 0, 0, 0};
    graph *g = g_new();
    int tx = IN(g, "x", 2, 3);
    int y = g_l2norm(g, tx, 1e-12f);
    assert_true(y >= 0);
    g_mark_output(g, y);
    void **d = rt_slots(g);
    d[tx] = x;
    rt_eval_ok(g, d);
    const double want[6] = {0.6, 0.8, 0, 0, 0, 0}; /* zero row: 0 / eps = 0 */
    NEAR((float *)d[y], want, 6, 1e-7);
    rt_done(g, d);
}

int main(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(test_matmul_hand),
        cmocka_unit_test(test_matmul_batched_shared_b),
        cmocka_unit_test(test_broadcast_binary),
        cmocka_unit_test(test_unary_known_values),
        cmocka_unit_test(test_softmax_identities),
        cmocka_unit_test(test_softmax_causal),
        cmocka_unit_test(test_layernorm),
        cmocka_unit_test(test_batchnorm_hand),
        cmocka_unit_test(test_l2norm),
    };
    return cmocka_run_group_tests(t, NULL, NULL);
}
