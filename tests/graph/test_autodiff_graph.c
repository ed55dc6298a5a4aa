/* g_backward as a pass: accumulation over several uses, a 2-layer MLP end to
 * end (finite differences and a few SGD steps), what the memory plan keeps
 * live, pruning, naming, zero gradients, the seed, refusals, and the
 * batch statistics of g_batchnorm_train. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad_check.h"
#include "backends/ref/ref.h"
#include "graph/graph.h"
#include "runtime/status.h"

#define SHAPE(...) ((const int64_t[]){__VA_ARGS__})
#define NDIM(...) ((int)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))
#define IN(g, name, ...) g_input(g, name, G_F32, NDIM(__VA_ARGS__), SHAPE(__VA_ARGS__))
#define PAR(g, name, ...) g_param(g, name, NDIM(__VA_ARGS__), SHAPE(__VA_ARGS__))

static int flat_sum(graph *g, int t)
{
    int64_t n = g_numel(g, t);
    return g_sum(g, g_reshape(g, t, 1, &n));
}

static float *rand_buf(int64_t n, unsigned seed, float lo, float hi)
{
    float *p = malloc((size_t)n * sizeof *p);
    for (int64_t i = 0; i < n; i++)
        p[i] = adc_rand(&seed, lo, hi);
    return p;
}

/* Frees ref_eval's storage and every caller-filled leaf. */
static void release(graph *g, void **data)
{
    ref_free_acts(g, data);
    for (int t = 0; t < g->n_tensors; t++)
        if ((g->tensors[t].role == G_ROLE_INPUT || g->tensors[t].role == G_ROLE_PARAM) &&
            g->tensors[t].alias_of < 0)
            free(data[t]);
    free(data);
}

static float *ones(int64_t n, float v)
{
    float *p = malloc((size_t)n * sizeof *p);
    for (int64_t i = 0; i < n; i++)
        p[i] = v;
    return p;
}

static int count_nodes_from(const graph *g, int first, g_op op)
{
    int c = 0;
    for (int i = first; i < g->n_nodes; i++)
        c += g->nodes[i].op == op;
    return c;
}

/* loss = sum(x*a) + sum(x*b) + sum(x*c): x feeds three nodes, so
 * dloss/dx = a + b + c, summed by exactly two backward adds. */
static void test_three_uses_hand(void **state)
{
    (void)state;
    graph *g = g_new();
    int x = IN(g, "x", 2, 3), a = IN(g, "a", 2, 3), b = IN(g, "b", 2, 3), c = IN(g, "c", 2, 3);
    int loss = g_add(g, g_add(g, flat_sum(g, g_mul(g, x, a)), flat_sum(g, g_mul(g, x, b))),
                     flat_sum(g, g_mul(g, x, c)));
    g_set_name(g, loss, "loss");
    int first_bwd = g->n_nodes, gx, seed;
    assert_int_equal(g_backward(g, loss, 1, &x, &gx, &seed), CC_OK);
    /* The forward adds pass gradients through unchanged (no node); only
     * the accumulation into x adds. */
    assert_int_equal(count_nodes_from(g, first_bwd, G_OP_ADD), 2);
    void **d = calloc((size_t)g->n_tensors, sizeof *d);
    d[x] = rand_buf(6, 1, -1, 1);
    d[a] = rand_buf(6, 2, -1, 1);
    d[b] = rand_buf(6, 3, -1, 1);
    d[c] = rand_buf(6, 4, -1, 1);
    d[seed] = ones(1, 1.0f);
    assert_int_equal(ref_eval(g, d), CC_OK);
    const float *pa = d[a], *pb = d[b], *pc = d[c], *pg = d[gx];
    for (int i = 0; i < 6; i++)
        assert_float_equal(pg[i], (double)pa[i] + pb[i] + pc[i], 1e-6);
    release(g, d);
    g_free(g);
}

/* out = x*x + sigmoid(x): three uses, two in one node. */
static int b_three_uses(graph *g, int p, int *wrt, int *nw)
{
    (void)p;
    int x = IN(g, "x", 3, 4);
    wrt[0] = x;
    *nw = 1;
    return g_add(g, g_mul(g, x, x), g_sigmoid(g, x));
}

static void test_three_uses_fd(void **state)
{
    (void)state;
    assert_int_equal(adc_check("x*x + sigmoid(x)", b_three_uses, 0, NULL), 0);
}

