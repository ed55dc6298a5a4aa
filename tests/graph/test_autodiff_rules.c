/* Every backward rule against central finite differences on the ref backend:
 * loss = sum(op(inputs) * r) for fixed random r, differentiated with
 * g_backward w.r.t. every f32 input of the op. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>

#include "ad_check.h"
#include "graph/graph.h"
#include "runtime/status.h"

#define SHAPE(...) ((const int64_t[]){__VA_ARGS__})
#define NDIM(...) ((int)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))
#define IN(g, name, ...) g_input(g, name, G_F32, NDIM(__VA_ARGS__), SHAPE(__VA_ARGS__))
#define PAR(g, name, ...) g_param(g, name, NDIM(__VA_ARGS__), SHAPE(__VA_ARGS__))

static void run(const char *label, adc_build_fn fn, int param, const adc_opts *o)
{
    int rc = adc_check(label, fn, param, o);
    if (rc != 0)
        fail_msg("%s (param %d): %s", label, param, rc < 0 ? cc_last_error() : "gradient mismatch");
}

/* param bits: 1 trans_a, 2 trans_b, 4 batched B (same batch dims as A),
 * 8 shared 2-D B with a batched A, 16 bias. */
static int b_matmul(graph *g, int p, int *wrt, int *nw)
{
    int ta = p & 1, tb = (p >> 1) & 1, batched = (p & 4) != 0, shared = (p & 8) != 0;
    int64_t M = 3, K = 4, N = 5;
    int64_t as[3] = {2, ta ? K : M, ta ? M : K}, bs[3] = {2, tb ? N : K, tb ? K : N};
    int an = batched || shared ? 3 : 2, bn = batched ? 3 : 2;
    int a = g_input(g, "A", G_F32, an, an == 3 ? as : as + 1);
    int b = g_param(g, "B", bn, bn == 3 ? bs : bs + 1);
    int bias = (p & 16) ? PAR(g, "bias", N) : -1;
    wrt[0] = a;
    wrt[1] = b;
    *nw = 2;
    if (bias >= 0)
        wrt[(*nw)++] = bias;
    return g_matmul(g, a, b, bias, ta, tb);
}

static void test_matmul(void **state)
{
    (void)state;
    char label[64];
    for (int p = 0; p < 32; p++) {
        if ((p & 4) && (p & 8))
            continue;
        snprintf(label, sizeof label, "matmul ta%d tb%d %s%s", p & 1, (p >> 1) & 1,
                 (p & 4) ? "batched" : (p & 8) ? "sharedB" : "2d", (p & 16) ? " bias" : "");
        run(label, b_matmul, p, NULL);
    }
}

/* param: op (0 add, 1 sub, 2 mul, 3 div) * 4 + broadcast pattern */
static int b_binary(graph *g, int p, int *wrt, int *nw)
{
    int op = p / 4, pat = p % 4, a, b;
    switch (pat) {
    case 0: a = IN(g, "a", 2, 3, 4); b = IN(g, "b", 2, 3, 4); break;
    case 1: a = IN(g, "a", 2, 3, 4); b = IN(g, "b", 3, 1); break;
    case 2: a = IN(g, "a", 1, 4); b = IN(g, "b", 2, 3, 4); break;
    default: a = IN(g, "a", 2, 1, 4); b = IN(g, "b", 3, 1); break;
    }
    if (op == 3)
        adc_range(b, 0.5f, 1.5f);
    wrt[0] = a;
    wrt[1] = b;
    *nw = 2;
    switch (op) {
    case 0: return g_add(g, a, b);
    case 1: return g_sub(g, a, b);
    case 2: return g_mul(g, a, b);
    default: return g_div(g, a, b);
    }
}

static void test_binary_broadcast(void **state)
{
    (void)state;
    const char *ops[] = {"add", "sub", "mul", "div"};
    char label[64];
    for (int p = 0; p < 16; p++) {
        snprintf(label, sizeof label, "%s pattern %d", ops[p / 4], p % 4);
        run(label, b_binary, p, NULL);
    }
}

enum { U_SCALE, U_GELU, U_QGELU, U_RELU, U_SIGMOID, U_EXP, U_LOG, U_SOFTMAX, U_SOFTMAX_CAUSAL, U_L2NORM, U_N };
static const char *const unary_names[U_N] = {"scale", "gelu", "quickgelu", "relu", "sigmoid",
                                             "exp", "log", "softmax", "softmax causal", "l2norm"};

