/* Shared by the models/ tests: paths under $CLIPCL_TEST_DATA, golden .npy
 * reading, loading a model, and the acceptance rule of issue 3. Static
 * functions: each test executable includes this once. */
#ifndef CLIPCL_TEST_CLIP_GOLDEN_H
#define CLIPCL_TEST_CLIP_GOLDEN_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/npy.h"
#include "models/clip.h"
#include "runtime/status.h"

static char g_data[1024];

static const char *data_path(const char *rel)
{
    static char buf[4][1200];
    static int next;
    char *b = buf[next++ & 3];
    int n = snprintf(b, sizeof buf[0], "%s/%s", g_data, rel);
    assert_true(n > 0 && (size_t)n < sizeof buf[0]);
    return b;
}

static void golden_init(void)
{
    const char *d = getenv("CLIPCL_TEST_DATA");
    snprintf(g_data, sizeof g_data, "%s", d ? d : "tests/data");
}

static clip_model *load_ok(const char *rel)
{
    clip_model *m = NULL;
    int rc = clip_load(data_path(rel), &m);
    if (rc)
        print_error("clip_load %s: %s\n", rel, cc_last_error());
    assert_int_equal(rc, CC_OK);
    return m;
}

/* The acceptance rule of issue 3, with the measured numbers printed. */
static void compare(const char *what, const float *got, const npy_array *ref)
{
    assert_int_equal(ref->ndim, 2);
    int64_t R = ref->shape[0], C = ref->shape[1];
    const float *r = ref->data;
    double maxref = 0, maxerr = 0, mincos = 2;
    for (int64_t i = 0; i < R * C; i++) {
        maxref = fmax(maxref, fabs(r[i]));
        maxerr = fmax(maxerr, fabs((double)got[i] - r[i]));
    }
    for (int64_t i = 0; i < R; i++) {
        double d = 0, na = 0, nb = 0;
        for (int64_t j = 0; j < C; j++) {
            d += (double)got[i * C + j] * r[i * C + j];
            na += (double)got[i * C + j] * got[i * C + j];
            nb += (double)r[i * C + j] * r[i * C + j];
        }
        mincos = fmin(mincos, d / sqrt(na * nb));
    }
    printf("  %-28s [%lld x %lld] min cosine %.9f, max |err| %.3g = %.2e x max|ref| (%.3g)\n",
           what, (long long)R, (long long)C, mincos, maxerr, maxerr / maxref, maxref);
    assert_true(maxref > 0);
    assert_true(mincos >= 0.99999);
    assert_true(maxerr <= 1e-4 * maxref);
}

static void read_npy(const char *rel, npy_dtype dt, npy_array *a)
{
    int rc = npy_read(data_path(rel), dt, a);
    if (rc)
        print_error("%s\n", cc_last_error());
    assert_int_equal(rc, CC_OK);
}

/* The goldens of one model directory. */
typedef struct golden {
    npy_array px, ids, img, txt, logits;
} golden;

static void golden_read(const char *dir, golden *g)
{
    char rel[256];
    npy_array *a[5] = {&g->px, &g->ids, &g->img, &g->txt, &g->logits};
    const char *names[5] = {"pixels", "ids", "image_features", "text_features",
                            "logits_per_image"};
    for (int i = 0; i < 5; i++) {
        snprintf(rel, sizeof rel, "%s/%s.npy", dir, names[i]);
        read_npy(rel, i == 1 ? NPY_I32 : NPY_F32, a[i]);
    }
}

static void golden_free(golden *g)
{
    npy_free(&g->px);
    npy_free(&g->ids);
    npy_free(&g->img);
    npy_free(&g->txt);
    npy_free(&g->logits);
}

#endif