/* A 2-layer MLP: y = gelu(x W1 + b1) W2 + b2. */
typedef struct mlp {
    int x, w1, b1, w2, b2, z1, h, y;
} mlp;

static mlp build_mlp(graph *g)
{
    mlp m;
    m.x = IN(g, "x", 8, 3);
    m.w1 = PAR(g, "w1", 3, 16);
    m.b1 = PAR(g, "b1", 16);
    m.w2 = PAR(g, "w2", 16, 2);
    m.b2 = PAR(g, "b2", 2);
    m.z1 = g_matmul(g, m.x, m.w1, m.b1, 0, 0);
    m.h = g_gelu(g, m.z1);
    m.y = g_matmul(g, m.h, m.w2, m.b2, 0, 0);
    return m;
}

static int b_mlp(graph *g, int p, int *wrt, int *nw)
{
    (void)p;
    mlp m = build_mlp(g);
    wrt[0] = m.w1;
    wrt[1] = m.b1;
    wrt[2] = m.w2;
    wrt[3] = m.b2;
    *nw = 4;
    return m.y;
}

static void test_mlp_fd(void **state)
{
    (void)state;
    assert_int_equal(adc_check("mlp 3-16-2", b_mlp, 0, NULL), 0);
}

/* A pre-LN transformer block with a causal attention, as the text tower
 * stacks them: residual adds make x and x1 feed two paths each. */
static int b_block(graph *g, int p, int *wrt, int *nw)
{
    (void)p;
    int x = IN(g, "x", 2, 4, 8);
    int g1 = PAR(g, "ln1_g", 8), b1 = PAR(g, "ln1_b", 8);
    int wqkv = PAR(g, "w_qkv", 8, 24), wo = PAR(g, "w_o", 8, 8);
    int w1 = PAR(g, "w_fc", 8, 16), w2 = PAR(g, "w_proj", 16, 8);
    int bo = PAR(g, "b_o", 8);
    adc_range(g1, 0.5f, 1.5f);
    int qkv = g_matmul(g, g_layernorm(g, x, g1, b1, 1e-5f), wqkv, -1, 0, 0);
    int q = g_slice(g, qkv, 2, 0, 8, 1), k = g_slice(g, qkv, 2, 8, 16, 1), v = g_slice(g, qkv, 2, 16, 24, 1);
    int x1 = g_add(g, x, g_matmul(g, g_attention(g, q, k, v, 2, 1), wo, bo, 0, 0));
    int x2 = g_add(g, x1, g_matmul(g, g_quickgelu(g, g_matmul(g, x1, w1, -1, 0, 0)), w2, -1, 0, 0));
    int last = g_reshape(g, g_slice(g, x2, 1, 3, 4, 1), 2, SHAPE(2, 8));
    int ids[8] = {x, g1, b1, wqkv, wo, w1, w2, bo};
    for (int i = 0; i < 8; i++)
        wrt[i] = ids[i];
    *nw = 8;
    return g_l2norm(g, last, 1e-6f);
}

/* A small ResNet-style stem: conv, training BatchNorm, relu, avgpool, a
 * strided conv with bias, then global average pooling by mean. */
static int b_stem(graph *g, int p, int *wrt, int *nw)
{
    (void)p;
    int x = IN(g, "x", 2, 3, 9, 9);
    int w1 = PAR(g, "conv1", 4, 3, 3, 3), ga = PAR(g, "bn_g", 4), be = PAR(g, "bn_b", 4);
    int w2 = PAR(g, "conv2", 5, 4, 3, 3), b2 = PAR(g, "conv2_b", 5);
    adc_range(ga, 0.5f, 1.5f);
    int h = g_conv2d(g, x, w1, -1, 1, 1, 1, 1);
    h = g_relu(g, g_batchnorm_train(g, h, ga, be, 1e-5f, NULL, NULL));
    h = g_conv2d(g, g_avgpool2d(g, h, 2, 2, 0), w2, b2, 2, 2, 1, 1);
    int ids[6] = {x, w1, ga, be, w2, b2};
    for (int i = 0; i < 6; i++)
        wrt[i] = ids[i];
    *nw = 6;
    return g_mean(g, g_reshape(g, h, 3, SHAPE(2, 5, 4)));
}

static void test_tower_blocks_fd(void **state)
{
    (void)state;
    adc_opts o = adc_default();
    assert_int_equal(adc_check("transformer block", b_block, 0, &o), 0);
    /* relu after BatchNorm: small steps stay off the kinks, at the price of
     * more f32 rounding in the differences, hence the looser tolerance */
    o.h = 1e-3;
    o.rtol = 5e-3;
    assert_int_equal(adc_check("resnet stem", b_stem, 0, &o), 0);
}

