/* One row per op kind, in g_op order: every op's forward on OpenCL against
 * the ref backend (both row-kernel variants, CLIPCL_FORCE_VARIANT=cpu and
 * gpu) on odd shapes, and, for ops with a gradient, its backward rule
 * against central finite differences on the ref backend. Adding an op kind
 * without a row here fails the build (the static check below). The per-op
 * tests (test_ops_*.c, tests/graph/test_autodiff_*.c) go deeper; this sweep
 * makes sure no op is left out. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include "../graph/ad_check.h"
#include "backends/opencl/ocl_backend.h"
#include "backends/ref/ref.h"
#include "graph/op_table.h"
#include "tests/common/op_harness.h"

#define SH(...) ((const int64_t[]){__VA_ARGS__})
#define ND(...) ((int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))
#define F32(g, name, ...) g_input(g, name, G_F32, ND(__VA_ARGS__), SH(__VA_ARGS__))
#define PARAM(g, name, ...) g_param(g, name, ND(__VA_ARGS__), SH(__VA_ARGS__))
#define I32(g, name, ...) g_input(g, name, G_I32, ND(__VA_ARGS__), SH(__VA_ARGS__))

/* Ranges for both checkers: the forward harness and the FD checker. */
static void range(int t, float lo, float hi)
{
    oh_f32_range(t, lo, hi);
    adc_range(t, lo, hi);
}

static void ids_range(int t, int32_t lo, int32_t hi)
{
    oh_int_range(t, lo, hi);
    adc_range(t, (float)lo, (float)hi);
}

static int wrt1(int *wrt, int *nw, int a)
{
    wrt[0] = a;
    *nw = 1;
    return 0;
}

static int wrt2(int *wrt, int *nw, int a, int b)
{
    wrt[0] = a, wrt[1] = b;
    *nw = 2;
    return 0;
}

/* Variant p of a pointwise op's input: [3, 7] (the FD check's), [33, 77]
 * (one element per work-item) and [7, 48] (16 per work-item). */
static int pointwise_x(graph *g, int p)
{
    return p == 0 ? F32(g, "x", 3, 7) : p == 1 ? F32(g, "x", 33, 77) : F32(g, "x", 7, 48);
}

static int unary(graph *g, int p, int *wrt, int *nw, int (*fn)(graph *, int), float lo, float hi)
{
    int x = pointwise_x(g, p);
    range(x, lo, hi);
    wrt1(wrt, nw, x);
    return fn(g, x);
}

/* (x or y, dy) pairs of the backward ops. */
static int pair(graph *g, int p, int *wrt, int *nw, int (*fn)(graph *, int, int), float lo, float hi)
{
    int x = pointwise_x(g, p);
    int dy = p == 0 ? F32(g, "dy", 3, 7) : p == 1 ? F32(g, "dy", 33, 77) : F32(g, "dy", 7, 48);
    range(x, lo, hi);
    wrt2(wrt, nw, x, dy);
    return fn(g, x, dy);
}

/* a [3, 7] op b [7]; a [7, 1, 33] op b [77, 1] -> [7, 77, 33]. */
static int binary(graph *g, int p, int *wrt, int *nw, int (*fn)(graph *, int, int), float blo, float bhi)
{
    int a = p == 0 ? F32(g, "a", 3, 7) : F32(g, "a", 7, 1, 33);
    int b = p == 0 ? F32(g, "b", 7) : F32(g, "b", 77, 1);
    range(b, blo, bhi);
    wrt2(wrt, nw, a, b);
    return fn(g, a, b);
}

static int reduce(graph *g, int p, int *wrt, int *nw, int (*fn)(graph *, int))
{
    int x = p == 0 ? F32(g, "x", 3, 7) : p == 1 ? F32(g, "x", 33, 513) : F32(g, "x", 77);
    wrt1(wrt, nw, x);
    return fn(g, x);
}

static int b_matmul(graph *g, int p, int *wrt, int *nw)
{
    if (p == 0) {
        int a = F32(g, "a", 3, 7), b = PARAM(g, "b", 7, 33), bias = PARAM(g, "bias", 33);
        wrt[0] = a, wrt[1] = b, wrt[2] = bias, *nw = 3;
        return g_matmul(g, a, b, bias, 0, 0);
    }
    int a = F32(g, "a", 2, 33, 77), b = PARAM(g, "b", 7, 77);
    wrt2(wrt, nw, a, b);
    return g_matmul(g, a, b, -1, 0, 1);
}

