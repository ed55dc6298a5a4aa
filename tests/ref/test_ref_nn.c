/* Ref backend, spatial and attention ops: conv2d by hand and against an
 * im2col + matmul done here, avgpool with padding by hand, attention
 * against softmax(q k^T / sqrt d) v computed directly. */
#include "tests/ref/ref_test_util.h"

static void test_conv_3x3_hand(void **state)
{
    (void)state;
    float x[16], w[9], bias[1] = {0.5f};
    for (int i = 0; i < 16; i++)
        x[i] = (float)(i + 1);
    for (int i = 0; i < 9; i++)
        w[i] = 1;
    graph *g = g_new();
    int tx = IN(g, "x", 1, 1, 4, 4), tw = IN(g, "w", 1, 1, 3, 3), tb = IN(g, "b", 1);
    int y0 = g_conv2d(g, tx, tw, -1, 1, 1, 0, 0);
    int y1 = g_conv2d(g, tx, tw, tb, 1, 1, 1, 1);
    assert_true(y0 >= 0 && y1 >= 0);
    assert_int_equal(g->tensors[y0].shape[2], 2);
    assert_int_equal(g->tensors[y1].shape[3], 4);
    g_mark_output(g, y0), g_mark_output(g, y1);
    void **d = rt_slots(g);
    d[tx] = x, d[tw] = w, d[tb] = bias;
    rt_eval_ok(g, d);
    /* window sums of the 4x4 ramp 1..16 */
    const double w0[4] = {54, 63, 90, 99};
    NEAR((float *)d[y0], w0, 4, 0);
    const float *p = d[y1];
    assert_true(p[0] == 14.5f);            /* 1+2+5+6 + bias */
    assert_true(p[3] == 4 + 3 + 8 + 7 + 0.5f);
    assert_true(p[5] == 54.5f);            /* interior = unpadded (0,0) */
    assert_true(p[15] == 11 + 12 + 15 + 16 + 0.5f);
    rt_done(g, d);
}

/* conv2d(x, w) == W[O, C*KH*KW] @ im2col(x)[C*KH*KW, OH*OW] per image. */
static void test_conv_equals_im2col(void **state)
{
    (void)state;
    enum { N = 2, C = 3, H = 7, W = 6, O = 4, K = 3, S = 2, P = 1 };
    enum { OH = (H + 2 * P - K) / S + 1, OW = (W + 2 * P - K) / S + 1, CK = C * K * K };
    static float x[N * C * H * W], w[O * CK], b[O];
    rt_fill(x, N * C * H * W, 21);
    rt_fill(w, O * CK, 22);
    rt_fill(b, O, 23);
    graph *g = g_new();
    int tx = IN(g, "x", N, C, H, W), tw = IN(g, "w", O, C, K, K), tb = IN(g, "b", O);
    int y = g_conv2d(g, tx, tw, tb, S, S, P, P);
    assert_true(y >= 0);
    assert_int_equal(g->tensors[y].shape[2], OH);
    assert_int_equal(g->tensors[y].shape[3], OW);
    g_mark_output(g, y);
    void **d = rt_slots(g);
    d[tx] = x, d[tw] = w, d[tb] = b;
    rt_eval_ok(g, d);
    static double col[CK][OH * OW], want[N * O * OH * OW];
    for (int n = 0; n < N; n++) {
        for (int r = 0; r < CK; r++) {
            int c = r / (K * K), ky = r / K % K, kx = r % K;
            for (int q = 0; q < OH * OW; q++) {
                int iy = q / OW * S - P + ky, ix = q % OW * S - P + kx;
                int in = iy >= 0 && iy < H && ix >= 0 && ix < W;
                col[r][q] = in ? x[((n * C + c) * H + iy) * W + ix] : 0.0;
            }
        }
        for (int o = 0; o < O; o++)
            for (int q = 0; q < OH * OW; q++) {
                double acc = b[o];
                for (int r = 0; r < CK; r++)
                    acc += w[o * CK + r] * col[r][q];
                want[(n * O + o) * OH * OW + q] = acc;
            }
    }
    NEAR((float *)d[y], want, N * O * OH * OW, 1e-6);
    rt_done(g, d);
}