static int b_unary(graph *g, int p, int *wrt, int *nw)
{
    int x = IN(g, "x", 2, 3, 5);
    wrt[0] = x;
    *nw = 1;
    switch (p) {
    case U_SCALE: return g_scale(g, x, -1.75f);
    case U_GELU: adc_range(x, -3.0f, 3.0f); return g_gelu(g, x);
    case U_QGELU: adc_range(x, -3.0f, 3.0f); return g_quickgelu(g, x);
    case U_RELU: return g_relu(g, x);
    case U_SIGMOID: adc_range(x, -3.0f, 3.0f); return g_sigmoid(g, x);
    case U_EXP: return g_exp(g, x);
    case U_LOG: adc_range(x, 0.5f, 2.0f); return g_log(g, x);
    case U_SOFTMAX: adc_range(x, -2.0f, 2.0f); return g_softmax(g, x, 0);
    case U_SOFTMAX_CAUSAL: adc_range(x, -2.0f, 2.0f); return g_softmax(g, x, 1);
    default: return g_l2norm(g, x, 1e-6f);
    }
}

static void test_unary(void **state)
{
    (void)state;
    for (int p = 0; p < U_N; p++) {
        adc_opts o = adc_default();
        if (p == U_RELU)
            o.h = 1e-3; /* stay off the kink at 0 */
        run(unary_names[p], b_unary, p, &o);
    }
}

/* 0 sum, 1 mean, 2 sum of 1-D, 3 mean of 1-D, 4 sum_to, 5 broadcast_to */
static int b_reduce(graph *g, int p, int *wrt, int *nw)
{
    int x = p == 2 || p == 3 ? IN(g, "x", 5) : p == 5 ? IN(g, "x", 3, 1) : IN(g, "x", 2, 3, 4);
    wrt[0] = x;
    *nw = 1;
    switch (p) {
    case 0: case 2: return g_sum(g, x);
    case 1: case 3: return g_mean(g, x);
    case 4: return g_sum_to(g, x, 2, SHAPE(3, 1));
    default: return g_broadcast_to(g, x, 3, SHAPE(2, 3, 4));
    }
}

static void test_reductions(void **state)
{
    (void)state;
    const char *names[] = {"sum", "mean", "sum 1-D", "mean 1-D", "sum_to", "broadcast_to"};
    for (int p = 0; p < 6; p++)
        run(names[p], b_reduce, p, NULL);
}

/* 0 reshape, 1 permute, 2 slice step 2, 3 slice negative bounds, 4 concat */
static int b_shape(graph *g, int p, int *wrt, int *nw)
{
    int x = IN(g, "x", 2, 3, 4);
    wrt[0] = x;
    *nw = 1;
    switch (p) {
    case 0: return g_reshape(g, x, 2, SHAPE(4, 6));
    case 1: return g_permute(g, x, (const int[]){2, 0, 1});
    case 2: return g_slice(g, x, 2, 0, 4, 2);
    case 3: return g_slice(g, x, 1, -2, 100, 1);
    default: {
        int y = IN(g, "y", 2, 1, 4), z = IN(g, "z", 2, 2, 4);
        wrt[1] = y;
        wrt[2] = z;
        *nw = 3;
        return g_concat(g, 3, (const int[]){x, y, z}, 1);
    }
    }
}

static void test_shape_ops(void **state)
{
    (void)state;
    const char *names[] = {"reshape", "permute", "slice step 2", "slice negative", "concat x3"};
    for (int p = 0; p < 5; p++)
        run(names[p], b_shape, p, NULL);
}

static int b_layernorm(graph *g, int p, int *wrt, int *nw)
{
    (void)p;
    int x = IN(g, "x", 2, 3, 6), ga = PAR(g, "gamma", 6), be = PAR(g, "beta", 6);
    adc_range(ga, 0.5f, 1.5f);
    wrt[0] = x;
    wrt[1] = ga;
    wrt[2] = be;
    *nw = 3;
    return g_layernorm(g, x, ga, be, 1e-5f);
}

