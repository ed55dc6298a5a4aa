/* Zero-shot accuracy, prompt ensembling and retrieval recall (train/eval.h)
 * on hand-built feature matrices whose answers are derived in the comments.
 * Ties: the documented rule (lower index first) is what the tie cases pin. */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include "runtime/status.h"
#include "train/eval.h"

static void test_ensemble_by_hand(void **state)
{
    (void)state;
    /* class 0: (3,0) and (0,2) normalise to e0, e1; mean (.5,.5) renormalises
     * to (1,1)/sqrt2. class 1: (1,1) and 5*(-1,1) normalise to (1,1)/sqrt2 and
     * (-1,1)/sqrt2; mean (0, 1/sqrt2) renormalises to (0,1). Different
     * prompt norms must not weigh the mean. */
    const float p[] = {3, 0, 0, 2, 1, 1, -5, 5};
    float out[4];
    assert_int_equal(eval_ensemble(p, 2, 2, 2, out), CC_OK);
    double r = 1.0 / sqrt(2.0);
    assert_true(fabs(out[0] - r) < 1e-6 && fabs(out[1] - r) < 1e-6);
    assert_true(fabs(out[2]) < 1e-6 && fabs(out[3] - 1) < 1e-6);
    /* one template: the row itself, normalised */
    const float q[] = {0, -3, 4};
    assert_int_equal(eval_ensemble(q, 1, 1, 3, out), CC_OK);
    assert_true(fabs(out[0]) < 1e-7 && fabs(out[1] + 0.6) < 1e-6 && fabs(out[2] - 0.8) < 1e-6);
    /* opposite prompts cancel: no direction, an error naming the class */
    const float z[] = {1, 0, -2, 0};
    assert_int_equal(eval_ensemble(z, 1, 2, 2, out), CC_ERR_INVALID);
    assert_non_null(strstr(cc_last_error(), "class 0"));
}

static void test_zeroshot_top1_ties_and_norms(void **state)
{
    (void)state;
    /* classes (norms 2, 1, 1, 4 are divided out): e0, e1, -e0, -e1 */
    const float cls[] = {2, 0, 0, 1, -1, 0, 0, -4};
    /* i0 = (1,1), label 1: cosines*|x| 1, 1, -1, -1 -> tie of classes 0 and
     *   1, class 0 first by index: rank 1 (top-1 miss), predicted 0.
     * i1 = (1,.5), label 0: scores 1, .5, -1, -.5: rank 0, hit (under
     *   the opposite tie rule i0 would hit instead and top-1 would be 3).
     * i2 = (-3,1), label 3: scores -3, 1, 3, -1 -> order 2, 1, 3, 0: rank 2.
     * i3 = (0,-1), label 3: rank 0, hit. */
    const float img[] = {1, 1, 1, .5f, -3, 1, 0, -1};
    const int32_t lab[] = {1, 0, 3, 3};
    int32_t pred[4];
    eval_zs_result r;
    assert_int_equal(eval_zeroshot(img, 4, cls, 4, 2, lab, pred, &r), CC_OK);
    assert_int_equal(r.n, 4);
    assert_int_equal(r.top1, 2);
    assert_int_equal(r.top5, 4); /* 4 classes: every image is in its top 5 */
    assert_true(fabs(r.acc1 - 0.5) < 1e-12 && fabs(r.acc5 - 1) < 1e-12);
    /* per class: class 0 1/1, class 1 0/1, class 3 1/2 -> mean 0.5 */
    assert_true(fabs(r.mean_per_class - 0.5) < 1e-12);
    assert_int_equal(pred[0], 0);
    assert_int_equal(pred[1], 0);
    assert_int_equal(pred[2], 2);
    assert_int_equal(pred[3], 3);
}

static void test_zeroshot_top5_boundary(void **state)
{
    (void)state;
    /* seven one-hot classes; image (7,6,...,1) ranks class k at k. Labels
     * 4 (rank 4: top-5 hit) and 5 (rank 5: miss); label 0 a top-1 hit. */
    float cls[49] = {0};
    for (int k = 0; k < 7; k++)
        cls[k * 7 + k] = 1;
    float img[21];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 7; j++)
            img[i * 7 + j] = (float)(7 - j);
    const int32_t lab[] = {4, 5, 0};
    eval_zs_result r;
    assert_int_equal(eval_zeroshot(img, 3, cls, 7, 7, lab, NULL, &r), CC_OK);
    assert_int_equal(r.top1, 1);
    assert_int_equal(r.top5, 2);
    /* a label out of range is an error, not a silent miss */
    const int32_t bad[] = {4, 7, 0};
    assert_int_equal(eval_zeroshot(img, 3, cls, 7, 7, bad, NULL, &r), CC_ERR_INVALID);
}

