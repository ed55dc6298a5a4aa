/* Learning-rate schedules against values computed by hand from open_clip's
 * formulas (the constants below were evaluated independently, not by the
 * code under test). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "runtime/status.h"
#include "train/schedule.h"

#define CLOSE(got, want) assert_true(fabs((got) - (want)) <= 1e-12 + 1e-9 * fabs(want))

static void test_cosine_warmup(void **state)
{
    (void)state;
    train_schedule s;
    assert_int_equal(train_schedule_init(&s, TRAIN_SCHED_COSINE, 1e-3, 10, 110), 0);
    CLOSE(train_schedule_lr(&s, 0), 1e-4);           /* 1e-3 * 1/10 */
    CLOSE(train_schedule_lr(&s, 4), 5e-4);           /* 1e-3 * 5/10 */
    CLOSE(train_schedule_lr(&s, 9), 1e-3);           /* end of warm-up */
    CLOSE(train_schedule_lr(&s, 10), 1e-3);          /* cos(0) */
    CLOSE(train_schedule_lr(&s, 35), 8.535533905932737e-4); /* 0.5 (1 + cos(pi/4)) */
    CLOSE(train_schedule_lr(&s, 60), 5e-4);          /* cos(pi/2) = 0 */
    CLOSE(train_schedule_lr(&s, 109), 2.4671981713420e-7); /* 0.5 (1 - cos(0.01 pi)) */
    CLOSE(train_schedule_lr(&s, 110), 0.0);
    CLOSE(train_schedule_lr(&s, 500), 0.0);          /* held at the floor */
}

static void test_cosine_no_warmup(void **state)
{
    (void)state;
    train_schedule s;
    assert_int_equal(train_schedule_init(&s, TRAIN_SCHED_COSINE, 2.0, 0, 4), 0);
    CLOSE(train_schedule_lr(&s, 0), 2.0);
    CLOSE(train_schedule_lr(&s, 1), 1.7071067811865475); /* 1 + cos(pi/4) */
    CLOSE(train_schedule_lr(&s, 2), 1.0);
    CLOSE(train_schedule_lr(&s, 3), 0.2928932188134524); /* 1 + cos(3pi/4) */
}

static void test_const(void **state)
{
    (void)state;
    train_schedule s;
    assert_int_equal(train_schedule_init(&s, TRAIN_SCHED_CONST, 5e-4, 5, 5), 0); /* warmup == steps is fine */
    CLOSE(train_schedule_lr(&s, 0), 1e-4);
    CLOSE(train_schedule_lr(&s, 2), 3e-4);
    CLOSE(train_schedule_lr(&s, 4), 5e-4);
    CLOSE(train_schedule_lr(&s, 5), 5e-4);
    CLOSE(train_schedule_lr(&s, 1000), 5e-4);
}

static void test_parse_and_errors(void **state)
{
    (void)state;
    train_sched_kind k;
    assert_int_equal(train_schedule_parse("cosine", &k), 0);
    assert_int_equal(k, TRAIN_SCHED_COSINE);
    assert_int_equal(train_schedule_parse("const", &k), 0);
    assert_int_equal(k, TRAIN_SCHED_CONST);
    assert_int_equal(train_schedule_parse("linear", &k), CC_ERR_INVALID);
    assert_non_null(strstr(cc_last_error(), "linear"));
    assert_string_equal(train_schedule_name(TRAIN_SCHED_CONST), "const");
    train_schedule s;
    assert_int_equal(train_schedule_init(&s, TRAIN_SCHED_COSINE, 1e-3, 10, 10), CC_ERR_INVALID);
    assert_int_equal(train_schedule_init(&s, TRAIN_SCHED_COSINE, -1e-3, 0, 10), CC_ERR_INVALID);
    assert_int_equal(train_schedule_init(&s, TRAIN_SCHED_CONST, 1e-3, -1, 10), CC_ERR_INVALID);
    assert_int_equal(train_schedule_init(&s, TRAIN_SCHED_CONST, 1e-3, 0, 0), CC_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cosine_warmup),
        cmocka_unit_test(test_cosine_no_warmup),
        cmocka_unit_test(test_const),
        cmocka_unit_test(test_parse_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
