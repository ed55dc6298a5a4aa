/* Builder shape inference on hand-derived cases, and every error path. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "graph/graph.h"
#include "runtime/status.h"

#include "tests/graph/builder_checks.h"

static void test_matmul(void **state)
{
    (void)state;
    graph *g = g_new();
    int a = IN(g, 2, 3), b = PAR(g, 3, 5), bias = PAR(g, 5);
    EXPECT(g, g_matmul(g, a, b, -1, 0, 0), 2, 5);
    EXPECT(g, g_matmul(g, a, b, bias, 0, 0), 2, 5);
    int bt = PAR(g, 5, 3);
    EXPECT(g, g_matmul(g, a, bt, -1, 0, 1), 2, 5);
    int at = IN(g, 3, 2);
    EXPECT(g, g_matmul(g, at, b, -1, 1, 0), 2, 5);
    EXPECT(g, g_matmul(g, at, bt, bias, 1, 1), 2, 5);
    int a4 = IN(g, 4, 7, 2, 3);
    EXPECT(g, g_matmul(g, a4, b, -1, 0, 0), 4, 7, 2, 5); /* shared 2-D weight */
    int b4 = IN(g, 4, 7, 3, 6);
    EXPECT(g, g_matmul(g, a4, b4, -1, 0, 0), 4, 7, 2, 6);
    int b4t = IN(g, 4, 7, 6, 3);
    EXPECT(g, g_matmul(g, a4, b4t, -1, 0, 1), 4, 7, 2, 6);
    assert_int_equal(g->n_errors, 0);
    /* attrs recorded */
    int r = g_matmul(g, at, bt, -1, 1, 1);
    assert_int_equal(g->nodes[g->tensors[r].producer].attr.trans_a, 1);
    assert_int_equal(g->nodes[g->tensors[r].producer].attr.trans_b, 1);
    assert_int_equal(g->nodes[g->tensors[r].producer].n_in, 2);

    int b45 = PAR(g, 4, 5);
    EXPECT_ERR(g, g_matmul(g, a, b45, -1, 0, 0), "g_matmul", "[2, 3]", "[4, 5]", "3 vs 4");
    EXPECT_ERR(g, g_matmul(g, a, b, -1, 1, 0), "g_matmul", "[2, 3]", "[3, 5]");
    int v = IN(g, 3);
    EXPECT_ERR(g, g_matmul(g, v, b, -1, 0, 0), "g_matmul", "[3]", "[3, 5]");
    EXPECT_ERR(g, g_matmul(g, a, v, -1, 0, 0), "g_matmul", "[2, 3]", "[3]");
    int bad_batch = IN(g, 4, 6, 3, 6);
    EXPECT_ERR(g, g_matmul(g, a4, bad_batch, -1, 0, 0), "g_matmul", "[4, 7, 2, 3]", "[4, 6, 3, 6]");
    int b3 = IN(g, 7, 3, 6); /* B 3-D against a 4-D A: neither equal batch nor 2-D */
    EXPECT_ERR(g, g_matmul(g, a4, b3, -1, 0, 0), "g_matmul", "[4, 7, 2, 3]", "[7, 3, 6]");
    int bias3 = PAR(g, 3);
    EXPECT_ERR(g, g_matmul(g, a, b, bias3, 0, 0), "g_matmul", "[2, 3]", "[3, 5]", "[3]", "[5]");
    int ids = IN_I32(g, 2, 3);
    EXPECT_ERR(g, g_matmul(g, ids, b, -1, 0, 0), "g_matmul", "[2, 3]", "i32");
    EXPECT_ERR(g, g_matmul(g, a, 9999, -1, 0, 0), "g_matmul", "9999");
    g_free(g);
}