/* Regression with a mean squared error: gradient descent with the pass's
 * gradients must drive the loss down at every step (a wrong sign would not). */
static void test_mlp_sgd(void **state)
{
    (void)state;
    graph *g = g_new();
    mlp m = build_mlp(g);
    int tgt = IN(g, "target", 8, 2);
    int diff = g_sub(g, m.y, tgt);
    int64_t n = 16;
    int loss = g_mean(g, g_reshape(g, g_mul(g, diff, diff), 1, &n));
    g_set_name(g, loss, "loss");
    g_mark_output(g, loss);
    int wrt[4] = {m.w1, m.b1, m.w2, m.b2}, grads[4], seed;
    assert_int_equal(g_backward(g, loss, 4, wrt, grads, &seed), CC_OK);
    void **d = calloc((size_t)g->n_tensors, sizeof *d);
    d[m.x] = rand_buf(24, 11, -1, 1);
    d[m.w1] = rand_buf(48, 12, -0.5f, 0.5f);
    d[m.b1] = rand_buf(16, 13, -0.1f, 0.1f);
    d[m.w2] = rand_buf(32, 14, -0.5f, 0.5f);
    d[m.b2] = rand_buf(2, 15, -0.1f, 0.1f);
    d[tgt] = rand_buf(16, 16, -1, 1);
    d[seed] = ones(1, 1.0f);
    float first = 0, last = 0;
    for (int step = 0; step < 200; step++) {
        assert_int_equal(ref_eval(g, d), CC_OK);
        float l = *(float *)d[loss];
        if (step == 0)
            first = l;
        else if (l > last + 1e-6f) /* small steps on a smooth loss: it never rises */
            fail_msg("step %d: loss rose from %.6f to %.6f", step, last, l);
        last = l;
        for (int k = 0; k < 4; k++) {
            float *p = d[wrt[k]];
            const float *gr = d[grads[k]];
            for (int64_t i = 0; i < g_numel(g, wrt[k]); i++)
                p[i] -= 0.2f * gr[i];
        }
    }
    printf("mlp sgd: loss %.4f -> %.4f after 200 steps\n", first, last);
    assert_true(last < 0.5f * first);
    release(g, d);
    g_free(g);
}

/* The forward+backward plan keeps exactly the activations backward reads:
 * z1 (gelu_grad) and h (dW2 = h^T dy) outlive the forward part; y and the
 * loss's temporaries do not. Running on one arena laid out by the plan
 * must give the same gradients as private buffers. */
