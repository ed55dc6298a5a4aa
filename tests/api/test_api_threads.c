/* The public API as a program outside the project sees it: linked against
 * libclipcl.so, only include/clipcl.h (no internal header).
 *
 * - One model encoded from 4 threads at once (token ids and pixels, in turn,
 *   with max_batch 2 so that every call splits into runs and pads the last
 *   one: the cached plans, the device queue and the padding buffer are all
 *   shared) gives, bit for bit, the single-threaded results, which in turn
 *   match the PyTorch goldens (tests/data/clip_small_vit). On the reference
 *   backend and on the default OpenCL device (skipped without a platform).
 * - clipcl_last_error() is per thread: a failure in one thread leaves the
 *   message of another untouched.
 * - The version macros spell meson's project version, and clipcl_version()
 *   the same; the getters given NULL return 0 and say why. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clipcl.h"

#define N_THREADS 4
#define N_ITER 6

/* ---- a minimal .npy reader (C order, version 1 header) ---- */
static void *read_npy(const char *name, size_t elem, size_t *count)
{
    const char *dir = getenv("CLIPCL_TEST_DATA");
    char path[1200];
    snprintf(path, sizeof path, "%s/clip_small_vit/%s", dir ? dir : "tests/data", name);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    unsigned char pre[10];
    assert_int_equal(fread(pre, 1, 10, f), 10);
    assert_memory_equal(pre, "\x93NUMPY\x01\x00", 8);
    size_t hlen = (size_t)pre[8] | (size_t)pre[9] << 8;
    assert_int_equal(fseek(f, (long)(10 + hlen), SEEK_SET), 0);
    long start = ftell(f);
    fseek(f, 0, SEEK_END);
    size_t bytes = (size_t)(ftell(f) - start);
    fseek(f, start, SEEK_SET);
    void *data = malloc(bytes);
    assert_non_null(data);
    assert_int_equal(fread(data, 1, bytes, f), bytes);
    fclose(f);
    *count = bytes / elem;
    return data;
}

/* ---- fixture shared by the threads ---- */
typedef struct fixture {
    clipcl_model *m;
    int32_t *ids;
    float *pixels;
    int n;                 /* rows of each input */
    int D;
    float *want_text, *want_image; /* single-threaded results */
} fixture;

typedef struct worker {
    fixture *fx;
    int index;
    int mismatches, failures;
    char error[512];
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    fixture *fx = w->fx;
    size_t len = (size_t)fx->n * (size_t)fx->D;
    float *got = malloc(len * sizeof *got);
    for (int it = 0; got && it < N_ITER; it++) {
        /* threads start on different towers, so both run at once */
        int text = (it + w->index) % 2;
        int rc = text ? clipcl_encode_token_ids(fx->m, fx->ids, fx->n, CLIPCL_NORMALIZE, got)
                      : clipcl_encode_image_pixels(fx->m, fx->pixels, fx->n, CLIPCL_NORMALIZE, got);
        if (rc) {
            w->failures++;
            snprintf(w->error, sizeof w->error, "%s", clipcl_last_error());
            continue;
        }
        if (memcmp(got, text ? fx->want_text : fx->want_image, len * sizeof *got) != 0)
            w->mismatches++;
    }
    free(got);
    return NULL;
}

/* cosine >= 0.99999 per row against the PyTorch features (normalised here) */
static void near_golden(const float *got, const char *golden, int n, int D)
{
    size_t count = 0;
    float *ref = read_npy(golden, sizeof(float), &count);
    assert_int_equal(count, (size_t)n * (size_t)D);
    for (int i = 0; i < n; i++) {
        double dot = 0, nr = 0, ng = 0;
        for (int j = 0; j < D; j++) {
            dot += (double)got[i * D + j] * ref[i * D + j];
            nr += (double)ref[i * D + j] * ref[i * D + j];
            ng += (double)got[i * D + j] * got[i * D + j];
        }
        printf("  %s row %d: cosine %.9f, norm %.6f\n", golden, i, dot / sqrt(nr * ng), sqrt(ng));
        assert_true(dot / sqrt(nr * ng) >= 0.99999);
        assert_true(fabs(sqrt(ng) - 1.0) < 1e-5);
    }
    free(ref);
}