/* 0 inference batchnorm (x, gamma, beta), 1 training 4-D, 2 training 2-D */
static int b_batchnorm(graph *g, int p, int *wrt, int *nw)
{
    int x = p == 2 ? IN(g, "x", 5, 3) : IN(g, "x", 3, 3, 3, 2);
    int ga = PAR(g, "gamma", 3), be = PAR(g, "beta", 3);
    adc_range(ga, 0.5f, 1.5f);
    wrt[0] = x;
    wrt[1] = ga;
    wrt[2] = be;
    *nw = 3;
    if (p == 0) {
        int mu = PAR(g, "mean", 3), var = PAR(g, "var", 3);
        adc_range(var, 0.5f, 1.5f);
        return g_batchnorm(g, x, ga, be, mu, var, 1e-5f);
    }
    return g_batchnorm_train(g, x, ga, be, 1e-5f, NULL, NULL);
}

static void test_norms(void **state)
{
    (void)state;
    run("layernorm", b_layernorm, 0, NULL);
    run("batchnorm inference", b_batchnorm, 0, NULL);
    run("batchnorm train 4-D", b_batchnorm, 1, NULL);
    run("batchnorm train 2-D", b_batchnorm, 2, NULL);
}

/* 0 conv stride (2, 1) pad (1, 0) bias, where H+2p-kh is no multiple of the
 * stride; 1 conv 1x1 stride 1 no bias; 2 avgpool k3 s2 p1 */
static int b_conv(graph *g, int p, int *wrt, int *nw)
{
    if (p == 2) {
        int x = IN(g, "x", 2, 2, 7, 6);
        wrt[0] = x;
        *nw = 1;
        return g_avgpool2d(g, x, 3, 2, 1);
    }
    int x = p == 0 ? IN(g, "x", 2, 3, 8, 6) : IN(g, "x", 2, 3, 4, 5);
    int w = p == 0 ? PAR(g, "w", 4, 3, 3, 2) : PAR(g, "w", 4, 3, 1, 1);
    int bias = p == 0 ? PAR(g, "bias", 4) : -1;
    wrt[0] = x;
    wrt[1] = w;
    *nw = 2;
    if (bias >= 0)
        wrt[(*nw)++] = bias;
    return p == 0 ? g_conv2d(g, x, w, bias, 2, 1, 1, 0) : g_conv2d(g, x, w, -1, 1, 1, 0, 0);
}

static void test_conv_pool(void **state)
{
    (void)state;
    run("conv2d s(2,1) p(1,0) bias", b_conv, 0, NULL);
    run("conv2d 1x1", b_conv, 1, NULL);
    run("avgpool2d k3 s2 p1", b_conv, 2, NULL);
}

static int b_embedding(graph *g, int p, int *wrt, int *nw)
{
    (void)p;
    int table = PAR(g, "table", 5, 4);
    int ids = g_input(g, "ids", G_I32, 2, SHAPE(2, 4));
    adc_range(ids, 0.0f, 4.0f); /* 8 ids over 5 rows: repeats and unused rows */
    wrt[0] = table;
    *nw = 1;
    return g_embedding(g, table, ids);
}

static void test_embedding(void **state)
{
    (void)state;
    run("embedding", b_embedding, 0, NULL);
}

/* 0 cross attention T=3, S=4; 1 causal self-shaped; 2 q = k = v (one tensor used three times) */
static int b_attention(graph *g, int p, int *wrt, int *nw)
{
    if (p == 2) {
        int x = IN(g, "x", 2, 4, 8);
        wrt[0] = x;
        *nw = 1;
        return g_attention(g, x, x, x, 2, 1);
    }
    int q = p == 0 ? IN(g, "q", 2, 3, 8) : IN(g, "q", 2, 4, 8);
    int k = IN(g, "k", 2, 4, 8), v = IN(g, "v", 2, 4, 8);
    for (int i = 0; i < 3; i++)
        adc_range((int[]){q, k, v}[i], -1.5f, 1.5f);
    wrt[0] = q;
    wrt[1] = k;
    wrt[2] = v;
    *nw = 3;
    return g_attention(g, q, k, v, 2, p == 1);
}

static void test_attention(void **state)
{
    (void)state;
    run("attention cross", b_attention, 0, NULL);
    run("attention causal", b_attention, 1, NULL);
    run("attention q=k=v causal", b_attention, 2, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matmul),    cmocka_unit_test(test_binary_broadcast),
        cmocka_unit_test(test_unary),     cmocka_unit_test(test_reductions),
        cmocka_unit_test(test_shape_ops), cmocka_unit_test(test_norms),
        cmocka_unit_test(test_conv_pool), cmocka_unit_test(test_embedding),
        cmocka_unit_test(test_attention),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
