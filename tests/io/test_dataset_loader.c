/* The threaded loader: every sample exactly once per epoch, an order that is
 * a seeded shuffle (same seed -> same order whatever the number of threads
 * or the queue depth; another seed or epoch -> another order), pixels equal
 * to preprocessing the sample directly, drop_last, unreadable samples
 * skipped with one warning each, and a clear error when nothing is readable.
 * Parts (data-parallel ranks): the parts of every global batch, put side by
 * side, are the batch one loader of parts x batch gives, pixels and
 * augmentation included, epoch after epoch. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/dataset.h"
#include "io/synth.h"
#include "runtime/status.h"
#include "runtime/settings.h"

#define N 37
#define S 16

/* Runs `epochs` epochs; records the dataset index sequence and, when px is
 * given, the pixels in that sequence. Returns the number of batches. */
static int run(const ds_dataset *ds, ds_loader_opts o, int epochs, int64_t *order, float *px,
               int *batch_sizes)
{
    ds_loader *l;
    if (ds_loader_open(&l, ds, &o) != CC_OK)
        fail_msg("%s", cc_last_error());
    ds_batch b;
    assert_int_equal(ds_batch_init(&b, o.batch, S), CC_OK);
    int k = 0, nb = 0;
    for (int e = 0; e < epochs; e++) {
        for (;;) {
            int got;
            if (ds_loader_next(l, &b, &got) != CC_OK)
                fail_msg("%s", cc_last_error());
            if (!got)
                break;
            assert_int_equal(b.epoch, e);
            if (batch_sizes)
                batch_sizes[nb] = b.n;
            nb++;
            for (int i = 0; i < b.n; i++, k++) {
                order[k] = b.index[i];
                assert_string_equal(b.captions[i], ds_caption(ds, b.index[i]));
                if (px)
                    memcpy(px + (size_t)k * 3 * S * S, b.pixels + (size_t)i * 3 * S * S,
                           3 * S * S * sizeof(float));
            }
        }
    }
    ds_batch_free(&b);
    ds_loader_close(l);
    return nb;
}

static void test_each_sample_once_in_seeded_order(void **state)
{
    (void)state;
    ds_dataset *ds;
    assert_int_equal(ds_open_synth(&ds, SYNTH_TRAIN, N, S, 3), CC_OK);
    int64_t order[3 * N], order2[3 * N], order3[3 * N];
    float *px = malloc((size_t)3 * N * 3 * S * S * sizeof(float));
    float *px2 = malloc((size_t)3 * N * 3 * S * S * sizeof(float));
    int sizes[64];
    ds_loader_opts o = {.batch = 5, .size = S, .seed = 42};
    int nb = run(ds, o, 3, order, px, sizes);
    assert_int_equal(nb, 3 * 8); /* 7 full batches and one of 2 per epoch */
    for (int i = 0; i < nb; i++)
        assert_int_equal(sizes[i], i % 8 == 7 ? 2 : 5);
    for (int e = 0; e < 3; e++) {
        int seen[N] = {0}, identity = 1;
        for (int i = 0; i < N; i++) {
            int64_t v = order[e * N + i];
            assert_true(v >= 0 && v < N);
            seen[v]++;
            identity &= v == i;
        }
        for (int i = 0; i < N; i++)
            assert_int_equal(seen[i], 1);
        assert_false(identity);
    }
    assert_memory_not_equal(order, order + N, N * sizeof(int64_t)); /* reshuffled per epoch */

    /* Pixels: the synthetic image, already S x S, normalised directly. */
    for (int k = 0; k < 3 * N; k += 7) {
        img_u8 im;
        float want[3 * S * S];
        assert_int_equal(ds_load_image(ds, order[k], &im), CC_OK);
        img_clip_normalize(&im, want);
        img_free(&im);
        assert_memory_equal(px + (size_t)k * 3 * S * S, want, sizeof want);
    }

    /* Same seed: same order and pixels, inline, with 4 threads and a queue of
     * 1, or with 3 threads and a deep queue. */
    ds_loader_opts variants[] = {
        {.batch = 5, .size = S, .seed = 42, .workers = -1},
        {.batch = 5, .size = S, .seed = 42, .workers = 4, .queue = 1},
        {.batch = 5, .size = S, .seed = 42, .workers = 3, .queue = 200},
    };
    for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
        assert_int_equal(run(ds, variants[v], 3, order2, px2, NULL), 24);
        assert_memory_equal(order, order2, sizeof order);
        assert_memory_equal(px, px2, (size_t)3 * N * 3 * S * S * sizeof(float));
    }
    /* Another seed, another order; no shuffle, the dataset order. */
    o.seed = 43;
    run(ds, o, 1, order3, NULL, NULL);
    assert_memory_not_equal(order, order3, N * sizeof(int64_t));
    o.no_shuffle = 1;
    run(ds, o, 2, order3, NULL, NULL);
    for (int i = 0; i < 2 * N; i++)
        assert_int_equal(order3[i], i % N);
    /* drop_last: 7 batches per epoch, 35 samples, all distinct. */
    o = (ds_loader_opts){.batch = 5, .size = S, .seed = 42, .drop_last = 1};
    assert_int_equal(run(ds, o, 2, order2, NULL, sizes), 14);
    assert_memory_equal(order2, order, 35 * sizeof(int64_t)); /* same shuffle, tail dropped */
    free(px);
    free(px2);
    ds_close(ds);
}