static void test_memplan_liveness(void **state)
{
    (void)state;
    graph *g = g_new();
    mlp m = build_mlp(g);
    int r = IN(g, "r", 8, 2);
    int prod = g_mul(g, m.y, r);
    int loss = flat_sum(g, prod);
    g_set_name(g, loss, "loss");
    g_mark_output(g, loss);
    int n_fwd_nodes = g->n_nodes;
    int wrt[4] = {m.w1, m.b1, m.w2, m.b2}, grads[4], seed;
    assert_int_equal(g_backward(g, loss, 4, wrt, grads, &seed), CC_OK);
    int *order = malloc((size_t)g->n_nodes * sizeof *order);
    int n = g_schedule(g, order);
    assert_true(n > n_fwd_nodes);
    int last_fwd_step = -1;
    for (int p = 0; p < n; p++)
        if (order[p] < n_fwd_nodes)
            last_fwd_step = p;
    int *start = malloc((size_t)g->n_tensors * sizeof *start), *end = malloc((size_t)g->n_tensors * sizeof *end);
    assert_int_equal(g_live_ranges(g, order, n, start, end), CC_OK);
    int kept[2] = {m.z1, m.h};
    for (int t = 0; t < g->n_tensors; t++) {
        const g_tensor *T = &g->tensors[t];
        if (T->producer < 0 || T->producer >= n_fwd_nodes || T->alias_of >= 0 || T->is_output)
            continue;
        int want = t == kept[0] || t == kept[1];
        if ((end[t] > last_fwd_step) != want)
            fail_msg("forward tensor '%s' live to step %d (forward ends at %d), expected %s", T->name, end[t],
                     last_fwd_step, want ? "kept for backward" : "freed during forward");
    }
    g_memplan plan;
    assert_int_equal(g_plan_memory(g, order, n, 64, &plan), CC_OK);
    assert_true(plan.arena_bytes < plan.naive_bytes);
    unsigned char *arena = calloc(plan.arena_bytes, 1);
    void **d1 = calloc((size_t)g->n_tensors, sizeof *d1), **d2 = calloc((size_t)g->n_tensors, sizeof *d2);
    int leaves[7] = {m.x, m.w1, m.b1, m.w2, m.b2, r, seed};
    for (int i = 0; i < 7; i++) {
        int64_t ne = g_numel(g, leaves[i]);
        d1[leaves[i]] = leaves[i] == seed ? ones(1, 1.0f) : rand_buf(ne, 100u + (unsigned)i, -1, 1);
        d2[leaves[i]] = malloc((size_t)ne * 4);
        memcpy(d2[leaves[i]], d1[leaves[i]], (size_t)ne * 4);
    }
    for (int t = 0; t < g->n_tensors; t++)
        if (plan.offset[t] != (size_t)-1 && g->tensors[t].alias_of < 0)
            d2[t] = arena + plan.offset[t];
    assert_int_equal(ref_eval(g, d1), CC_OK);
    assert_int_equal(ref_eval(g, d2), CC_OK);
    for (int k = 0; k < 4; k++)
        assert_memory_equal(d1[grads[k]], d2[grads[k]], g_nbytes(g, grads[k]));
    for (int t = 0; t < g->n_tensors; t++) /* arena storage is not ref's to free */
        if (plan.offset[t] != (size_t)-1 && g->tensors[t].alias_of < 0)
            d2[t] = NULL;
    release(g, d2);
    free(arena);
    g_memplan_free(&plan);
    release(g, d1);
    free(order);
    free(start);
    free(end);
    g_free(g);
}

/* Pruning, names, roles, outputs, the seed and zero gradients. */
static void test_prune_names_zero(void **state)
{
    (void)state;
    graph *g = g_new();
    int x = IN(g, "x", 2, 3), c = IN(g, "c", 2, 3);
    int w = PAR(g, "W", 2, 3), u = PAR(g, "U", 4);
    int e = g_exp(g, c); /* reaches the loss, but from no wrt tensor */
    int loss = g_add(g, flat_sum(g, g_mul(g, w, x)), flat_sum(g, e));
    g_set_name(g, loss, "loss");
    int n0 = g->n_tensors, first_bwd = g->n_nodes;
    int wrt[2] = {w, u}, grads[2], seed;
    assert_int_equal(g_backward(g, loss, 2, wrt, grads, &seed), CC_OK);
    for (int i = first_bwd; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_in; k++)
            if (g->nodes[i].in[k] == e || g->nodes[i].in[k] == c)
                fail_msg("backward node %d (%s) reads the pruned exp branch", i, g_op_name(g->nodes[i].op));
    assert_string_equal(g->tensors[seed].name, "grad/loss");
    assert_int_equal(g->tensors[seed].role, G_ROLE_INPUT);
    assert_int_equal(g_numel(g, seed), 1);
    assert_string_equal(g->tensors[grads[0]].name, "grad/W");
    assert_string_equal(g->tensors[grads[1]].name, "grad/U");
    assert_int_equal(g_find_tensor(g, "grad/W"), grads[0]);
    assert_int_equal(g_find_tensor(g, "grad/U"), grads[1]);
    for (int i = 0; i < 2; i++) {
        assert_true(g->tensors[grads[i]].is_output);
        assert_int_equal(g->tensors[grads[i]].role, G_ROLE_GRAD);
        assert_int_equal(g_numel(g, grads[i]), g_numel(g, wrt[i]));
    }
    for (int t = n0; t < g->n_tensors; t++)
        if (t != seed)
            assert_int_equal(g->tensors[t].role, G_ROLE_GRAD);
    void **d = calloc((size_t)g->n_tensors, sizeof *d);
    d[x] = rand_buf(6, 5, -1, 1);
    d[c] = rand_buf(6, 6, -1, 1);
    d[w] = rand_buf(6, 7, -1, 1);
    d[u] = rand_buf(4, 8, -1, 1);
    d[seed] = ones(1, 0.5f); /* a seed of 0.5 halves every gradient */
    assert_int_equal(ref_eval(g, d), CC_OK);
    const float *px = d[x], *gw = d[grads[0]], *gu = d[grads[1]];
    for (int i = 0; i < 6; i++)
        assert_float_equal(gw[i], 0.5f * px[i], 1e-7);
    for (int i = 0; i < 4; i++)
        assert_float_equal(gu[i], 0.0f, 0.0);
    release(g, d);
    g_free(g);
}