static void test_broadcast(void **state)
{
    (void)state;
    graph *g = g_new();
    int a = IN(g, 2, 3, 4), row = IN(g, 4), col = IN(g, 3, 1), one = IN(g, 1);
    int b = IN(g, 5, 1, 1, 4), c = IN(g, 2, 1, 4);
    EXPECT(g, g_add(g, a, a), 2, 3, 4);
    EXPECT(g, g_add(g, a, row), 2, 3, 4);
    EXPECT(g, g_sub(g, row, a), 2, 3, 4);
    EXPECT(g, g_mul(g, a, col), 2, 3, 4);
    EXPECT(g, g_div(g, one, a), 2, 3, 4);
    EXPECT(g, g_add(g, col, row), 3, 4);
    EXPECT(g, g_mul(g, a, b), 5, 2, 3, 4);
    EXPECT(g, g_add(g, c, col), 2, 3, 4);
    int d = IN(g, 1, 6, 1, 1, 1, 1), e = IN(g, 2, 1, 3, 1, 5, 4);
    EXPECT(g, g_add(g, d, e), 2, 6, 3, 1, 5, 4);
    assert_int_equal(g->n_errors, 0);

    int bad = IN(g, 3, 5);
    EXPECT_ERR(g, g_add(g, a, bad), "g_add", "[2, 3, 4]", "[3, 5]", "5");
    EXPECT_ERR(g, g_sub(g, a, bad), "g_sub", "[2, 3, 4]", "[3, 5]");
    EXPECT_ERR(g, g_mul(g, bad, a), "g_mul", "[3, 5]", "[2, 3, 4]");
    int a2 = IN(g, 2, 3, 3);
    EXPECT_ERR(g, g_div(g, a, a2), "g_div", "[2, 3, 4]", "[2, 3, 3]");
    int ids = IN_I32(g, 4);
    EXPECT_ERR(g, g_add(g, a, ids), "g_add", "[4]", "i32");
    g_free(g);
}

static void test_unary_and_reduce(void **state)
{
    (void)state;
    graph *g = g_new();
    int x = IN(g, 2, 3, 4), v = IN(g, 7);
    EXPECT(g, g_scale(g, x, 0.5f), 2, 3, 4);
    assert_true(g->nodes[g->n_nodes - 1].attr.alpha == 0.5f);
    EXPECT(g, g_gelu(g, x), 2, 3, 4);
    EXPECT(g, g_quickgelu(g, x), 2, 3, 4);
    EXPECT(g, g_relu(g, x), 2, 3, 4);
    EXPECT(g, g_sigmoid(g, x), 2, 3, 4);
    EXPECT(g, g_exp(g, v), 7);
    EXPECT(g, g_l2norm(g, x, 1e-6f), 2, 3, 4);
    EXPECT(g, g_sum(g, x), 2, 3);
    EXPECT(g, g_mean(g, x), 2, 3);
    EXPECT(g, g_max(g, x), 2, 3);
    EXPECT_I32(g, g_argmax(g, x), 2, 3);
    EXPECT(g, g_sum(g, v), 1);
    EXPECT_I32(g, g_argmax(g, v), 1);
    EXPECT(g, g_softmax(g, x, 0), 2, 3, 4);
    EXPECT(g, g_softmax(g, x, 1), 2, 3, 4);
    EXPECT(g, g_softmax(g, v, 0), 7);
    assert_int_equal(g->n_errors, 0);

    int ids = IN_I32(g, 3, 4);
    EXPECT_ERR(g, g_gelu(g, ids), "g_gelu", "[3, 4]", "i32");
    EXPECT_ERR(g, g_relu(g, ids), "g_relu", "[3, 4]");
    EXPECT_ERR(g, g_scale(g, ids, 2.0f), "g_scale", "[3, 4]");
    EXPECT_ERR(g, g_quickgelu(g, ids), "g_quickgelu", "[3, 4]");
    EXPECT_ERR(g, g_sigmoid(g, ids), "g_sigmoid", "[3, 4]");
    EXPECT_ERR(g, g_exp(g, ids), "g_exp", "[3, 4]");
    EXPECT_ERR(g, g_l2norm(g, ids, 1e-6f), "g_l2norm", "[3, 4]");
    EXPECT_ERR(g, g_sum(g, ids), "g_sum", "[3, 4]");
    EXPECT_ERR(g, g_mean(g, ids), "g_mean", "[3, 4]");
    EXPECT_ERR(g, g_max(g, ids), "g_max", "[3, 4]");
    EXPECT_ERR(g, g_argmax(g, ids), "g_argmax", "[3, 4]");
    EXPECT_ERR(g, g_softmax(g, v, 1), "g_softmax", "[7]", "causal");
    EXPECT_ERR(g, g_softmax(g, ids, 0), "g_softmax", "[3, 4]");
    g_free(g);
}