static int b_add(graph *g, int p, int *w, int *n) { return binary(g, p, w, n, g_add, -1.0f, 1.0f); }
static int b_sub(graph *g, int p, int *w, int *n) { return binary(g, p, w, n, g_sub, -1.0f, 1.0f); }
static int b_mul(graph *g, int p, int *w, int *n) { return binary(g, p, w, n, g_mul, -1.0f, 1.0f); }
static int b_div(graph *g, int p, int *w, int *n) { return binary(g, p, w, n, g_div, 0.5f, 1.5f); }

static int scale07(graph *g, int x) { return g_scale(g, x, 0.7f); }
static int b_scale(graph *g, int p, int *w, int *n) { return unary(g, p, w, n, scale07, -1.0f, 1.0f); }
static int b_gelu(graph *g, int p, int *w, int *n) { return unary(g, p, w, n, g_gelu, -3.0f, 3.0f); }
static int b_quickgelu(graph *g, int p, int *w, int *n) { return unary(g, p, w, n, g_quickgelu, -3.0f, 3.0f); }
static int b_relu(graph *g, int p, int *w, int *n) { return unary(g, p, w, n, g_relu, -1.0f, 1.0f); }
static int b_sigmoid(graph *g, int p, int *w, int *n) { return unary(g, p, w, n, g_sigmoid, -3.0f, 3.0f); }
static int b_exp(graph *g, int p, int *w, int *n) { return unary(g, p, w, n, g_exp, -2.0f, 2.0f); }
static int b_silu(graph *g, int p, int *w, int *n) { return unary(g, p, w, n, g_silu, -3.0f, 3.0f); }
static int b_log(graph *g, int p, int *w, int *n) { return unary(g, p, w, n, g_log, 0.5f, 2.0f); }
static int l2norm6(graph *g, int x) { return g_l2norm(g, x, 1e-6f); }
static int b_l2norm(graph *g, int p, int *w, int *n) { return unary(g, p, w, n, l2norm6, -1.0f, 1.0f); }

/* [3, 7] plain, [7, 33, 77] causal, [1, 513] plain. */
static int b_softmax(graph *g, int p, int *wrt, int *nw)
{
    int x = p == 0 ? F32(g, "x", 3, 7) : p == 1 ? F32(g, "x", 7, 33, 77) : F32(g, "x", 1, 513);
    range(x, -2.0f, 2.0f);
    wrt1(wrt, nw, x);
    return g_softmax(g, x, p == 1);
}

static int b_layernorm(graph *g, int p, int *wrt, int *nw)
{
    int64_t c = p == 0 ? 7 : 513;
    int x = p == 0 ? F32(g, "x", 3, 7) : F32(g, "x", 77, 513);
    int ga = g_param(g, "gamma", 1, &c), be = g_param(g, "beta", 1, &c);
    range(ga, 0.5f, 1.5f);
    wrt[0] = x, wrt[1] = ga, wrt[2] = be, *nw = 3;
    return g_layernorm(g, x, ga, be, 1e-5f);
}

static int b_batchnorm(graph *g, int p, int *wrt, int *nw)
{
    int x = p == 0 ? F32(g, "x", 1, 3, 7, 7) : F32(g, "x", 3, 7, 5, 5);
    int64_t c = p == 0 ? 3 : 7;
    int ga = g_param(g, "gamma", 1, &c), be = g_param(g, "beta", 1, &c);
    int mean = g_param(g, "mean", 1, &c), var = g_param(g, "var", 1, &c);
    range(var, 0.5f, 1.5f);
    wrt[0] = x, wrt[1] = ga, wrt[2] = be, *nw = 3;
    return g_batchnorm(g, x, ga, be, mean, var, 1e-5f);
}

/* Training BatchNorm on [N, C, H, W] with N*H*W not a multiple of any
 * work-group or vector width (p 0: 2x3x5x7; p 1: 3x5x7x9 = 189 per
 * channel with 16-wide segments plus a tail), and [N, C] (p 2: 37x5). */
