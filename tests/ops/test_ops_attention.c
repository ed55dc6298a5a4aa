/* G_OP_ATTENTION (fused) on OpenCL against the ref backend: T = S = 1, 7,
 * 50, 77, 1100; cross attention with T != S (S up to 1100); heads 1, 2, 8;
 * head dims 1, 3, 4, 8, 16, 64; causal on and off; score ranges wide enough
 * that the softmax's max subtraction matters. Every case runs each kernel:
 * the default choice, attention_cpu (where the head dim allows: a multiple
 * of 4) and attention_rows. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include "tests/common/op_harness.h"

/* online softmax (one rescale per new max) in fp32 vs a double oracle */
#define RTOL_ATTN 1e-5f

static void attn_case(int64_t B, int64_t T, int64_t S, int64_t C, int heads, int causal, float range)
{
    graph *g = g_new();
    int64_t qs[3] = {B, T, C}, ks[3] = {B, S, C};
    int q = g_input(g, "q", G_F32, 3, qs);
    int k = g_input(g, "k", G_F32, 3, ks);
    int v = g_input(g, "v", G_F32, 3, ks);
    int y = g_attention(g, q, k, v, heads, causal);
    assert_true(y >= 0);
    g_mark_output(g, y);
    /* every kernel: the default choice (attention_cpu where it applies on a
     * CPU device), then each one forced */
    static const char *variants[] = {NULL, "cpu", "rows"};
    for (int i = 0; i < 3; i++) {
        if (variants[i])
            setenv("CLIPCL_ATTENTION", variants[i], 1);
        char label[128];
        snprintf(label, sizeof label, "attention %s B%lld T%lld S%lld C%lld h%d%s r%g",
                 variants[i] ? variants[i] : "default", (long long)B, (long long)T, (long long)S,
                 (long long)C, heads, causal ? " causal" : "", (double)range);
        oh_opts o = oh_tol(RTOL_ATTN);
        o.lo = -range;
        o.hi = range;
        assert_int_equal(oh_check(g, &o, label), 0);
    }
    unsetenv("CLIPCL_ATTENTION");
    g_free(g);
}

static void test_self(void **state)
{
    (void)state;
    static const int64_t lens[] = {1, 7, 50, 77};
    for (int c = 0; c < 2; c++)
        for (size_t i = 0; i < 4; i++) {
            attn_case(2, lens[i], lens[i], 16, 1, c, 1.0f);
            attn_case(1, lens[i], lens[i], 6, 2, c, 1.0f);
            attn_case(2, lens[i], lens[i], 64, 8, c, 1.0f);
        }
}

static void test_clip_shapes(void **state)
{
    (void)state;
    attn_case(2, 50, 50, 768, 12, 0, 1.0f); /* ViT-B/32, head dim 64 */
    attn_case(2, 77, 77, 512, 8, 1, 1.0f);  /* text tower, causal */
}

static void test_cross_and_range(void **state)
{
    (void)state;
    attn_case(3, 1, 50, 64, 2, 0, 1.0f); /* attention pooling: one query */
    attn_case(2, 7, 33, 24, 8, 0, 1.0f); /* head dim 3 */
    attn_case(1, 9, 5, 8, 8, 0, 2.0f);   /* head dim 1 */
    attn_case(2, 33, 33, 64, 2, 1, 4.0f); /* scores up to ~100: exp overflows without max subtraction */
    attn_case(2, 19, 19, 32, 4, 1, 4.0f); /* head dim 8: attention_cpu's 8-wide vectors */
    attn_case(1, 6, 6, 8, 2, 0, 1.0f);    /* head dim 4 */
    attn_case(1, 5, 1100, 64, 2, 0, 2.0f); /* S past attention_cpu's one-block limit: 9 key blocks */
    attn_case(1, 1100, 1100, 16, 1, 1, 1.0f); /* long causal: 9 key blocks, rows ending mid-block */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_self),
        cmocka_unit_test(test_clip_shapes),
        cmocka_unit_test(test_cross_and_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
