/* G_OP_ATTENTION_GRAD (dq, dk and dv as three nodes of one graph) on OpenCL
 * against the ref backend (backends/ref/ref_grad_attention.c): T = S = 1, 7,
 * 50, 77; heads 1, 2, 8; causal on and off; cross attention with T != S;
 * head dims 1, 3, 6, 16, 32, 64; CLIP's shapes; a score range wide enough
 * that the log-sum-exp must subtract the row max. Head dims that are
 * multiples of 16 take the CPU-class kernels on PoCL by default; the
 * one-row-per-work-item kernels run on them too, forced. The CPU-class
 * kernels compute P and dS in whichever node of an attention runs first and
 * keep them for the others (in one buffer shared by attentions that run one
 * after another): the nodes in every order, a subset of them, and two
 * attentions, one after the other and interleaved. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include "tests/common/op_harness.h"

/* fp32 recomputation of P from a stored log-sum-exp and dS = P * (dP - D),
 * whose difference cancels, against a double oracle; scale-aware;
 * measured <= 1.1e-6 (the r4 case) */
#define RTOL_ATTN_GRAD 1e-5f

/* The gradient nodes of one attention in the order `which` lists (-1 ends
 * it; an absent one is not built), inputs named with prefix p. */
static void add_attention(graph *g, const char *p, int64_t B, int64_t T, int64_t S, int64_t C, int heads, int causal,
                          const int *which, int n, int *ins)
{
    int64_t qs[3] = {B, T, C}, ks[3] = {B, S, C};
    char nm[32];
    static const char *const in_names[4] = {"q", "k", "v", "dout"};
    for (int i = 0; i < 4; i++) {
        snprintf(nm, sizeof nm, "%s%s", p, in_names[i]);
        ins[i] = g_input(g, nm, G_F32, 3, i == 1 || i == 2 ? ks : qs);
    }
    for (int i = 0; i < n && which[i] >= 0; i++) {
        int y = g_attention_grad(g, ins[0], ins[1], ins[2], ins[3], heads, causal, which[i]);
        assert_true(y >= 0);
        snprintf(nm, sizeof nm, "%s%s", p, which[i] == 0 ? "dq" : which[i] == 1 ? "dk" : "dv");
        g_set_name(g, y, nm);
        g_mark_output(g, y);
    }
}

static void attn_grad_order(int64_t B, int64_t T, int64_t S, int64_t C, int heads, int causal, float range,
                            const int *which)
{
    graph *g = g_new();
    int ins[4];
    add_attention(g, "", B, T, S, C, heads, causal, which, 3, ins);
    char label[112];
    snprintf(label, sizeof label, "attention grad B%lld T%lld S%lld C%lld h%d%s r%g order %d%d%d", (long long)B,
             (long long)T, (long long)S, (long long)C, heads, causal ? " causal" : "", (double)range, which[0],
             which[1], which[2]);
    oh_opts o = oh_tol(RTOL_ATTN_GRAD);
    o.lo = -range;
    o.hi = range;
    assert_int_equal(oh_check(g, &o, label), 0);
    g_free(g);
}

static void attn_grad_case(int64_t B, int64_t T, int64_t S, int64_t C, int heads, int causal, float range)
{
    static const int all[3] = {0, 1, 2};
    attn_grad_order(B, T, S, C, heads, causal, range, all);
}

static void test_self(void **state)
{
    (void)state;
    static const int64_t lens[] = {1, 7, 50, 77};
    for (int c = 0; c < 2; c++)
        for (size_t i = 0; i < 4; i++) {
            attn_grad_case(2, lens[i], lens[i], 16, 1, c, 1.0f);
            attn_grad_case(1, lens[i], lens[i], 6, 2, c, 1.0f);
            attn_grad_case(2, lens[i], lens[i], 64, 8, c, 1.0f);
        }
}

static void test_clip_shapes(void **state)
{
    (void)state;
    attn_grad_case(2, 50, 50, 768, 12, 0, 1.0f); /* ViT-B/32, head dim 64 */
    attn_grad_case(2, 77, 77, 512, 8, 1, 1.0f);  /* text tower, causal */
}