static void test_norms(void **state)
{
    (void)state;
    graph *g = g_new();
    int x = IN(g, 2, 5, 8), gm = PAR(g, 8), bt = PAR(g, 8), g5 = PAR(g, 5);
    EXPECT(g, g_layernorm(g, x, gm, bt, 1e-5f), 2, 5, 8);
    assert_true(g->nodes[g->n_nodes - 1].attr.eps == 1e-5f);
    EXPECT_ERR(g, g_layernorm(g, x, g5, bt, 1e-5f), "g_layernorm", "[2, 5, 8]", "[5]", "[8]");
    EXPECT_ERR(g, g_layernorm(g, x, gm, g5, 1e-5f), "g_layernorm", "[2, 5, 8]", "[5]");

    int im = IN(g, 2, 3, 6, 6), c3 = PAR(g, 3), c4 = PAR(g, 4), x2 = IN(g, 4, 3);
    EXPECT(g, g_batchnorm(g, im, c3, c3, c3, c3, 1e-5f), 2, 3, 6, 6);
    EXPECT(g, g_batchnorm(g, x2, c3, c3, c3, c3, 1e-5f), 4, 3);
    EXPECT_ERR(g, g_batchnorm(g, im, c3, c3, c4, c3, 1e-5f), "g_batchnorm", "[2, 3, 6, 6]",
               "mean", "[4]", "[3]");
    EXPECT_ERR(g, g_batchnorm(g, x, c3, c3, c3, c3, 1e-5f), "g_batchnorm", "[2, 5, 8]");
    g_free(g);
}

static void test_conv_pool(void **state)
{
    (void)state;
    graph *g = g_new();
    int x = IN(g, 2, 3, 32, 32), w = PAR(g, 16, 3, 3, 3), b = PAR(g, 16);
    EXPECT(g, g_conv2d(g, x, w, b, 1, 1, 1, 1), 2, 16, 32, 32);
    EXPECT(g, g_conv2d(g, x, w, -1, 2, 2, 1, 1), 2, 16, 16, 16); /* (32+2-3)/2+1 = 16 */
    EXPECT(g, g_conv2d(g, x, w, -1, 2, 1, 0, 0), 2, 16, 15, 30);
    int patch = PAR(g, 64, 3, 16, 16); /* ViT patch embedding */
    EXPECT(g, g_conv2d(g, x, patch, -1, 16, 16, 0, 0), 2, 64, 2, 2);
    int x7 = IN(g, 1, 3, 7, 5);
    EXPECT(g, g_conv2d(g, x7, w, -1, 3, 2, 0, 1), 1, 16, 2, 3); /* (7-3)/3+1, (5+2-3)/2+1 */
    assert_int_equal(g->n_errors, 0);

    int w4 = PAR(g, 16, 4, 3, 3), b8 = PAR(g, 8), big = PAR(g, 16, 3, 40, 40);
    EXPECT_ERR(g, g_conv2d(g, x, w4, -1, 1, 1, 0, 0), "g_conv2d", "[2, 3, 32, 32]",
               "[16, 4, 3, 3]", "3 vs 4");
    EXPECT_ERR(g, g_conv2d(g, x, w, b8, 1, 1, 0, 0), "g_conv2d", "[2, 3, 32, 32]", "[8]", "[16]");
    EXPECT_ERR(g, g_conv2d(g, x, big, -1, 1, 1, 0, 0), "g_conv2d", "[2, 3, 32, 32]",
               "[16, 3, 40, 40]");
    EXPECT_ERR(g, g_conv2d(g, x, w, -1, 0, 1, 0, 0), "g_conv2d", "[2, 3, 32, 32]", "stride");
    EXPECT_ERR(g, g_conv2d(g, x, w, -1, 1, 1, -1, 0), "g_conv2d", "pad");
    int x3 = IN(g, 3, 32, 32);
    EXPECT_ERR(g, g_conv2d(g, x3, w, -1, 1, 1, 0, 0), "g_conv2d", "[3, 32, 32]", "[16, 3, 3, 3]");

    EXPECT(g, g_avgpool2d(g, x, 2, 2, 0), 2, 3, 16, 16);
    EXPECT(g, g_avgpool2d(g, x, 3, 2, 1), 2, 3, 16, 16); /* (32+2-3)/2+1 = 16 */
    EXPECT(g, g_avgpool2d(g, x7, 3, 3, 0), 1, 3, 2, 1);   /* floor mode */
    EXPECT(g, g_avgpool2d(g, x7, 2, 2, 1), 1, 3, 4, 3);
    EXPECT_ERR(g, g_avgpool2d(g, x7, 6, 1, 0), "g_avgpool2d", "[1, 3, 7, 5]");
    EXPECT_ERR(g, g_avgpool2d(g, x, 2, 2, 2), "g_avgpool2d", "[2, 3, 32, 32]", "pad 2");
    EXPECT_ERR(g, g_avgpool2d(g, x, 2, 0, 0), "g_avgpool2d", "stride 0");
    EXPECT_ERR(g, g_avgpool2d(g, x3, 2, 2, 0), "g_avgpool2d", "[3, 32, 32]");
    g_free(g);
}

