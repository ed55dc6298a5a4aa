/* The single-process pieces of data-parallel training (train/trainer_dist.h):
 * the device of a rank from a --device list (local rank mod the count), the
 * per-rank batch on resume with another rank count (global batch kept, or a
 * refusal saying why), the gradient scale of each loss, and that the weight
 * hash sees one changed value. The collectives themselves run under mpirun
 * in tests/train/test_dist.py. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "runtime/status.h"
#include "train/trainer_dist.h"

static void test_device_from_list(void **state)
{
    (void)state;
    char out[64];
    /* The launcher's local rank (a build without MPI is one process: 0). */
    int mpi = train_dist_available();
    setenv("OMPI_COMM_WORLD_LOCAL_RANK", "3", 1);
    assert_int_equal(train_dist_local_rank(), mpi ? 3 : 0);
    assert_int_equal(train_dist_device("0:0,0:1", out, sizeof out), CC_OK);
    assert_string_equal(out, mpi ? "0:1" : "0:0");
    assert_int_equal(train_dist_device("gpu,cpu,ref", out, sizeof out), CC_OK);
    assert_string_equal(out, "gpu");
    assert_int_equal(train_dist_device("ref", out, sizeof out), CC_OK);
    assert_string_equal(out, "ref");
    setenv("OMPI_COMM_WORLD_LOCAL_RANK", "1", 1);
    if (mpi) {
        assert_int_equal(train_dist_device("a,,c", out, sizeof out), CC_ERR_INVALID);
        assert_non_null(strstr(cc_last_error(), "entry 1 is empty"));
    }
    assert_int_equal(train_dist_device("b,c,", out, sizeof out), CC_OK);
    assert_string_equal(out, mpi ? "c" : "b");
    /* one process, nothing named: the backend's own default */
    assert_int_equal(train_dist_device("", out, sizeof out), CC_OK);
    assert_string_equal(out, "");
    unsetenv("OMPI_COMM_WORLD_LOCAL_RANK");
}

static void test_resume_keeps_global_batch(void **state)
{
    (void)state;
    int b = 0, k = 0;
    /* 2 ranks x 8 x 1 -> 1 rank: batch 16 */
    assert_int_equal(train_dist_resume_batch(8, 1, 2, 1, -1, -1, &b, &k), CC_OK);
    assert_int_equal(b, 16);
    assert_int_equal(k, 1);
    /* 1 rank x 16 x 2 -> 4 ranks: batch 4, accum kept */
    assert_int_equal(train_dist_resume_batch(16, 2, 1, 4, -1, -1, &b, &k), CC_OK);
    assert_int_equal(b, 4);
    assert_int_equal(k, 2);
    /* another accum asked: the batch follows */
    assert_int_equal(train_dist_resume_batch(16, 2, 1, 4, -1, 4, &b, &k), CC_OK);
    assert_int_equal(b, 2);
    assert_int_equal(k, 4);
    /* 16 over 3 ranks: refused, saying why */
    assert_int_equal(train_dist_resume_batch(8, 1, 2, 3, -1, -1, &b, &k), CC_ERR_INVALID);
    assert_non_null(strstr(cc_last_error(), "global batch is 16"));
    assert_non_null(strstr(cc_last_error(), "cannot split evenly"));
    /* an explicit batch changes the global batch on purpose */
    assert_int_equal(train_dist_resume_batch(8, 1, 2, 3, 5, -1, &b, &k), CC_OK);
    assert_int_equal(b, 5);
}

static void test_grad_scale_and_loss_choice(void **state)
{
    (void)state;
    assert_true(train_dist_grad_scale(TRAIN_DIST_LOSS_LOCAL, 4) == 0.25f);
    assert_true(train_dist_grad_scale(TRAIN_DIST_LOSS_GLOBAL, 4) == 1.0f);
    assert_true(train_dist_grad_scale(TRAIN_DIST_LOSS_LOCAL, 1) == 1.0f);
    train_dist_loss l;
    assert_int_equal(train_dist_loss_choose(0, &l), CC_OK);
    assert_int_equal(l, TRAIN_DIST_LOSS_LOCAL);
    assert_int_equal(train_dist_loss_choose(1, &l), CC_OK);
    assert_int_equal(l, TRAIN_DIST_LOSS_GLOBAL);
}

static void test_weights_hash(void **state)
{
    (void)state;
    clip_wmap *m = clip_wmap_new();
    const int64_t shape[1] = {3};
    float *a = calloc(3, sizeof *a), *b = calloc(2, sizeof *b);
    a[1] = 0.5f;
    const int64_t shape2[1] = {2};
    assert_int_equal(clip_wmap_add(m, "a", 1, shape, a, 1), CC_OK);
    assert_int_equal(clip_wmap_add(m, "b", 1, shape2, b, 1), CC_OK);
    uint64_t h0 = train_dist_weights_hash(m);
    assert_true(h0 == train_dist_weights_hash(m));
    b[1] = -0.0f; /* another bit pattern of an equal value: a different hash */
    uint64_t h1 = train_dist_weights_hash(m);
    assert_true(h1 != h0);
    b[1] = 0.0f;
    assert_true(train_dist_weights_hash(m) == h0);
    clip_wmap_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_device_from_list),
        cmocka_unit_test(test_resume_keeps_global_batch),
        cmocka_unit_test(test_grad_scale_and_loss_choice),
        cmocka_unit_test(test_weights_hash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