static void test_augmentation_is_seeded(void **state)
{
    (void)state;
    ds_dataset *ds;
    assert_int_equal(ds_open_synth(&ds, SYNTH_TRAIN, 9, 24, 1), CC_OK);
    ds_loader_opts o = {.batch = 3, .size = S, .seed = 5,
                        .rrc = {1, 0.9, 1.0, 3.0 / 4.0, 4.0 / 3.0}};
    int64_t ord_a[18], ord_b[18];
    float *a = malloc(18 * 3 * S * S * sizeof(float)), *b = malloc(18 * 3 * S * S * sizeof(float));
    run(ds, o, 2, ord_a, a, NULL);
    o.workers = -1;
    run(ds, o, 2, ord_b, b, NULL);
    assert_memory_equal(ord_a, ord_b, sizeof ord_a);
    assert_memory_equal(a, b, 18 * 3 * S * S * sizeof(float));
    /* The crops differ between epochs: sample x in epoch 0 vs epoch 1. */
    int differ = 0;
    for (int i = 0; i < 9; i++)
        for (int j = 9; j < 18; j++)
            if (ord_a[i] == ord_a[j])
                differ += memcmp(a + (size_t)i * 3 * S * S, a + (size_t)j * 3 * S * S,
                                 3 * S * S * sizeof(float)) != 0;
    assert_true(differ >= 7);
    free(a);
    free(b);
    ds_close(ds);
}

/* 2 and 3 parts of batch 4 over 2 epochs against one loader of 8 / 12. */
static void test_parts_split_each_global_batch(void **state)
{
    (void)state;
    ds_dataset *ds;
    assert_int_equal(ds_open_synth(&ds, SYNTH_TRAIN, N, 24, 2), CC_OK);
    const size_t px = 3 * S * S;
    for (int parts = 2; parts <= 3; parts++) {
        const int b = 4, g = b * parts, per_epoch = N / g; /* 4 or 3 global batches */
        ds_loader_opts o = {.batch = g, .size = S, .seed = 9, .drop_last = 1,
                            .rrc = {1, 0.9, 1.0, 3.0 / 4.0, 4.0 / 3.0}};
        int64_t whole[2 * N];
        float *wpx = malloc(2 * N * px * sizeof(float));
        int nb = run(ds, o, 2, whole, wpx, NULL);
        assert_int_equal(nb, 2 * per_epoch);
        for (int r = 0; r < parts; r++) {
            int64_t mine[2 * N];
            float *mpx = malloc(2 * N * px * sizeof(float));
            ds_loader_opts op = o;
            op.batch = b;
            op.part = r;
            op.parts = parts;
            op.workers = r == 1 ? -1 : 3; /* thread counts do not matter */
            assert_int_equal(run(ds, op, 2, mine, mpx, NULL), 2 * per_epoch);
            for (int k = 0; k < 2 * per_epoch; k++)
                for (int i = 0; i < b; i++) {
                    size_t w = (size_t)k * g + (size_t)r * b + (size_t)i, m = (size_t)k * b + (size_t)i;
                    assert_int_equal(mine[m], whole[w]);
                    assert_memory_equal(mpx + m * px, wpx + w * px, px * sizeof(float));
                }
            free(mpx);
        }
        free(wpx);
    }
    /* fewer samples than one global batch: refused */
    ds_loader *l = NULL;
    ds_loader_opts big = {.batch = 16, .size = S, .part = 0, .parts = 3, .drop_last = 1};
    assert_int_equal(ds_loader_open(&l, ds, &big), CC_ERR_INVALID);
    assert_non_null(strstr(cc_last_error(), "fewer than one global batch"));
    ds_close(ds);
}

