/* The contrastive and SigLIP losses and their gradients (g_backward) on the
 * OpenCL backend against the ref backend, end to end. The backend lowers
 * every op they need (log, sum_to, the *_grad ops), so the plan must build,
 * run and agree; the CC_ERR_UNSUPPORTED branch below only guards a future
 * op the backend lacks: it prints the error and skips, never passes. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "backends/opencl/ocl_backend.h"
#include "backends/ref/ref.h"
#include "models/clip_loss.h"
#include "tests/common/op_harness.h"

static void ok(int rc)
{
    if (rc)
        print_error("%s\n", cc_last_error());
    assert_int_equal(rc, 0);
}

static void fill(float *a, int n, unsigned seed)
{
    for (int i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        a[i] = (float)((seed >> 8) * (1.0 / 16777216.0) * 2.0 - 1.0);
    }
}

static void run(clip_loss_kind kind, int n, int e, float t, float b)
{
    graph *g = g_new();
    const int64_t sh[2] = {n, e};
    int img = g_param(g, "img", 2, sh), txt = g_param(g, "txt", 2, sh);
    clip_loss L;
    ok(clip_loss_build(g, img, txt, kind, &L));
    int wrt[4] = {img, txt, L.logit_scale, L.logit_bias}, grads[4], seed;
    int nw = kind == CLIP_LOSS_SIGLIP ? 4 : 3;
    ok(g_backward(g, L.loss, nw, wrt, grads, &seed));

    float *I = malloc(sizeof(float) * n * e), *T = malloc(sizeof(float) * n * e);
    float *lab = malloc(sizeof(float) * n * n), one = 1.0f;
    assert_non_null(I), assert_non_null(T), assert_non_null(lab);
    fill(I, n * e, 3), fill(T, n * e, 4);
    clip_loss_fill_labels(kind, n, lab);
    void **d = calloc((size_t)g->n_tensors, sizeof *d);
    assert_non_null(d);
    d[img] = I, d[txt] = T, d[L.logit_scale] = &t, d[L.labels] = lab, d[seed] = &one;
    if (kind == CLIP_LOSS_SIGLIP)
        d[L.logit_bias] = &b;
    ok(ref_eval(g, d));

    ocl_plan *p = NULL;
    int rc = ocl_plan_create(oh_ctx(), g, &p);
    if (rc)
        print_message("ocl_plan_create: %s\n", cc_last_error());
    ok(rc);
    ok(ocl_plan_write(p, img, I, sizeof(float) * n * e));
    ok(ocl_plan_write(p, txt, T, sizeof(float) * n * e));
    ok(ocl_plan_write(p, L.logit_scale, &t, sizeof t));
    ok(ocl_plan_write(p, L.labels, lab, sizeof(float) * n * n));
    ok(ocl_plan_write(p, seed, &one, sizeof one));
    if (kind == CLIP_LOSS_SIGLIP)
        ok(ocl_plan_write(p, L.logit_bias, &b, sizeof b));
    ok(ocl_plan_run(p));
    int outs[5] = {L.loss, grads[0], grads[1], grads[2], nw == 4 ? grads[3] : -1};
    for (int k = 0; k < 5 && outs[k] >= 0; k++) {
        int64_t cnt = g_numel(g, outs[k]);
        float *got = malloc(sizeof(float) * (size_t)cnt);
        assert_non_null(got);
        ok(ocl_plan_read(p, outs[k], got, sizeof(float) * (size_t)cnt));
        const float *want = d[outs[k]];
        double mx = 0;
        for (int64_t i = 0; i < cnt; i++)
            mx = fmax(mx, fabs(want[i]));
        for (int64_t i = 0; i < cnt; i++)
            if (!(fabs(got[i] - want[i]) <= 1e-4 * fmax(mx, 1e-3))) {
                print_error("%s[%lld]: ocl %.8g ref %.8g\n", g->tensors[outs[k]].name, (long long)i, got[i],
                            want[i]);
                fail();
            }
        free(got);
    }
    ocl_plan_free(p);
    ref_free_acts(g, d);
    free(d), free(I), free(T), free(lab);
    g_free(g);
}

static void test_contrastive_ocl(void **state)
{
    (void)state;
    run(CLIP_LOSS_CONTRASTIVE, 13, 17, 2.659f, 0);
}

static void test_siglip_ocl(void **state)
{
    (void)state;
    run(CLIP_LOSS_SIGLIP, 9, 11, 2.3026f, -10.0f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_contrastive_ocl),
        cmocka_unit_test(test_siglip_ocl),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
