/* G_OP_ATTENTION_GRAD (dq, dk and dv as three nodes of one graph) on OpenCL
 * against the ref backend (backends/ref/ref_grad_attention.c): T = S = 1, 7,
 * 50, 77; heads 1, 2, 8; causal on and off; cross attention with T != S;
 * head dims 1, 3, 6, 16, 32, 64; CLIP's shapes; a score range wide enough
 * that the log-sum-exp must subtract the row max. Head dims that are
 * multiples of 16 take the CPU-class kernels on PoCL by default; the
 * one-row-per-work-item kernels run on them too, forced. */
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

static void attn_grad_case(int64_t B, int64_t T, int64_t S, int64_t C, int heads, int causal, float range)
{
    graph *g = g_new();
    int64_t qs[3] = {B, T, C}, ks[3] = {B, S, C};
    int q = g_input(g, "q", G_F32, 3, qs);
    int k = g_input(g, "k", G_F32, 3, ks);
    int v = g_input(g, "v", G_F32, 3, ks);
    int d = g_input(g, "dout", G_F32, 3, qs);
    for (int which = 0; which < 3; which++) {
        int y = g_attention_grad(g, q, k, v, d, heads, causal, which);
        assert_true(y >= 0);
        g_set_name(g, y, which == 0 ? "dq" : which == 1 ? "dk" : "dv");
        g_mark_output(g, y);
    }
    char label[112];
    snprintf(label, sizeof label, "attention grad B%lld T%lld S%lld C%lld h%d%s r%g", (long long)B, (long long)T,
             (long long)S, (long long)C, heads, causal ? " causal" : "", (double)range);
    oh_opts o = oh_tol(RTOL_ATTN_GRAD);
    o.lo = -range;
    o.hi = range;
    assert_int_equal(oh_check(g, &o, label), 0);
    g_free(g);
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
        cmocka_unit_test_teardown(test_rows_forced, clear_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