typedef struct counter {
    int n;
    char last[1024];
} counter;

static void count_warning(void *user, const char *msg)
{
    counter *c = user;
    c->n++;
    snprintf(c->last, sizeof c->last, "%s", msg);
}

static void test_unreadable_samples_skipped(void **state)
{
    (void)state;
    const char *cache = rt_setting_value(RT_SET_CACHE_DIR);
    if (cache)
        mkdir(cache, 0755);
    char dir[1024], csv[1200], line[1300];
    snprintf(dir, sizeof dir, "%s/G_loader_%ld", cache ? cache : "/tmp", (long)getpid());
    mkdir(dir, 0755);
    /* 12 rows: 9 real images, 2 missing, 1 not an image. */
    snprintf(csv, sizeof csv, "%s/list.csv", dir);
    FILE *f = fopen(csv, "w");
    assert_non_null(f);
    fprintf(f, "filepath,title\n");
    for (int i = 0; i < 12; i++) {
        snprintf(line, sizeof line, "%s/%02d.png", dir, i);
        if (i == 4) {
            FILE *g = fopen(line, "w");
            fputs("not a png", g);
            fclose(g);
        } else if (i != 7 && i != 10) {
            synth_attrs a;
            synth_sample(0, SYNTH_TRAIN, i, &a);
            img_u8 im;
            assert_int_equal(synth_render(&a, S, &im), CC_OK);
            assert_int_equal(synth_write_png(line, &im), CC_OK);
            img_free(&im);
        }
        fprintf(f, "%02d.png,caption %d\n", i, i);
    }
    fclose(f);
    ds_dataset *ds;
    assert_int_equal(ds_open_csv(&ds, csv, NULL), CC_OK);
    assert_int_equal(ds_count(ds), 12);

    counter c = {0};
    ds_loader_opts o = {.batch = 4, .size = S, .seed = 8, .warn = count_warning, .warn_user = &c};
    int64_t order[18];
    int sizes[8];
    /* Per epoch: 9 readable -> batches of 4, 4, 1; three warnings. */
    assert_int_equal(run(ds, o, 2, order, NULL, sizes), 6);
    assert_int_equal(sizes[0], 4);
    assert_int_equal(sizes[1], 4);
    assert_int_equal(sizes[2], 1);
    assert_int_equal(c.n, 6);
    for (int i = 0; i < 18; i++)
        assert_true(order[i] != 4 && order[i] != 7 && order[i] != 10);
    ds_close(ds);

    /* Nothing readable: an error, not an endless loop. */
    f = fopen(csv, "w");
    fprintf(f, "filepath,title\nnope1.png,a\nnope2.png,b\n");
    fclose(f);
    assert_int_equal(ds_open_csv(&ds, csv, NULL), CC_OK);
    ds_loader *l;
    c.n = 0;
    assert_int_equal(ds_loader_open(&l, ds, &o), CC_OK);
    ds_batch b;
    assert_int_equal(ds_batch_init(&b, 4, S), CC_OK);
    int got;
    assert_int_equal(ds_loader_next(l, &b, &got), CC_ERR_IO);
    assert_int_equal(got, 0);
    assert_non_null(strstr(cc_last_error(), "no readable sample"));
    assert_int_equal(c.n, 2);
    assert_non_null(strstr(c.last, "nope"));
    /* A batch of the wrong shape is refused. */
    ds_batch small;
    assert_int_equal(ds_batch_init(&small, 2, S), CC_OK);
    assert_int_equal(ds_loader_next(l, &small, &got), CC_ERR_SHAPE);
    ds_batch_free(&small);
    ds_batch_free(&b);
    ds_loader_close(l);
    ds_close(ds);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_sample_once_in_seeded_order),
        cmocka_unit_test(test_augmentation_is_seeded),
        cmocka_unit_test(test_parts_split_each_global_batch),
        cmocka_unit_test(test_unreadable_samples_skipped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