static void test_retrieval_by_hand(void **state)
{
    (void)state;
    /* images e0, e1, 2*e2 (norm divided out), and (-1,-1,-1) with no caption
     * (negative cosine with every text here, so it never outranks another).
     * texts (owner): t0 (1,0,0) (0); t1 (.6,.8,0) (1); t2 (0,.6,.8) (2);
     * t3 5*(.8,0,.6) (2); t4 (0,1,0) (0). */
    const float img[] = {1, 0, 0, 0, 1, 0, 0, 0, 2, -1, -1, -1};
    const float txt[] = {1, 0, 0, .6f, .8f, 0, 0, .6f, .8f, 4, 0, 3, 0, 1, 0};
    const int64_t owner[] = {0, 1, 2, 2, 0};
    /* image->text, cosines over t0..t4:
     *   img0 [1, .6, 0, .8, 0]: t0 rank 0 -> hit@1.
     *   img1 [0, .8, .6, 0, 1]: t1 behind t4 -> rank 1: miss@1, hit@5.
     *   img2 [0, 0, .8, .6, 0]: t2 rank 0 -> hit@1.
     *   img3: no caption -> miss at every K.
     * R@1 2/4, R@5 3/4, R@10 3/4.
     * text->image, cosines over img0..img3:
     *   t0 [1,0,0,-]: 0. t1 [.6,.8,0,-]: own img1 first: 0. t2 [0,.6,.8,-]: 0.
     *   t3 [.8,0,.6,-]: own img2 behind img0: 1. t4 [0,1,0,-]: own img0
     *   behind img1: 1. R@1 3/5, R@5 1, R@10 1. */
    eval_retrieval_result r;
    assert_int_equal(eval_retrieval(img, 4, txt, 5, 3, owner, &r), CC_OK);
    assert_true(fabs(r.i2t[0] - 0.5) < 1e-12);
    assert_true(fabs(r.i2t[1] - 0.75) < 1e-12 && fabs(r.i2t[2] - 0.75) < 1e-12);
    assert_true(fabs(r.t2i[0] - 0.6) < 1e-12);
    assert_true(fabs(r.t2i[1] - 1) < 1e-12 && fabs(r.t2i[2] - 1) < 1e-12);
    assert_int_equal(r.n_images, 4);
    assert_int_equal(r.n_texts, 5);
}

static void test_retrieval_ties_and_k(void **state)
{
    (void)state;
    /* 12 one-hot images; 12 identical texts (12, 11, ..., 1), text j owned by
     * image j. text->image: image a scores (12 - a)/|t|, so text j's image
     * ranks j. image->text: all texts tie, so by index caption j ranks j.
     * Both directions: R@1 1/12, R@5 5/12, R@10 10/12. */
    float img[144] = {0}, txt[144];
    int64_t owner[12];
    for (int i = 0; i < 12; i++) {
        img[i * 12 + i] = 1;
        owner[i] = i;
        for (int j = 0; j < 12; j++)
            txt[i * 12 + j] = (float)(12 - j);
    }
    eval_retrieval_result r;
    assert_int_equal(eval_retrieval(img, 12, txt, 12, 12, owner, &r), CC_OK);
    const double want[3] = {1.0 / 12, 5.0 / 12, 10.0 / 12};
    for (int k = 0; k < 3; k++) {
        assert_true(fabs(r.i2t[k] - want[k]) < 1e-12);
        assert_true(fabs(r.t2i[k] - want[k]) < 1e-12);
    }
    owner[3] = 12; /* no such image */
    assert_int_equal(eval_retrieval(img, 12, txt, 12, 12, owner, &r), CC_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ensemble_by_hand),
        cmocka_unit_test(test_zeroshot_top1_ties_and_norms),
        cmocka_unit_test(test_zeroshot_top5_boundary),
        cmocka_unit_test(test_retrieval_by_hand),
        cmocka_unit_test(test_retrieval_ties_and_k),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