/* The gradient of an intermediate activation, and of a tensor whose
 * gradient is shared with another (identity through add). */
static void test_intermediate_and_shared(void **state)
{
    (void)state;
    graph *g = g_new();
    int x = IN(g, "x", 5), r = IN(g, "r", 5), b = PAR(g, "b", 5);
    int h = g_relu(g, x);
    g_set_name(g, h, "h");
    int s = g_add(g, h, b); /* db = ds: an identity gradient */
    int loss = flat_sum(g, g_mul(g, s, r));
    int wrt[3] = {h, b, x}, grads[3], seed;
    assert_int_equal(g_backward(g, loss, 3, wrt, grads, &seed), CC_OK);
    assert_string_equal(g->tensors[grads[0]].name, "grad/h");
    assert_string_equal(g->tensors[grads[1]].name, "grad/b");
    assert_string_equal(g->tensors[grads[2]].name, "grad/x");
    assert_int_not_equal(grads[0], grads[1]);
    void **d = calloc((size_t)g->n_tensors, sizeof *d);
    float xv[5] = {-1.0f, 0.5f, 2.0f, -0.25f, 1.0f};
    d[x] = malloc(sizeof xv);
    memcpy(d[x], xv, sizeof xv);
    d[r] = rand_buf(5, 9, -1, 1);
    d[b] = rand_buf(5, 10, -1, 1);
    d[seed] = ones(1, 1.0f);
    assert_int_equal(ref_eval(g, d), CC_OK);
    const float *pr = d[r], *gh = d[grads[0]], *gb = d[grads[1]], *gx = d[grads[2]];
    for (int i = 0; i < 5; i++) {
        assert_float_equal(gh[i], pr[i], 0.0);
        assert_float_equal(gb[i], pr[i], 0.0);
        assert_float_equal(gx[i], xv[i] > 0 ? pr[i] : 0.0f, 0.0);
    }
    release(g, d);
    g_free(g);
}

/* After a fusion-like rewrite a node reads a tensor created after it, so
 * creation order is no schedule; the pass must still order correctly. */
static void test_rewired_graph(void **state)
{
    (void)state;
    graph *g = g_new();
    int x = IN(g, "x", 4);
    int a = g_exp(g, x);
    int y = g_scale(g, a, 2.0f);
    int z = g_exp(g, x); /* the "fused" replacement, newer than y's node */
    int py = g->tensors[y].producer;
    g->nodes[py].in[0] = z;
    g->nodes[g->tensors[a].producer].dead = 1;
    int loss = flat_sum(g, y);
    int gx, seed;
    assert_int_equal(g_backward(g, loss, 1, &x, &gx, &seed), CC_OK);
    void **d = calloc((size_t)g->n_tensors, sizeof *d);
    float xv[4] = {-1.0f, 0.0f, 0.5f, 1.5f};
    d[x] = malloc(sizeof xv);
    memcpy(d[x], xv, sizeof xv);
    d[seed] = ones(1, 1.0f);
    assert_int_equal(ref_eval(g, d), CC_OK);
    const float *px = d[gx];
    for (int i = 0; i < 4; i++)
        assert_float_equal(px[i], 2.0 * exp((double)xv[i]), 1e-5);
    release(g, d);
    /* a live node reading a dead node's output cannot be differentiated */
    g->nodes[g->tensors[z].producer].dead = 1;
    int grads[1];
    assert_int_equal(g_backward(g, loss, 1, &x, grads, NULL), CC_ERR_INVALID);
    assert_non_null(strstr(cc_last_error(), "dead"));
    g_free(g);
}

static void expect_fail(graph *g, int loss, int n, const int *wrt, int code, const char *frag)
{
    int grads[4];
    int rc = g_backward(g, loss, n, wrt, grads, NULL);
    if (rc != code)
        fail_msg("g_backward returned %d, expected %d (%s)", rc, code, cc_last_error());
    if (!strstr(cc_last_error(), frag))
        fail_msg("message \"%s\" lacks \"%s\"", cc_last_error(), frag);
}