static void test_cross_and_range(void **state)
{
    (void)state;
    attn_grad_case(3, 1, 50, 64, 2, 0, 1.0f);  /* attention pooling: one query */
    attn_grad_case(2, 7, 33, 24, 8, 0, 1.0f);  /* head dim 3 */
    attn_grad_case(2, 7, 33, 64, 2, 0, 1.0f);  /* head dim 32, S past T */
    attn_grad_case(1, 19, 19, 48, 3, 1, 1.0f); /* head dim 16, T past a 16-query block */
    attn_grad_case(1, 9, 5, 8, 8, 0, 2.0f);    /* head dim 1 */
    attn_grad_case(2, 33, 33, 64, 2, 1, 4.0f); /* scores up to ~100: exp overflows without the max */
}

/* The node that runs first fills P and dS: dk or dv first, dq last or absent. */
static void test_node_orders(void **state)
{
    (void)state;
    static const int orders[][3] = {{1, 2, 0}, {2, 0, 1}, {2, 1, -1}, {1, -1, -1}, {0, -1, -1}, {2, -1, -1}};
    for (size_t i = 0; i < sizeof orders / sizeof orders[0]; i++) {
        attn_grad_order(2, 77, 77, 64, 4, 1, 1.0f, orders[i]);
        attn_grad_order(2, 19, 33, 32, 2, 0, 1.0f, orders[i]);
    }
}

/* Two attentions of different sizes in one graph: the second's nodes after
 * the first's (one shared P and dS buffer, sized for the larger), or
 * interleaved with them (a buffer each). */
static void test_two_attentions(void **state)
{
    (void)state;
    static const int all[3] = {0, 1, 2}, dq[1] = {0}, dkv[2] = {1, 2};
    for (int interleave = 0; interleave < 2; interleave++) {
        graph *g = g_new();
        int a[4], b[4];
        if (!interleave) {
            add_attention(g, "a_", 2, 50, 50, 128, 2, 0, all, 3, a);
            add_attention(g, "b_", 3, 77, 77, 64, 4, 1, all, 3, b);
        } else { /* a's dq, all of b, then a's dk and dv */
            add_attention(g, "a_", 2, 50, 50, 128, 2, 0, dq, 1, a);
            add_attention(g, "b_", 3, 77, 77, 64, 4, 1, all, 3, b);
            for (int i = 0; i < 2; i++) {
                int y = g_attention_grad(g, a[0], a[1], a[2], a[3], 2, 0, dkv[i]);
                assert_true(y >= 0);
                g_set_name(g, y, i ? "a_dv" : "a_dk");
                g_mark_output(g, y);
            }
        }
        oh_opts o = oh_tol(RTOL_ATTN_GRAD);
        o.lo = -1.0f;
        o.hi = 1.0f;
        assert_int_equal(oh_check(g, &o, interleave ? "two attentions, interleaved" : "two attentions"), 0);
        g_free(g);
    }
}

static void test_rows_forced(void **state)
{
    (void)state;
    setenv("CLIPCL_ATTENTION_GRAD", "rows", 1);
    attn_grad_case(2, 77, 77, 64, 8, 1, 1.0f);
    attn_grad_case(2, 50, 50, 16, 1, 0, 1.0f);
    attn_grad_case(3, 1, 50, 64, 2, 0, 1.0f);
    attn_grad_case(2, 33, 33, 64, 2, 1, 4.0f);
    unsetenv("CLIPCL_ATTENTION_GRAD");
}

static int clear_env(void **state)
{
    (void)state;
    unsetenv("CLIPCL_ATTENTION_GRAD");
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_self),
        cmocka_unit_test(test_clip_shapes),
        cmocka_unit_test(test_cross_and_range),
        cmocka_unit_test(test_node_orders),
        cmocka_unit_test(test_two_attentions),
        cmocka_unit_test_teardown(test_rows_forced, clear_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