static int bn_x(graph *g, int p)
{
    int x = p == 0 ? F32(g, "x", 2, 3, 5, 7) : p == 1 ? F32(g, "x", 3, 5, 7, 9) : F32(g, "x", 37, 5);
    range(x, -2.0f, 3.0f);
    return x;
}

static int bn_params(graph *g, int x, int *ga, int *be)
{
    int64_t c = g->tensors[x].shape[1];
    *ga = g_param(g, "gamma", 1, &c), *be = g_param(g, "beta", 1, &c);
    range(*ga, 0.5f, 1.5f);
    return 0;
}

static int b_bn_stats(graph *g, int p, int *wrt, int *nw)
{
    int x = bn_x(g, p);
    wrt1(wrt, nw, x);
    return g_bn_stats(g, x);
}

static int b_bn_train(graph *g, int p, int *wrt, int *nw)
{
    int x = bn_x(g, p), ga, be;
    bn_params(g, x, &ga, &be);
    wrt[0] = x, wrt[1] = ga, wrt[2] = be, *nw = 3;
    return g_bn_train(g, x, ga, be, g_bn_stats(g, x), 1e-5f);
}

static int b_bn_grad_sums(graph *g, int p, int *wrt, int *nw)
{
    int x = bn_x(g, p);
    int dy = g_input(g, "dy", G_F32, g->tensors[x].ndim, g->tensors[x].shape);
    wrt2(wrt, nw, x, dy);
    return g_bn_grad_sums(g, x, g_bn_stats(g, x), dy, 1e-5f);
}

static int b_bn_grad_x(graph *g, int p, int *wrt, int *nw)
{
    int x = bn_x(g, p), ga, be;
    bn_params(g, x, &ga, &be);
    int dy = g_input(g, "dy", G_F32, g->tensors[x].ndim, g->tensors[x].shape);
    int st = g_bn_stats(g, x);
    wrt2(wrt, nw, x, dy);
    return g_bn_grad_x(g, x, ga, st, dy, g_bn_grad_sums(g, x, st, dy, 1e-5f), 1e-5f);
}

static int b_conv2d(graph *g, int p, int *wrt, int *nw)
{
    if (p == 0) {
        int x = F32(g, "x", 1, 3, 7, 7), w = PARAM(g, "w", 5, 3, 3, 3), bias = PARAM(g, "bias", 5);
        wrt[0] = x, wrt[1] = w, wrt[2] = bias, *nw = 3;
        return g_conv2d(g, x, w, bias, 1, 1, 1, 1);
    }
    int x = F32(g, "x", 2, 3, 33, 33), w = PARAM(g, "w", 7, 3, 3, 3);
    wrt2(wrt, nw, x, w);
    return g_conv2d(g, x, w, -1, 2, 2, 0, 0);
}

static int b_avgpool2d(graph *g, int p, int *wrt, int *nw)
{
    int x = p == 0 ? F32(g, "x", 1, 3, 7, 7) : F32(g, "x", 2, 3, 33, 33);
    wrt1(wrt, nw, x);
    return p == 0 ? g_avgpool2d(g, x, 3, 2, 1) : g_avgpool2d(g, x, 2, 2, 0);
}

static int b_embedding(graph *g, int p, int *wrt, int *nw)
{
    int table = p == 0 ? PARAM(g, "table", 7, 3) : PARAM(g, "table", 77, 33);
    int ids = p == 0 ? I32(g, "ids", 3) : I32(g, "ids", 3, 7);
    ids_range(ids, 0, p == 0 ? 6 : 76);
    wrt1(wrt, nw, table);
    return g_embedding(g, table, ids);
}

static int b_reshape(graph *g, int p, int *wrt, int *nw)
{
    int x = p == 0 ? F32(g, "x", 3, 7) : F32(g, "x", 33, 77);
    wrt1(wrt, nw, x);
    /* a reshape of an input is a view; scaling first gives it a producer */
    int s = g_scale(g, x, 1.0f);
    return p == 0 ? g_reshape(g, s, 2, SH(7, 3)) : g_reshape(g, s, 3, SH(77, 3, 11));
}

static int b_permute(graph *g, int p, int *wrt, int *nw)
{
    int x = p == 0 ? F32(g, "x", 3, 7, 5) : F32(g, "x", 7, 33, 13);
    wrt1(wrt, nw, x);
    return p == 0 ? g_permute(g, x, (const int[]){2, 0, 1}) : g_permute(g, x, (const int[]){1, 2, 0});
}