static void test_avgpool_padded_hand(void **state)
{
    (void)state;
    float x[16];
    for (int i = 0; i < 16; i++)
        x[i] = (float)(i + 1);
    graph *g = g_new();
    int tx = IN(g, "x", 1, 1, 4, 4);
    int y = g_avgpool2d(g, tx, 2, 2, 1);
    assert_true(y >= 0);
    assert_int_equal(g->tensors[y].shape[2], 3);
    g_mark_output(g, y);
    void **d = rt_slots(g);
    d[tx] = x;
    rt_eval_ok(g, d);
    /* windows rows/cols {-1,0}, {1,2}, {3,4}; padding counts in the /4 */
    const double want[9] = {0.25, 1.25, 1, 3.5, 8.5, 5, 3.25, 7.25, 4};
    NEAR((float *)d[y], want, 9, 0);
    rt_done(g, d);
}

/* Direct single-head attention on contiguous [T,d] / [S,d] arrays. */
static void attend(const float *q, const float *k, const float *v, int T, int S, int dh,
                   int ld, int causal, double *out, int ldo)
{
    for (int t = 0; t < T; t++) {
        double sc[16], z = 0, mx = -1e300;
        int n = causal ? t + 1 : S;
        for (int s = 0; s < n; s++) {
            double dot = 0;
            for (int c = 0; c < dh; c++)
                dot += (double)q[t * ld + c] * k[s * ld + c];
            sc[s] = dot / sqrt((double)dh);
            if (sc[s] > mx)
                mx = sc[s];
        }
        for (int s = 0; s < n; s++)
            z += (sc[s] = exp(sc[s] - mx));
        for (int c = 0; c < dh; c++) {
            double acc = 0;
            for (int s = 0; s < n; s++)
                acc += sc[s] / z * v[s * ld + c];
            out[t * ldo + c] = acc;
        }
    }
}

static void check_attention(int B, int T, int S, int C, int h, int causal)
{
    int nq = B * T * C, nk = B * S * C;
    float *q = malloc(sizeof(float) * nq), *k = malloc(sizeof(float) * nk), *v = malloc(sizeof(float) * nk);
    double *want = malloc(sizeof(double) * nq);
    assert_true(q && k && v && want);
    rt_fill(q, nq, 31 + C), rt_fill(k, nk, 32 + h), rt_fill(v, nk, 33 + causal);
    graph *g = g_new();
    int tq = IN(g, "q", B, T, C), tk = IN(g, "k", B, S, C), tv = IN(g, "v", B, S, C);
    int y = g_attention(g, tq, tk, tv, h, causal);
    assert_true(y >= 0);
    g_mark_output(g, y);
    void **d = rt_slots(g);
    d[tq] = q, d[tk] = k, d[tv] = v;
    rt_eval_ok(g, d);
    int dh = C / h;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < h; i++)
            attend(q + b * T * C + i * dh, k + b * S * C + i * dh, v + b * S * C + i * dh, T, S, dh, C,
                   causal, want + b * T * C + i * dh, C);
    NEAR((float *)d[y], want, nq, 1e-6);
    if (causal) /* row 0 attends to key 0 alone: it is v row 0 exactly */
        for (int b = 0; b < B; b++)
            for (int c = 0; c < C; c++)
                assert_true(fabs(((float *)d[y])[b * T * C + c] - v[b * S * C + c]) < 1e-7);
    rt_done(g, d);
    free(q), free(k), free(v), free(want);
}

static void test_attention_one_head(void **state)
{
    (void)state;
    check_attention(2, 3, 5, 4, 1, 0);
}

static void test_attention_heads(void **state)
{
    (void)state;
    check_attention(2, 5, 5, 12, 3, 0);
}

static void test_attention_causal(void **state)
{
    (void)state;
    check_attention(2, 6, 6, 8, 2, 1);
}

int main(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(test_conv_3x3_hand),
        cmocka_unit_test(test_conv_equals_im2col),
        cmocka_unit_test(test_avgpool_padded_hand),
        cmocka_unit_test(test_attention_one_head),
        cmocka_unit_test(test_attention_heads),
        cmocka_unit_test(test_attention_causal),
    };
    return cmocka_run_group_tests(t, NULL, NULL);
}