static void test_embedding_attention(void **state)
{
    (void)state;
    graph *g = g_new();
    int table = PAR(g, 100, 16), ids = IN_I32(g, 2, 7), id1 = IN_I32(g, 5);
    EXPECT(g, g_embedding(g, table, ids), 2, 7, 16);
    EXPECT(g, g_embedding(g, table, id1), 5, 16);
    int fids = IN(g, 2, 7), t3 = PAR(g, 4, 100, 16), ids6 = IN_I32(g, 1, 1, 1, 1, 1, 2);
    EXPECT_ERR(g, g_embedding(g, table, fids), "g_embedding", "[100, 16]", "[2, 7]", "i32");
    EXPECT_ERR(g, g_embedding(g, t3, ids), "g_embedding", "[4, 100, 16]", "[2, 7]");
    EXPECT_ERR(g, g_embedding(g, table, ids6), "g_embedding", "[1, 1, 1, 1, 1, 2]");

    int q = IN(g, 2, 5, 12), kv = IN(g, 2, 9, 12), errs = g->n_errors;
    EXPECT(g, g_attention(g, q, q, q, 3, 1), 2, 5, 12);
    EXPECT(g, g_attention(g, q, kv, kv, 4, 0), 2, 5, 12);
    assert_int_equal(g->nodes[g->n_nodes - 1].attr.heads, 4);
    assert_int_equal(g->n_errors, errs);
    EXPECT_ERR(g, g_attention(g, q, q, q, 5, 0), "g_attention", "[2, 5, 12]", "5 heads");
    EXPECT_ERR(g, g_attention(g, q, kv, kv, 3, 1), "g_attention", "[2, 5, 12]", "[2, 9, 12]",
               "causal");
    int kbad = IN(g, 3, 9, 12), c8 = IN(g, 2, 9, 8), q2 = IN(g, 10, 12);
    EXPECT_ERR(g, g_attention(g, q, kbad, kbad, 3, 0), "g_attention", "[2, 5, 12]", "[3, 9, 12]");
    EXPECT_ERR(g, g_attention(g, q, kv, c8, 3, 0), "g_attention", "[2, 9, 12]", "[2, 9, 8]");
    EXPECT_ERR(g, g_attention(g, q2, q2, q2, 3, 0), "g_attention", "[10, 12]");
    g_free(g);
}