static int b_slice(graph *g, int p, int *wrt, int *nw)
{
    int x = p == 0 ? F32(g, "x", 3, 7) : F32(g, "x", 33, 77);
    wrt1(wrt, nw, x);
    return p == 0 ? g_slice(g, x, 1, 1, 6, 2) : g_slice(g, x, 0, 3, 30, 3);
}

static int b_concat(graph *g, int p, int *wrt, int *nw)
{
    if (p == 0) {
        int a = F32(g, "a", 3, 7), b = F32(g, "b", 3, 5);
        wrt2(wrt, nw, a, b);
        return g_concat(g, 2, (const int[]){a, b}, 1);
    }
    int a = F32(g, "a", 7, 33), b = F32(g, "b", 1, 33), c = F32(g, "c", 77, 33);
    wrt[0] = a, wrt[1] = b, wrt[2] = c, *nw = 3;
    return g_concat(g, 3, (const int[]){a, b, c}, 0);
}

static int b_sum(graph *g, int p, int *w, int *n) { return reduce(g, p, w, n, g_sum); }
static int b_mean(graph *g, int p, int *w, int *n) { return reduce(g, p, w, n, g_mean); }
static int b_max(graph *g, int p, int *w, int *n) { return reduce(g, p, w, n, g_max); }
static int b_argmax(graph *g, int p, int *w, int *n) { return reduce(g, p, w, n, g_argmax); }

/* [1, 3, 8] vs [1, 5, 8], 2 heads; [2, 7, 32] causal, 2 heads of 16 (the
 * CPU-class kernel's head size); [1, 33, 48] vs [1, 77, 48], 3 heads. */
static int attn_inputs(graph *g, int p, int *q, int *k, int *v)
{
    if (p == 0) {
        *q = F32(g, "q", 1, 3, 8), *k = F32(g, "k", 1, 5, 8), *v = F32(g, "v", 1, 5, 8);
        return 2;
    }
    if (p == 1) {
        *q = F32(g, "q", 2, 7, 32), *k = F32(g, "k", 2, 7, 32), *v = F32(g, "v", 2, 7, 32);
        return 2;
    }
    *q = F32(g, "q", 1, 33, 48), *k = F32(g, "k", 1, 77, 48), *v = F32(g, "v", 1, 77, 48);
    return 3;
}

static int b_attention(graph *g, int p, int *wrt, int *nw)
{
    int q, k, v, heads = attn_inputs(g, p, &q, &k, &v);
    wrt[0] = q, wrt[1] = k, wrt[2] = v, *nw = 3;
    return g_attention(g, q, k, v, heads, p == 1);
}

static int b_sum_to(graph *g, int p, int *wrt, int *nw)
{
    int x = p == 0 ? F32(g, "x", 3, 7) : F32(g, "x", 7, 33, 77);
    wrt1(wrt, nw, x);
    return p == 0 ? g_sum_to(g, x, 1, SH(7)) : g_sum_to(g, x, 3, SH(7, 1, 77));
}

static int b_broadcast_to(graph *g, int p, int *wrt, int *nw)
{
    int x = p == 0 ? F32(g, "x", 7) : F32(g, "x", 7, 1, 77);
    wrt1(wrt, nw, x);
    return p == 0 ? g_broadcast_to(g, x, 2, SH(3, 7)) : g_broadcast_to(g, x, 3, SH(7, 33, 77));
}

static int b_gelu_grad(graph *g, int p, int *w, int *n) { return pair(g, p, w, n, g_gelu_grad, -3.0f, 3.0f); }
static int b_quickgelu_grad(graph *g, int p, int *w, int *n) { return pair(g, p, w, n, g_quickgelu_grad, -3.0f, 3.0f); }
static int b_relu_grad(graph *g, int p, int *w, int *n) { return pair(g, p, w, n, g_relu_grad, -1.0f, 1.0f); }
static int b_sigmoid_grad(graph *g, int p, int *w, int *n) { return pair(g, p, w, n, g_sigmoid_grad, 0.0f, 1.0f); }
static int b_softmax_grad(graph *g, int p, int *w, int *n) { return pair(g, p, w, n, g_softmax_grad, 0.0f, 1.0f); }
static int l2g6(graph *g, int x, int dy) { return g_l2norm_grad(g, x, dy, 1e-6f); }
static int b_l2norm_grad(graph *g, int p, int *w, int *n) { return pair(g, p, w, n, l2g6, -1.0f, 1.0f); }
static int lngg(graph *g, int x, int dy) { return g_layernorm_grad_gamma(g, x, dy, 1e-5f); }
static int b_layernorm_grad_gamma(graph *g, int p, int *w, int *n) { return pair(g, p, w, n, lngg, -1.0f, 1.0f); }