static void test_refusals(void **state)
{
    (void)state;
    graph *g = g_new();
    int x = IN(g, "x", 2, 3), c = IN(g, "c", 2, 3);
    int ids = g_input(g, "ids", G_I32, 1, SHAPE(2));
    int y = flat_sum(g, g_mul(g, x, c));
    int two = g_reshape(g, g_mul(g, x, c), 1, SHAPE(6));
    expect_fail(g, two, 1, &x, CC_ERR_SHAPE, "one f32 element");
    expect_fail(g, y, 1, &ids, CC_ERR_INVALID, "integer");
    expect_fail(g, y, 0, &x, CC_ERR_INVALID, "wrt");
    int mx = g_max(g, x);
    int lmax = flat_sum(g, mx);
    expect_fail(g, lmax, 1, &x, CC_ERR_UNSUPPORTED, "max");
    int lgg = flat_sum(g, g_gelu_grad(g, x, c));
    expect_fail(g, lgg, 1, &x, CC_ERR_UNSUPPORTED, "gelu_grad");
    /* max of a tensor that depends on no wrt tensor is only a constant */
    int ok = g_add(g, y, flat_sum(g, g_max(g, c)));
    int gx;
    assert_int_equal(g_backward(g, ok, 1, &x, &gx, NULL), CC_OK);
    g_free(g);

    g = g_new();
    int xb = IN(g, "x", 2, 3, 2, 2), ga = PAR(g, "gamma", 3), be = PAR(g, "beta", 3);
    int rv = PAR(g, "running_var", 3);
    /* statistics computed from x: inference batchnorm has no rule for them */
    int m3 = g_mean(g, g_reshape(g, g_permute(g, xb, (const int[]){1, 0, 2, 3}), 2, SHAPE(3, 8)));
    int bn = g_batchnorm(g, xb, ga, be, m3, rv, 1e-5f);
    expect_fail(g, flat_sum(g, bn), 1, &xb, CC_ERR_UNSUPPORTED, "g_batchnorm_train");
    g_free(g);
}

/* Batch statistics against a host computation in double. */
static void test_batchnorm_train_stats(void **state)
{
    (void)state;
    enum { N = 4, C = 3, H = 2, W = 3 };
    graph *g = g_new();
    int x = IN(g, "x", N, C, H, W), ga = PAR(g, "gamma", C), be = PAR(g, "beta", C);
    int bm, bv;
    int y = g_batchnorm_train(g, x, ga, be, 1e-5f, &bm, &bv);
    assert_true(y >= 0);
    assert_true(g->tensors[bm].is_output && g->tensors[bv].is_output);
    g_mark_output(g, y);
    void **d = calloc((size_t)g->n_tensors, sizeof *d);
    d[x] = rand_buf(N * C * H * W, 21, -2, 3);
    d[ga] = rand_buf(C, 22, 0.5f, 1.5f);
    d[be] = rand_buf(C, 23, -1, 1);
    assert_int_equal(ref_eval(g, d), CC_OK);
    const float *px = d[x], *pg = d[ga], *pb = d[be], *py = d[y], *pm = d[bm], *pv = d[bv];
    for (int c = 0; c < C; c++) {
        double s = 0, ss = 0;
        for (int n = 0; n < N; n++)
            for (int i = 0; i < H * W; i++)
                s += px[(n * C + c) * H * W + i];
        double mean = s / (N * H * W);
        for (int n = 0; n < N; n++)
            for (int i = 0; i < H * W; i++) {
                double dv = px[(n * C + c) * H * W + i] - mean;
                ss += dv * dv;
            }
        double var = ss / (N * H * W);
        assert_float_equal(pm[c], mean, 1e-5);
        assert_float_equal(pv[c], var, 1e-5);
        for (int n = 0; n < N; n++)
            for (int i = 0; i < H * W; i++) {
                int k = (n * C + c) * H * W + i;
                double want = (px[k] - mean) / sqrt(var + 1e-5) * pg[c] + pb[c];
                assert_float_equal(py[k], want, 1e-5);
            }
    }
    release(g, d);
    g_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_three_uses_hand),  cmocka_unit_test(test_three_uses_fd),
        cmocka_unit_test(test_mlp_fd),           cmocka_unit_test(test_mlp_sgd),
        cmocka_unit_test(test_tower_blocks_fd),
        cmocka_unit_test(test_memplan_liveness), cmocka_unit_test(test_prune_names_zero),
        cmocka_unit_test(test_intermediate_and_shared), cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_rewired_graph),
        cmocka_unit_test(test_batchnorm_train_stats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