static void test_shape_ops(void **state)
{
    (void)state;
    graph *g = g_new();
    int x = IN(g, 2, 3, 4);
    int r = g_reshape(g, x, 2, SHAPE(6, 4));
    EXPECT(g, r, 6, 4);
    assert_int_equal(g->tensors[r].alias_of, x);
    int r2 = g_reshape(g, r, 3, SHAPE(4, -1, 2));
    EXPECT(g, r2, 4, 3, 2);
    assert_int_equal(g->tensors[r2].alias_of, x); /* storage root, not r */
    assert_int_equal(g_storage_root(g, r2), x);
    EXPECT(g, g_reshape(g, x, 1, SHAPE(-1)), 24);
    EXPECT_ERR(g, g_reshape(g, x, 2, SHAPE(5, 5)), "g_reshape", "[2, 3, 4]", "[5, 5]", "24");
    EXPECT_ERR(g, g_reshape(g, x, 2, SHAPE(5, -1)), "g_reshape", "[2, 3, 4]", "[5, -1]");
    EXPECT_ERR(g, g_reshape(g, x, 2, SHAPE(-1, -1)), "g_reshape", "[2, 3, 4]");
    EXPECT_ERR(g, g_reshape(g, x, 2, SHAPE(0, 24)), "g_reshape", "[0, 24]");
    EXPECT_ERR(g, g_reshape(g, x, 7, SHAPE(1, 1, 1, 2, 3, 4, 1)), "g_reshape", "[2, 3, 4]");

    int p = g_permute(g, x, (const int[]){2, 0, 1});
    EXPECT(g, p, 4, 2, 3);
    assert_int_equal(g->tensors[p].alias_of, -1);
    assert_int_equal(g->nodes[g->n_nodes - 1].attr.perm[0], 2);
    EXPECT(g, g_transpose(g, x, 0, 2), 4, 3, 2);
    EXPECT(g, g_transpose(g, x, -1, -2), 2, 4, 3);
    EXPECT_ERR(g, g_permute(g, x, (const int[]){0, 0, 1}), "g_permute", "[2, 3, 4]", "0, 0, 1");
    EXPECT_ERR(g, g_permute(g, x, (const int[]){0, 1, 3}), "g_permute", "[2, 3, 4]");
    EXPECT_ERR(g, g_transpose(g, x, 0, 3), "g_transpose", "[2, 3, 4]");

    int y = IN(g, 10, 6);
    EXPECT(g, g_slice(g, y, 0, 2, 5, 1), 3, 6);
    EXPECT(g, g_slice(g, y, 0, 0, 10, 3), 4, 6);   /* 0,3,6,9 */
    EXPECT(g, g_slice(g, y, -1, -2, 100, 1), 10, 2); /* clamp end; start from the end */
    EXPECT(g, g_slice(g, y, 0, -100, 2, 1), 2, 6);   /* clamp start */
    EXPECT(g, g_slice(g, y, 1, 1, 6, 2), 10, 3);     /* 1,3,5 */
    int s = g_slice(g, y, 0, -3, -1, 1);
    EXPECT(g, s, 2, 6);
    const g_attr *sa = &g->nodes[g->n_nodes - 1].attr;
    assert_int_equal(sa->start, 7);
    assert_int_equal(sa->end, 9);
    EXPECT_ERR(g, g_slice(g, y, 0, 5, 5, 1), "g_slice", "[10, 6]", "empty");
    EXPECT_ERR(g, g_slice(g, y, 0, 12, 20, 1), "g_slice", "[10, 6]", "empty");
    EXPECT_ERR(g, g_slice(g, y, 0, 0, 5, 0), "g_slice", "[10, 6]", "step 0");
    EXPECT_ERR(g, g_slice(g, y, 2, 0, 5, 1), "g_slice", "[10, 6]", "axis 2");
    EXPECT_ERR(g, g_slice(g, y, -3, 0, 5, 1), "g_slice", "axis -3");

    int c1 = IN(g, 2, 3, 4), c2 = IN(g, 2, 5, 4), c3 = IN(g, 2, 1, 4);
    EXPECT(g, g_concat(g, 3, (const int[]){c1, c2, c3}, 1), 2, 9, 4);
    EXPECT(g, g_concat(g, 2, (const int[]){c1, c1}, -1), 2, 3, 8);
    EXPECT(g, g_concat(g, 1, (const int[]){c1}, 0), 2, 3, 4);
    EXPECT_ERR(g, g_concat(g, 2, (const int[]){c1, c2}, 2), "g_concat", "[2, 3, 4]", "[2, 5, 4]");
    int c4 = IN(g, 2, 3);
    EXPECT_ERR(g, g_concat(g, 2, (const int[]){c1, c4}, 0), "g_concat", "[2, 3, 4]", "[2, 3]");
    EXPECT_ERR(g, g_concat(g, 0, (const int[]){c1}, 0), "g_concat", "0 inputs");
    EXPECT_ERR(g, g_concat(g, 2, (const int[]){c1, c1}, 3), "g_concat", "[2, 3, 4]", "axis 3");
    g_free(g);
}