static int b_layernorm_grad_x(graph *g, int p, int *wrt, int *nw)
{
    int64_t c = p == 0 ? 7 : 513;
    int x = p == 0 ? F32(g, "x", 3, 7) : F32(g, "x", 77, 513);
    int dy = p == 0 ? F32(g, "dy", 3, 7) : F32(g, "dy", 77, 513);
    int ga = g_param(g, "gamma", 1, &c);
    range(ga, 0.5f, 1.5f);
    wrt2(wrt, nw, x, dy);
    return g_layernorm_grad_x(g, x, ga, dy, 1e-5f);
}

static int b_conv2d_grad_input(graph *g, int p, int *wrt, int *nw)
{
    if (p == 0) {
        int dy = F32(g, "dy", 1, 5, 7, 7), w = PARAM(g, "w", 5, 3, 3, 3);
        wrt2(wrt, nw, dy, w);
        return g_conv2d_grad_input(g, dy, w, 1, 1, 1, 1, 4, SH(1, 3, 7, 7));
    }
    int dy = F32(g, "dy", 2, 7, 16, 16), w = PARAM(g, "w", 7, 3, 3, 3);
    wrt2(wrt, nw, dy, w);
    return g_conv2d_grad_input(g, dy, w, 2, 2, 0, 0, 4, SH(2, 3, 33, 33));
}

static int b_conv2d_grad_weight(graph *g, int p, int *wrt, int *nw)
{
    if (p == 0) {
        int x = F32(g, "x", 1, 3, 7, 7), dy = F32(g, "dy", 1, 5, 7, 7);
        wrt2(wrt, nw, x, dy);
        return g_conv2d_grad_weight(g, x, dy, 1, 1, 1, 1, 3, 3);
    }
    int x = F32(g, "x", 2, 3, 33, 33), dy = F32(g, "dy", 2, 7, 16, 16);
    wrt2(wrt, nw, x, dy);
    return g_conv2d_grad_weight(g, x, dy, 2, 2, 0, 0, 3, 3);
}

static int b_avgpool2d_grad(graph *g, int p, int *wrt, int *nw)
{
    int dy = p == 0 ? F32(g, "dy", 1, 3, 4, 4) : F32(g, "dy", 2, 3, 16, 16);
    wrt1(wrt, nw, dy);
    return p == 0 ? g_avgpool2d_grad(g, dy, 3, 2, 1, 4, SH(1, 3, 7, 7))
                  : g_avgpool2d_grad(g, dy, 2, 2, 0, 4, SH(2, 3, 33, 33));
}

static int b_embedding_grad(graph *g, int p, int *wrt, int *nw)
{
    int ids = p == 0 ? I32(g, "ids", 3) : I32(g, "ids", 3, 7);
    int dy = p == 0 ? F32(g, "dy", 3, 3) : F32(g, "dy", 3, 7, 33);
    ids_range(ids, 0, p == 0 ? 6 : 76);
    wrt1(wrt, nw, dy);
    return g_embedding_grad(g, ids, dy, p == 0 ? 7 : 77);
}

static int b_slice_grad(graph *g, int p, int *wrt, int *nw)
{
    int dy = p == 0 ? F32(g, "dy", 3, 3) : F32(g, "dy", 9, 77);
    wrt1(wrt, nw, dy);
    return p == 0 ? g_slice_grad(g, dy, 1, 1, 6, 2, 2, SH(3, 7)) : g_slice_grad(g, dy, 0, 3, 30, 3, 2, SH(33, 77));
}

