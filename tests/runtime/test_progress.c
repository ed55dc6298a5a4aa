/* The progress bar (runtime/progress.c): its text (counts, bar fill, rate and
 * ETA against values worked out by hand, the width limit at any width) and
 * what it hands its sink. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "runtime/progress.h"

static int count_char(const char *s, char c)
{
    int n = 0;
    for (; *s; s++)
        n += *s == c;
    return n;
}

/* Width 80 leaves 79 columns. Fixed parts: "resize  50/100" (14) + " [" + "]"
 * (3) + "  50%" (5) + "  5.00 img/s  ETA 0:10" (22) = 44, so the bar has 35
 * cells; 50/100 fills int(35 * 0.5) = 17 of them. Rate 50 / 10 s = 5.00/s,
 * ETA (100 - 50) / 5 = 10 s. */
static void test_half_way(void **s)
{
    (void)s;
    char buf[256];
    int n = progress_format(buf, sizeof buf, 80, "resize", "img", 50, 100, 10.0);
    const char *want = "resize  50/100 [#################..................]  50%  5.00 img/s  ETA 0:10";
    assert_string_equal(buf, want);
    assert_int_equal(n, (int)strlen(want));
    assert_int_equal(n, 79);
}

static void test_start_has_unknown_eta(void **s)
{
    (void)s;
    char buf[256];
    progress_format(buf, sizeof buf, 60, "t", "text", 0, 7, 0.0);
    assert_non_null(strstr(buf, "t  0/7 ["));
    assert_non_null(strstr(buf, "-- text/s  ETA --:--"));
    assert_int_equal(count_char(buf, '#'), 0);
    assert_int_equal((int)strlen(buf), 59);
}

/* 3 of 3 in 125 s: rate 0.024/s prints as "0.02", elapsed 2:05. */
static void test_finished_shows_elapsed(void **s)
{
    (void)s;
    char buf[256];
    progress_format(buf, sizeof buf, 70, "x", "img", 3, 3, 125.0);
    assert_non_null(strstr(buf, "] 100%  0.02 img/s  done in 2:05"));
    assert_int_equal(count_char(buf, '.'), 1); /* a full bar: the rate's point only */
    assert_int_equal(count_char(buf, '#'), 70 - 1 - 6 - 3 - 5 - 26); /* "x  3/3", " [", "]", " 100%", tail */
}

/* 1 of 10000 in 2 s: 0.5/s, ETA 9999 / 0.5 = 19998 s = 5:33:18. */
static void test_long_eta_has_hours(void **s)
{
    (void)s;
    char buf[256];
    progress_format(buf, sizeof buf, 100, "p", "img", 1, 10000, 2.0);
    assert_non_null(strstr(buf, "0.50 img/s  ETA 5:33:18"));
    assert_non_null(strstr(buf, "   0%"));
}

/* Rates pick their decimals by size: 12.5/s -> "12.5", 1234/s -> "1234". */
static void test_rate_precision(void **s)
{
    (void)s;
    char buf[256];
    progress_format(buf, sizeof buf, 100, "", "it", 25, 100, 2.0);
    assert_non_null(strstr(buf, " 12.5 it/s  ETA 0:06"));
    assert_int_equal(strncmp(buf, "25/100 [", 8), 0); /* no label, no gap */
    progress_format(buf, sizeof buf, 100, "", "it", 1234, 5000, 1.0);
    assert_non_null(strstr(buf, " 1234 it/s  ETA 0:03"));
}

/* Too narrow for a ten-cell bar: numbers only, cut to the width. */
static void test_narrow_and_buffer_limits(void **s)
{
    (void)s;
    char buf[256];
    progress_format(buf, sizeof buf, 30, "preprocess", "img", 5, 10, 1.0);
    assert_null(strchr(buf, '['));
    assert_int_equal((int)strlen(buf), 29);
    assert_int_equal(strncmp(buf, "preprocess  5/10  50%", 21), 0);
    for (int w = 0; w < 200; w++) {
        char small[40];
        int n = progress_format(small, sizeof small, w, "label", "img", 3, 9, 1.5);
        assert_int_equal(n, (int)strlen(small));
        assert_true(n <= (w > 0 ? w - 1 : 0));
        assert_true(n <= 39);
    }
}

/* Out-of-range counts are clamped rather than drawn as an overfull bar. */
static void test_clamps(void **s)
{
    (void)s;
    char buf[256];
    progress_format(buf, sizeof buf, 80, "c", "img", 15, 10, 1.0);
    assert_non_null(strstr(buf, "c  10/10 ["));
    assert_int_equal(count_char(buf, '.'), 0 + 1); /* the bar is full; "." of the rate */
    progress_format(buf, sizeof buf, 80, "c", "img", -4, 10, 1.0);
    assert_non_null(strstr(buf, "c  0/10 ["));
    assert_int_equal(count_char(buf, '#'), 0);
}

/* Without a sink (the tool passes none off a terminal): every call must stay
 * silent and safe. */
static void test_silent_without_sink(void **s)
{
    (void)s;
    progress p;
    progress_start(&p, "quiet", "img", 3, NULL);
    assert_int_equal(p.enabled, 0);
    progress_update(&p, 1);
    progress_clear(&p);
    progress_update(&p, 3);
    progress_finish(&p);
    progress_abort(&p);
    assert_int_equal(p.drawn, 0);
    assert_int_equal(p.done, 3);
}

typedef struct captured {
    char text[4096];
    int writes;
} captured;

static void capture_write(void *user, const char *text)
{
    captured *c = user;
    size_t n = strlen(c->text);
    snprintf(c->text + n, sizeof c->text - n, "%s", text);
    c->writes++;
}

static int capture_width(void *user)
{
    (void)user;
    return 80;
}

/* With a sink: the final line ends with the full count and a newline, a
 * clear blanks the line, and nothing is written after finish. */
static void test_sink_gets_final_line(void **s)
{
    (void)s;
    captured c = {{0}, 0};
    progress_sink sink = {capture_write, capture_width, &c};
    progress p;
    progress_start(&p, "resize", "img", 4, &sink);
    assert_int_equal(p.enabled, 1);
    progress_update(&p, 4);
    progress_finish(&p);
    assert_non_null(strstr(c.text, "resize  4/4"));
    assert_int_equal(c.text[strlen(c.text) - 1], '\n');
    int writes = c.writes;
    progress_update(&p, 4);
    progress_clear(&p);
    progress_finish(&p);
    assert_int_equal(c.writes, writes);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_half_way),
        cmocka_unit_test(test_start_has_unknown_eta),
        cmocka_unit_test(test_finished_shows_elapsed),
        cmocka_unit_test(test_long_eta_has_hours),
        cmocka_unit_test(test_rate_precision),
        cmocka_unit_test(test_narrow_and_buffer_limits),
        cmocka_unit_test(test_clamps),
        cmocka_unit_test(test_silent_without_sink),
        cmocka_unit_test(test_sink_gets_final_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
