/* The collectives of train/dist.h and train/trainer_dist.h, run by
 * tests/train/test_dist.py under `mpirun -np 2` and `-np 3`: the gradient
 * sum (exact on sums of quarter-integers, whatever the order; the same bits
 * on every rank; a length that does not split evenly), the in-place and
 * the copying feature all-gathers in rank order, the broadcast, the roll
 * call, and the equality check naming the rank that differs. Prints
 * "rank R of N: collectives OK" per rank; exits 1 on the first failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/status.h"
#include "train/dist.h"
#include "train/trainer_dist.h"

static int fails;

#define CHECK(cond, ...)                                                                \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "rank %d: FAIL %s:%d: ", train_dist_rank(), __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                                               \
            fprintf(stderr, "\n");                                                      \
            fails++;                                                                    \
        }                                                                               \
    } while (0)

static float value(size_t i, int rank) { return (float)((i * 7 + (size_t)rank * 13) % 101) * 0.25f; }

static void test_sum(int rank, int size)
{
    const size_t n = 100003; /* not a multiple of 2 or 3 */
    float *g = malloc(n * sizeof *g), *s = malloc(train_dist_scratch_floats(n) * sizeof *s);
    for (size_t i = 0; i < n; i++)
        g[i] = value(i, rank);
    int rc = train_dist_sum_f32(g, n, s);
    CHECK(rc == CC_OK, "sum: %s", cc_last_error());
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        float want = 0;
        for (int r = 0; r < size; r++)
            want += value(i, r);
        bad += g[i] != want;
    }
    CHECK(bad == 0, "sum: %zu of %zu values wrong", bad, n);
    uint64_t h = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &g[i], sizeof u);
        h = h * 1099511628211ull + u;
    }
    CHECK(train_dist_check_equal(h, "the sums") == CC_OK, "sum differs across ranks: %s", cc_last_error());
    free(g);
    free(s);
}

static void test_gather(int rank, int size)
{
    const int rows = 3, e = 5;
    size_t per = (size_t)rows * e, all = per * (size_t)size;
    float *img = calloc(all, sizeof *img), *txt = calloc(all, sizeof *txt);
    float *mi = malloc(per * sizeof *mi), *mt = malloc(per * sizeof *mt);
    float *ai = calloc(all, sizeof *ai), *at = calloc(all, sizeof *at);
    for (size_t j = 0; j < per; j++) {
        img[(size_t)rank * per + j] = mi[j] = (float)(rank * 1000 + (int)j);
        txt[(size_t)rank * per + j] = mt[j] = -(float)(rank * 1000 + (int)j);
    }
    CHECK(train_dist_gather_features_inplace(NULL, img, txt, rows, e) == CC_OK, "%s", cc_last_error());
    CHECK(train_dist_gather_features(mi, mt, rows, e, ai, at) == CC_OK, "%s", cc_last_error());
    size_t bad = 0;
    for (int r = 0; r < size; r++)
        for (size_t j = 0; j < per; j++) {
            float w = (float)(r * 1000 + (int)j);
            size_t k = (size_t)r * per + j;
            bad += img[k] != w || txt[k] != -w || ai[k] != w || at[k] != -w;
        }
    CHECK(bad == 0, "gather: %zu rows out of rank order", bad);
    free(img);
    free(txt);
    free(mi);
    free(mt);
    free(ai);
    free(at);
}

int main(void)
{
    if (train_dist_init() != CC_OK) {
        fprintf(stderr, "init: %s\n", cc_last_error());
        return 1;
    }
    int rank = train_dist_rank(), size = train_dist_size();
    CHECK(size >= 2, "expected to run under mpirun with >= 2 ranks, have %d", size);
    train_dist_set_timeout(30);
    CHECK(train_dist_roll_call(5, 30) == CC_OK, "roll call: %s", cc_last_error());
    test_sum(rank, size);
    test_gather(rank, size);
    double b[4] = {rank, rank, rank, rank};
    if (rank == 0)
        b[0] = b[1] = b[2] = b[3] = 42.5;
    CHECK(train_dist_bcast(b, sizeof b, 0) == CC_OK && b[0] == 42.5 && b[3] == 42.5, "broadcast");
    int rc = train_dist_check_equal(rank == 1 ? 7 : 9, "the test values");
    CHECK(rc == CC_ERR_INVALID && strstr(cc_last_error(), "rank 1 != rank 0"),
          "check_equal: rc %d, '%s'", rc, cc_last_error());
    CHECK(train_dist_barrier(30, "the end") == CC_OK, "barrier: %s", cc_last_error());
    if (fails) {
        train_dist_abort(1);
        return 1;
    }
    printf("rank %d of %d: collectives OK\n", rank, size);
    train_dist_finalize();
    return 0;
}