/* dq (p 0), dk (p 1, causal), dv (p 2) on the attention shapes above. */
static int b_attention_grad(graph *g, int p, int *wrt, int *nw)
{
    int q, k, v, heads = attn_inputs(g, p, &q, &k, &v);
    int64_t ds[3];
    for (int i = 0; i < 3; i++)
        ds[i] = g->tensors[q].shape[i];
    int dout = g_input(g, "dout", G_F32, 3, ds);
    wrt2(wrt, nw, q, dout);
    return g_attention_grad(g, q, k, v, dout, heads, p == 1, p);
}

/* Forward tolerances (max |ocl - ref| <= rtol * max |ref|): exact for data
 * movement and max/argmax, float rounding of short sums and transcendental
 * approximations for the rest (the per-op tests document each). */
#define EXACT 0.0f
#define POINTWISE 2e-6f
#define SUMS 2e-5f

typedef struct sweep_row {
    g_op op;
    adc_build_fn build; /* variant p = 0..n_variants-1; p 0 is the FD check's */
    int n_variants;
    float rtol;         /* forward, OpenCL vs ref */
    int has_grad;       /* 1: FD-check the backward rule on variant 0 */
} sweep_row;

static const sweep_row rows[] = {
    {G_OP_MATMUL, b_matmul, 2, SUMS, 1},
    {G_OP_ADD, b_add, 2, POINTWISE, 1},
    {G_OP_SUB, b_sub, 2, POINTWISE, 1},
    {G_OP_MUL, b_mul, 2, POINTWISE, 1},
    {G_OP_DIV, b_div, 2, POINTWISE, 1},
    {G_OP_SCALE, b_scale, 3, POINTWISE, 1},
    {G_OP_GELU, b_gelu, 3, POINTWISE, 1},
    {G_OP_QUICKGELU, b_quickgelu, 3, POINTWISE, 1},
    {G_OP_RELU, b_relu, 3, EXACT, 1},
    {G_OP_SIGMOID, b_sigmoid, 3, POINTWISE, 1},
    {G_OP_EXP, b_exp, 3, POINTWISE, 1},
    {G_OP_SOFTMAX, b_softmax, 3, SUMS, 1},
    {G_OP_LAYERNORM, b_layernorm, 2, SUMS, 1},
    {G_OP_BATCHNORM, b_batchnorm, 2, POINTWISE, 1},
    {G_OP_CONV2D, b_conv2d, 2, SUMS, 1},
    {G_OP_AVGPOOL2D, b_avgpool2d, 2, SUMS, 1},
    {G_OP_EMBEDDING, b_embedding, 2, EXACT, 1},
    {G_OP_RESHAPE, b_reshape, 2, EXACT, 1},
    {G_OP_PERMUTE, b_permute, 2, EXACT, 1},
    {G_OP_SLICE, b_slice, 2, EXACT, 1},
    {G_OP_CONCAT, b_concat, 2, EXACT, 1},
    {G_OP_SUM, b_sum, 3, SUMS, 1},
    {G_OP_MEAN, b_mean, 3, SUMS, 1},
    {G_OP_MAX, b_max, 3, EXACT, 0},
    {G_OP_ARGMAX, b_argmax, 3, EXACT, 0},
    {G_OP_L2NORM, b_l2norm, 3, SUMS, 1},
    {G_OP_ATTENTION, b_attention, 3, SUMS, 1},
    {G_OP_SILU, b_silu, 3, POINTWISE, 1},
    {G_OP_BN_STATS, b_bn_stats, 3, SUMS, 1},
    {G_OP_BN_TRAIN, b_bn_train, 3, SUMS, 1},
    {G_OP_LOG, b_log, 3, POINTWISE, 1},
    {G_OP_SUM_TO, b_sum_to, 2, SUMS, 1},
    {G_OP_BROADCAST_TO, b_broadcast_to, 2, EXACT, 1},
    {G_OP_GELU_GRAD, b_gelu_grad, 3, POINTWISE, 0},
    {G_OP_QUICKGELU_GRAD, b_quickgelu_grad, 3, POINTWISE, 0},
    {G_OP_RELU_GRAD, b_relu_grad, 3, EXACT, 0},
    {G_OP_SIGMOID_GRAD, b_sigmoid_grad, 3, POINTWISE, 0},
    {G_OP_SOFTMAX_GRAD, b_softmax_grad, 3, SUMS, 0},
    {G_OP_LAYERNORM_GRAD_X, b_layernorm_grad_x, 2, SUMS, 0},
    {G_OP_LAYERNORM_GRAD_GAMMA, b_layernorm_grad_gamma, 3, SUMS, 0},
    {G_OP_CONV2D_GRAD_INPUT, b_conv2d_grad_input, 2, SUMS, 0},
    {G_OP_CONV2D_GRAD_WEIGHT, b_conv2d_grad_weight, 2, SUMS, 0},
    {G_OP_AVGPOOL2D_GRAD, b_avgpool2d_grad, 2, SUMS, 0},
    {G_OP_EMBEDDING_GRAD, b_embedding_grad, 2, SUMS, 0},
    {G_OP_SLICE_GRAD, b_slice_grad, 2, EXACT, 0},
    {G_OP_L2NORM_GRAD, b_l2norm_grad, 3, SUMS, 0},
    {G_OP_ATTENTION_GRAD, b_attention_grad, 3, SUMS, 0},
    {G_OP_BN_GRAD_SUMS, b_bn_grad_sums, 3, SUMS, 0},
    {G_OP_BN_GRAD_X, b_bn_grad_x, 3, SUMS, 0},
};