static void test_inputs_and_chaining(void **state)
{
    (void)state;
    graph *g = g_new();
    EXPECT_ERR(g, g_input(g, "bad", G_F32, 0, SHAPE(1)), "g_input", "bad", "ndim 0");
    EXPECT_ERR(g, g_input(g, "bad", G_F32, 7, SHAPE(1, 1, 1, 1, 1, 1, 1)), "g_input", "ndim 7");
    EXPECT_ERR(g, g_param(g, "zero", 2, SHAPE(3, 0)), "g_param", "zero", "[3, 0]");
    EXPECT_ERR(g, g_param(g, "neg", 1, SHAPE(-2)), "g_param", "[-2]");
    assert_int_equal(g->n_tensors, 0);

    /* A failure early in a chain surfaces once: later builders return -1
     * silently, and the message still names the first failing op. */
    int x = IN(g, 2, 3), w = PAR(g, 4, 5);
    int errs = g->n_errors;
    int h = g_matmul(g, x, w, -1, 0, 0);
    h = g_gelu(g, h);
    h = g_add(g, h, x);
    h = g_layernorm(g, h, -1, -1, 1e-5f);
    h = g_reshape(g, h, 1, SHAPE(-1));
    h = g_concat(g, 2, (const int[]){x, h}, 0);
    h = g_softmax(g, h, 0);
    h = g_sum(g, h);
    h = g_attention(g, h, h, h, 1, 0);
    assert_int_equal(h, -1);
    assert_int_equal(g->n_errors, errs + 1);
    assert_non_null(strstr(cc_last_error(), "g_matmul"));
    assert_int_equal(g->n_nodes, 0);

    /* default names and roles */
    int y = g_relu(g, x);
    assert_string_equal(g->tensors[y].name, "relu_0");
    assert_string_equal(g->nodes[0].name, "relu_0");
    assert_int_equal(g->tensors[y].role, G_ROLE_ACT);
    assert_int_equal(g->tensors[y].producer, 0);
    assert_int_equal(g->tensors[x].role, G_ROLE_INPUT);
    assert_int_equal(g->tensors[w].role, G_ROLE_PARAM);
    g_set_name(g, y, "act");
    assert_string_equal(g->tensors[y].name, "act");
    assert_int_equal(g_numel(g, w), 20);
    assert_int_equal(g_nbytes(g, w), 80);
    char buf[32];
    assert_string_equal(g_shape_str(g, w, buf, sizeof buf), "[4, 5]");
    EXPECT_ERR(g, g_append_node(g, G_OP_RELU, 1, (const int[]){42}, NULL, G_F32, 1, SHAPE(3)),
               "relu", "42");
    assert_string_equal(g_op_name(G_OP_ATTENTION), "attention");
    assert_string_equal(g_op_name(G_OP_MATMUL), "matmul");
    for (int op = 0; op < G_OP_COUNT; op++)
        assert_string_not_equal(g_op_name((g_op)op), "unknown");

    /* growth past the initial capacity keeps earlier ids valid */
    int t = x;
    for (int i = 0; i < 1000; i++)
        t = g_scale(g, t, 1.0f);
    EXPECT(g, t, 2, 3);
    assert_int_equal(g->tensors[x].ndim, 2);
    assert_int_equal(g->nodes[500].in[0], g->nodes[499].out);
    g_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matmul),
        cmocka_unit_test(test_broadcast),
        cmocka_unit_test(test_unary_and_reduce),
        cmocka_unit_test(test_norms),
        cmocka_unit_test(test_conv_pool),
        cmocka_unit_test(test_embedding_attention),
        cmocka_unit_test(test_shape_ops),
        cmocka_unit_test(test_inputs_and_chaining),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
