/* Ref backward ops, spatial family: every element of conv2d_grad_input,
 * conv2d_grad_weight and avgpool2d_grad against central differences of the
 * ref forward op's sum(forward(x) * r), on shapes where strides leave
 * input rows/columns that no window reaches (their gradient must be 0),
 * non-square kernels, strides and pads. */
#include "tests/ref/test_ref_grad_util.h"

typedef struct conv_case {
    int N, C, H, W, O, KH, KW, sh, sw, ph, pw;
} conv_case;

static void check_conv(const conv_case *k)
{
    int nx = k->N * k->C * k->H * k->W, nw = k->O * k->C * k->KH * k->KW;
    float *x = malloc((size_t)nx * sizeof *x), *w = malloc((size_t)nw * sizeof *w), b[8];
    assert_true(x && w && k->O <= 8);
    rt_fill(x, nx, 51);
    rt_fill(w, nw, 52);
    rt_fill(b, k->O, 53);
    graph *g = g_new();
    int tx = IN(g, "x", k->N, k->C, k->H, k->W), tw = IN(g, "w", k->O, k->C, k->KH, k->KW);
    int tb = IN(g, "b", k->O);
    int y = g_conv2d(g, tx, tw, tb, k->sh, k->sw, k->ph, k->pw);
    assert_true(y >= 0);
    int nd;
    int64_t sy[G_MAX_DIMS], sx[G_MAX_DIMS], sw[G_MAX_DIMS];
    gu_shape(g, y, &nd, sy);
    gu_shape(g, tx, &nd, sx);
    gu_shape(g, tw, &nd, sw);
    int tr = g_input(g, "r", G_F32, 4, sy);
    int ny = (int)g_numel(g, y);
    float *r = malloc((size_t)ny * sizeof *r);
    assert_non_null(r);
    rt_fill(r, ny, 54);
    g_attr at = {0};
    at.stride[0] = k->sh, at.stride[1] = k->sw, at.pad[0] = k->ph, at.pad[1] = k->pw;
    at.kernel[0] = k->KH, at.kernel[1] = k->KW;
    int in_i[2] = {tr, tw}, in_w[2] = {tx, tr};
    int dx = gu_node(g, G_OP_CONV2D_GRAD_INPUT, 2, in_i, &at, 4, sx);
    int dw = gu_node(g, G_OP_CONV2D_GRAD_WEIGHT, 2, in_w, &at, 4, sw);
    g_mark_output(g, y), g_mark_output(g, dx), g_mark_output(g, dw);
    void **d = rt_slots(g);
    d[tx] = x, d[tw] = w, d[tb] = b, d[tr] = r;
    rt_eval_ok(g, d);
    float *gx = gu_copy(g, d, dx), *gw = gu_copy(g, d, dw);
    /* conv is linear in each argument: a large step is exact up to rounding */
    FD_CHECK(g, d, x, nx, y, r, gx, 0.25, 1e-5);
    FD_CHECK(g, d, w, nw, y, r, gw, 0.25, 1e-5);
    free(gx), free(gw), free(x), free(w), free(r);
    rt_done(g, d);
}

static void test_conv_grad_stride2_pad1(void **state)
{
    (void)state;
    const conv_case k = {2, 3, 5, 6, 2, 3, 3, 2, 2, 1, 1};
    check_conv(&k);
}

/* H = 6, kernel 3, stride 2, no pad: row 5 is never read (its dx is 0);
 * kernel 3x2 with stride 1 and pad 1 on the width. */
static void test_conv_grad_uneven(void **state)
{
    (void)state;
    const conv_case k = {1, 2, 6, 5, 3, 3, 2, 2, 1, 0, 1};
    check_conv(&k);
}

/* A 1x1 conv and a patchify conv (kernel = stride), as ViT's stem. */
static void test_conv_grad_1x1_and_patchify(void **state)
{
    (void)state;
    const conv_case a = {2, 3, 4, 3, 4, 1, 1, 1, 1, 0, 0};
    const conv_case b = {1, 3, 8, 8, 4, 4, 4, 4, 4, 0, 0};
    check_conv(&a);
    check_conv(&b);
}