_Static_assert(sizeof rows / sizeof rows[0] == G_OP_COUNT,
               "tests/ops/test_op_sweep.c: one row per g_op kind, in enum order");

/* Row i tests op i; each has a builder and at least one variant. */
static void test_rows_in_op_order(void **state)
{
    (void)state;
    for (int i = 0; i < G_OP_COUNT; i++) {
        assert_int_equal(rows[i].op, i);
        assert_non_null(rows[i].build);
        assert_true(rows[i].n_variants >= 1);
        /* a gradient here iff the op table has a backward rule */
        assert_int_equal(rows[i].has_grad, g_op_info((g_op)i)->backward != NULL);
    }
}

/* The last node of a build is the op under test (some builds put a scale in
 * front); it must be that op, and both backends must take it. */
static void check_node(graph *g, const sweep_row *r, int out)
{
    int node = g->tensors[out].producer;
    assert_true(node >= 0);
    assert_int_equal(g->nodes[node].op, r->op);
    assert_true(ref_supports_op(g, node));
    assert_true(ocl_supports_op(oh_ctx(), g, node));
}

static void test_forward(void **state)
{
    (void)state;
    static const char *const variants[] = {"cpu", "gpu"};
    int failed = 0;
    for (int v = 0; v < 2; v++) {
        setenv("CLIPCL_FORCE_VARIANT", variants[v], 1);
        for (int i = 0; i < G_OP_COUNT; i++) {
            const sweep_row *r = &rows[i];
            for (int p = 0; p < r->n_variants; p++) {
                graph *g = g_new();
                int wrt[ADC_MAX_WRT], nw = 0;
                int out = r->build(g, p, wrt, &nw);
                if (out < 0) {
                    printf("%s variant %d: build failed: %s\n", g_op_name(r->op), p, cc_last_error());
                    failed++;
                    g_free(g);
                    continue;
                }
                check_node(g, r, out);
                g_mark_output(g, out);
                char label[96];
                snprintf(label, sizeof label, "%s p%d %s rows", g_op_name(r->op), p, variants[v]);
                oh_opts o = oh_tol(r->rtol);
                o.atol = r->rtol > 0.0f ? 1e-7f : 0.0f;
                failed += oh_check(g, &o, label);
                g_free(g);
            }
        }
    }
    unsetenv("CLIPCL_FORCE_VARIANT");
    assert_int_equal(failed, 0);
}

static void test_backward(void **state)
{
    (void)state;
    int failed = 0;
    for (int i = 0; i < G_OP_COUNT; i++) {
        const sweep_row *r = &rows[i];
        if (!r->has_grad)
            continue;
        adc_opts o = adc_default();
        if (r->op == G_OP_RELU)
            o.h = 1e-3; /* the kink at 0: keep the FD step off it */
        failed += adc_check(g_op_name(r->op), r->build, 0, &o) != 0;
    }
    assert_int_equal(failed, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows_in_op_order),
        cmocka_unit_test(test_forward),
        cmocka_unit_test(test_backward),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