static void threads_on_one_model(const char *device)
{
    fixture fx = {0};
    char model[1200];
    const char *dir = getenv("CLIPCL_TEST_DATA");
    snprintf(model, sizeof model, "%s/clip_small_vit/openai", dir ? dir : "tests/data");
    int rc = clipcl_load(model, device, &fx.m);
    if (rc == CLIPCL_ERR_NO_PLATFORM || rc == CLIPCL_ERR_NO_DEVICE) {
        printf("no OpenCL device: %s\n", clipcl_last_error());
        skip();
    }
    if (rc)
        fail_msg("clipcl_load %s: %s", model, clipcl_last_error());
    fx.D = clipcl_embed_dim(fx.m);
    int T = clipcl_context_length(fx.m), R = clipcl_image_size(fx.m);
    size_t n_ids = 0, n_px = 0;
    fx.ids = read_npy("ids.npy", sizeof(int32_t), &n_ids);
    fx.pixels = read_npy("pixels.npy", sizeof(float), &n_px);
    fx.n = (int)(n_ids / (size_t)T);
    assert_int_equal(n_px, (size_t)fx.n * 3 * (size_t)R * (size_t)R);
    assert_int_equal(fx.n, 3);
    /* runs of 2 rows: 3 rows are a full run and a padded one */
    assert_int_equal(clipcl_set_max_batch(fx.m, 2), CLIPCL_OK);

    size_t len = (size_t)fx.n * (size_t)fx.D;
    fx.want_text = malloc(len * sizeof(float));
    fx.want_image = malloc(len * sizeof(float));
    assert_non_null(fx.want_text);
    assert_non_null(fx.want_image);
    assert_int_equal(clipcl_encode_token_ids(fx.m, fx.ids, fx.n, CLIPCL_NORMALIZE, fx.want_text),
                     CLIPCL_OK);
    assert_int_equal(clipcl_encode_image_pixels(fx.m, fx.pixels, fx.n, CLIPCL_NORMALIZE,
                                                fx.want_image), CLIPCL_OK);
    near_golden(fx.want_text, "text_features.npy", fx.n, fx.D);
    near_golden(fx.want_image, "image_features.npy", fx.n, fx.D);

    pthread_t th[N_THREADS];
    worker w[N_THREADS];
    for (int i = 0; i < N_THREADS; i++) {
        w[i] = (worker){.fx = &fx, .index = i};
        assert_int_equal(pthread_create(&th[i], NULL, work, &w[i]), 0);
    }
    int bad = 0;
    for (int i = 0; i < N_THREADS; i++) {
        pthread_join(th[i], NULL);
        printf("  %s thread %d: %d runs, %d differ, %d failed%s%s\n", device ? device : "default",
               i, N_ITER, w[i].mismatches, w[i].failures, w[i].failures ? ": " : "", w[i].error);
        bad += w[i].mismatches + w[i].failures;
    }
    assert_int_equal(bad, 0);
    free(fx.want_text);
    free(fx.want_image);
    free(fx.ids);
    free(fx.pixels);
    clipcl_free(fx.m);
}

static void test_threads_ref(void **state)
{
    (void)state;
    threads_on_one_model("ref");
}

static void test_threads_opencl(void **state)
{
    (void)state;
    threads_on_one_model(NULL);
}

static void *fail_here(void *arg)
{
    (void)arg;
    int rc = clipcl_load("/nonexistent/clipcl-threads-model", "ref", &(clipcl_model *){NULL});
    return rc != CLIPCL_OK && strstr(clipcl_last_error(), "/nonexistent/clipcl-threads-model")
               ? (void *)1 : NULL;
}

static void test_last_error_per_thread(void **state)
{
    (void)state;
    float out[4];
    assert_int_equal(clipcl_encode_token_ids(NULL, NULL, 1, 0, out), CLIPCL_ERR_INVALID);
    char mine[512];
    snprintf(mine, sizeof mine, "%s", clipcl_last_error());
    assert_non_null(strstr(mine, "NULL"));
    pthread_t t;
    void *other_ok = NULL;
    assert_int_equal(pthread_create(&t, NULL, fail_here, NULL), 0);
    pthread_join(t, &other_ok);
    assert_non_null(other_ok);
    assert_string_equal(clipcl_last_error(), mine);
}

static void test_version_and_null_getters(void **state)
{
    (void)state;
    assert_string_equal(CLIPCL_VERSION_STRING, CLIPCL_PROJECT_VERSION);
    assert_string_equal(clipcl_version(), CLIPCL_PROJECT_VERSION);
    char spelled[64];
    snprintf(spelled, sizeof spelled, "%d.%d.%d", CLIPCL_VERSION_MAJOR, CLIPCL_VERSION_MINOR,
             CLIPCL_VERSION_PATCH);
    assert_string_equal(spelled, CLIPCL_PROJECT_VERSION);
    assert_int_equal(CLIPCL_VERSION_NUMBER, CLIPCL_MAKE_VERSION(CLIPCL_VERSION_MAJOR,
                                                                CLIPCL_VERSION_MINOR,
                                                                CLIPCL_VERSION_PATCH));
    assert_int_equal(clipcl_embed_dim(NULL), 0);
    assert_non_null(strstr(clipcl_last_error(), "clipcl_embed_dim: NULL model"));
    assert_int_equal(clipcl_image_size(NULL), 0);
    assert_non_null(strstr(clipcl_last_error(), "clipcl_image_size"));
    assert_int_equal(clipcl_context_length(NULL), 0);
    assert_non_null(strstr(clipcl_last_error(), "clipcl_context_length"));
    assert_true(clipcl_logit_scale(NULL) == 0.0f);
    assert_non_null(strstr(clipcl_last_error(), "clipcl_logit_scale"));
    clipcl_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version_and_null_getters),
        cmocka_unit_test(test_last_error_per_thread),
        cmocka_unit_test(test_threads_ref),
        cmocka_unit_test(test_threads_opencl),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
