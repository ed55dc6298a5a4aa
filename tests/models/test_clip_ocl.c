/* The same CLIP graphs as test_clip_ref.c, run by the OpenCL backend
 * (device from $CLIPCL_DEVICE via oh_ctx(); PoCL in CI) and held to the same
 * rule against the PyTorch goldens: cosine >= 0.99999 per row, max |err| <=
 * 1e-4 * max |ref|. No OpenCL platform at all is a skip, not a pass. */
#include "clip_golden.h"

#include "backends/opencl/ocl_backend.h"
#include "tests/common/op_harness.h"

/* Plans g, uploads every bound input/param, runs, reads `out` back. */
static void run_ocl(void *ctx, graph *g, void **slots, int out, float *dst)
{
    ocl_plan *p = NULL;
    int rc = ocl_plan_create(ctx, g, &p);
    if (rc)
        print_error("ocl_plan_create: %s\n", cc_last_error());
    assert_int_equal(rc, CC_OK);
    for (int i = 0; i < g->n_tensors; i++) {
        g_role r = g->tensors[i].role;
        if ((r == G_ROLE_INPUT || r == G_ROLE_PARAM) && slots[i]) {
            rc = ocl_plan_write(p, i, slots[i], g_nbytes(g, i));
            if (rc)
                print_error("ocl_plan_write '%s': %s\n", g->tensors[i].name, cc_last_error());
            assert_int_equal(rc, CC_OK);
        }
    }
    rc = ocl_plan_run(p);
    if (rc)
        print_error("ocl_plan_run: %s\n", cc_last_error());
    assert_int_equal(rc, CC_OK);
    assert_int_equal(ocl_plan_read(p, out, dst, g_nbytes(g, out)), CC_OK);
    ocl_plan_free(p);
}

static void check_ocl(const char *dir, const char *sub)
{
    rt_ctx *ctx = oh_ctx();
    if (!ctx) {
        printf("no OpenCL context: %s\n", cc_last_error());
        skip();
    }
    check_model(run_ocl, ctx, "OpenCL", dir, sub);
}

static void test_vit_openai(void **state)
{
    (void)state;
    check_ocl("clip_small_vit", "openai");
}

static void test_vit_hf(void **state)
{
    (void)state;
    check_ocl("clip_small_vit", "hf");
}

static void test_rn_openai(void **state)
{
    (void)state;
    check_ocl("clip_small_rn", "openai");
}

int main(void)
{
    golden_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vit_openai),
        cmocka_unit_test(test_vit_hf),
        cmocka_unit_test(test_rn_openai),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
