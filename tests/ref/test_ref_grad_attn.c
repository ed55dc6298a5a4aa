/* Ref backward of multi-head attention: every element of dq, dk and dv
 * against central differences of the ref attention forward's
 * sum(attention(q, k, v) * r), plain (cross-attention, T != S) and causal
 * (the builder requires T == S there), with several heads so that a
 * head-offset mistake shows. */
#include "tests/ref/test_ref_grad_util.h"

static void check_attention_grad(int B, int T, int S, int C, int heads, int causal)
{
    int nq = B * T * C, nkv = B * S * C;
    float *q = malloc((size_t)nq * sizeof *q), *r = malloc((size_t)nq * sizeof *r);
    float *k = malloc((size_t)nkv * sizeof *k), *v = malloc((size_t)nkv * sizeof *v);
    assert_true(q && r && k && v);
    rt_fill(q, nq, 71);
    rt_fill(k, nkv, 72);
    rt_fill(v, nkv, 73);
    rt_fill(r, nq, 74);
    for (int i = 0; i < nq; i++)
        q[i] *= 2.0f; /* sharper attention than uniform */
    graph *g = g_new();
    int tq = IN(g, "q", B, T, C), tk = IN(g, "k", B, S, C), tv = IN(g, "v", B, S, C);
    int tr = IN(g, "r", B, T, C);
    int y = g_attention(g, tq, tk, tv, heads, causal);
    assert_true(y >= 0);
    int in[4] = {tq, tk, tv, tr}, grads[3];
    for (int which = 0; which < 3; which++) {
        g_attr at = {0};
        at.heads = heads, at.causal = causal, at.which = which;
        int nd;
        int64_t shp[G_MAX_DIMS];
        gu_shape(g, in[which], &nd, shp);
        grads[which] = gu_node(g, G_OP_ATTENTION_GRAD, 4, in, &at, nd, shp);
        g_mark_output(g, grads[which]);
    }
    g_mark_output(g, y);
    void **d = rt_slots(g);
    d[tq] = q, d[tk] = k, d[tv] = v, d[tr] = r;
    rt_eval_ok(g, d);
    float *dq = gu_copy(g, d, grads[0]), *dk = gu_copy(g, d, grads[1]), *dv = gu_copy(g, d, grads[2]);
    FD_CHECK(g, d, q, nq, y, r, dq, 1e-2, 1e-3);
    FD_CHECK(g, d, k, nkv, y, r, dk, 1e-2, 1e-3);
    FD_CHECK(g, d, v, nkv, y, r, dv, 0.25, 1e-5); /* linear in v */
    free(dq), free(dk), free(dv), free(q), free(k), free(v), free(r);
    rt_done(g, d);
}

static void test_attention_grad_cross(void **state)
{
    (void)state;
    check_attention_grad(2, 3, 4, 6, 2, 0);
}

static void test_attention_grad_causal_self(void **state)
{
    (void)state;
    check_attention_grad(2, 4, 4, 6, 3, 1);
}

/* one head holding all channels, and a batch of one */
static void test_attention_grad_causal_one_head(void **state)
{
    (void)state;
    check_attention_grad(1, 5, 5, 4, 1, 1);
}

static void test_attention_grad_bad_which(void **state)
{
    (void)state;
    float q[8] = {0};
    graph *g = g_new();
    int tq = IN(g, "q", 1, 2, 4);
    int in[4] = {tq, tq, tq, tq};
    g_attr at = {0};
    at.heads = 1, at.which = 3;
    int64_t shp[3] = {1, 2, 4};
    int dx = gu_node(g, G_OP_ATTENTION_GRAD, 4, in, &at, 3, shp);
    g_mark_output(g, dx);
    void **d = rt_slots(g);
    d[tq] = q;
    assert_int_equal(ref_eval(g, d), CC_ERR_INVALID);
    rt_done(g, d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attention_grad_cross),
        cmocka_unit_test(test_attention_grad_causal_self),
        cmocka_unit_test(test_attention_grad_causal_one_head),
        cmocka_unit_test(test_attention_grad_bad_which),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