static void check_avgpool(int N, int C, int H, int W, int kernel, int stride, int pad)
{
    int nx = N * C * H * W;
    float *x = malloc((size_t)nx * sizeof *x);
    assert_non_null(x);
    rt_fill(x, nx, 61);
    graph *g = g_new();
    int tx = IN(g, "x", N, C, H, W);
    int y = g_avgpool2d(g, tx, kernel, stride, pad);
    assert_true(y >= 0);
    int nd;
    int64_t sy[G_MAX_DIMS], sx[G_MAX_DIMS];
    gu_shape(g, y, &nd, sy);
    gu_shape(g, tx, &nd, sx);
    int tr = g_input(g, "r", G_F32, 4, sy);
    int ny = (int)g_numel(g, y);
    float *r = malloc((size_t)ny * sizeof *r);
    assert_non_null(r);
    rt_fill(r, ny, 62);
    /* the backward reads the same attributes the forward's builder set */
    g_attr at = g->nodes[g->tensors[y].producer].attr;
    int dx = gu_node(g, G_OP_AVGPOOL2D_GRAD, 1, &tr, &at, 4, sx);
    g_mark_output(g, y), g_mark_output(g, dx);
    void **d = rt_slots(g);
    d[tx] = x, d[tr] = r;
    rt_eval_ok(g, d);
    float *gx = gu_copy(g, d, dx);
    FD_CHECK(g, d, x, nx, y, r, gx, 0.25, 1e-5);
    free(gx), free(x), free(r);
    rt_done(g, d);
}

static void test_avgpool_grad(void **state)
{
    (void)state;
    check_avgpool(2, 2, 5, 6, 3, 2, 1); /* overlapping padded windows */
    check_avgpool(1, 3, 5, 5, 2, 2, 0); /* last row and column unread */
    check_avgpool(1, 1, 4, 4, 3, 1, 1);
}

/* Hand example: 1x1x3x3 input, 2x2 kernel of ones, stride 1: dx counts
 * how many windows cover each pixel, times dy = 1. Weight grad = window
 * sums of x. */
static void test_conv_grad_hand(void **state)
{
    (void)state;
    float dy[4] = {1, 1, 1, 1}, w[4] = {1, 1, 1, 1}, x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    graph *g = g_new();
    int tdy = IN(g, "dy", 1, 1, 2, 2), tw = IN(g, "w", 1, 1, 2, 2), tx = IN(g, "x", 1, 1, 3, 3);
    g_attr at = {0};
    at.stride[0] = at.stride[1] = 1;
    int in_i[2] = {tdy, tw}, in_w[2] = {tx, tdy};
    int64_t sx[4] = {1, 1, 3, 3}, sw[4] = {1, 1, 2, 2};
    int dx = gu_node(g, G_OP_CONV2D_GRAD_INPUT, 2, in_i, &at, 4, sx);
    int dw = gu_node(g, G_OP_CONV2D_GRAD_WEIGHT, 2, in_w, &at, 4, sw);
    g_mark_output(g, dx), g_mark_output(g, dw);
    void **d = rt_slots(g);
    d[tdy] = dy, d[tw] = w, d[tx] = x;
    rt_eval_ok(g, d);
    const double wx[9] = {1, 2, 1, 2, 4, 2, 1, 2, 1};
    const double ww[4] = {1 + 2 + 4 + 5, 2 + 3 + 5 + 6, 4 + 5 + 7 + 8, 5 + 6 + 8 + 9};
    NEAR((float *)d[dx], wx, 9, 0);
    NEAR((float *)d[dw], ww, 4, 0);
    rt_done(g, d);
}

/* dy whose spatial size is not what the forward would give is refused. */
static void test_conv_grad_bad_dy(void **state)
{
    (void)state;
    float dy[9] = {0}, w[4] = {0};
    graph *g = g_new();
    int tdy = IN(g, "dy", 1, 1, 3, 3), tw = IN(g, "w", 1, 1, 2, 2);
    g_attr at = {0};
    at.stride[0] = at.stride[1] = 1;
    int in[2] = {tdy, tw};
    int64_t sx[4] = {1, 1, 3, 3}; /* the forward of 3x3 with a 2x2 kernel gives 2x2 */
    int dx = gu_node(g, G_OP_CONV2D_GRAD_INPUT, 2, in, &at, 4, sx);
    g_mark_output(g, dx);
    void **d = rt_slots(g);
    d[tdy] = dy, d[tw] = w;
    assert_int_equal(ref_eval(g, d), CC_ERR_SHAPE);
    rt_done(g, d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_grad_stride2_pad1),
        cmocka_unit_test(test_conv_grad_uneven),
        cmocka_unit_test(test_conv_grad_1x1_and_patchify),
        cmocka_unit_test(test_avgpool_grad),
        cmocka_unit_test(test_conv_grad_hand),
        cmocka_unit_test(test_conv_grad_bad_dy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
