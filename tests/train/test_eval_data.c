/* Labelled sets and caption sets (train/eval_data.h) on files written here:
 * folder and CSV sets, the label-column default, class lists (file, hint
 * beside a synth-style CSV, collected and sorted), label mapping and its
 * errors, caption grouping by image. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include "runtime/status.h"
#include "tests/io/io_test_util.h"
#include "train/eval_data.h"

static int setup(void **state)
{
    (void)state;
    return iot_setup("G_eval_data");
}

/* Maps the three labels of s onto cls and checks the indices. */
static void expect_labels(const eval_set *s, const eval_strs *cls, int from_file,
                          const int32_t want[3], int32_t lab[3])
{
    assert_int_equal(s->labels.n, 3);
    assert_int_equal(eval_set_classes(s, cls, from_file, lab), CC_OK);
    for (int i = 0; i < 3; i++)
        assert_int_equal(lab[i], want[i]);
}

static void test_csv_names_and_default_key(void **state)
{
    (void)state;
    /* no "label" column: "class" is the default's second choice */
    iot_write_text(iot_path("named.csv"), "filepath,class,other\nimg/a.png,dog,x\n/abs/b.png,cat,y\nimg/c.png,dog,z\n");
    eval_set s;
    assert_int_equal(eval_set_open(iot_path("named.csv"), NULL, &s), CC_OK);
    assert_int_equal(s.paths.n, 3);
    assert_string_equal(s.paths.v[0], iot_path("img/a.png")); /* relative to the CSV */
    assert_string_equal(s.paths.v[1], "/abs/b.png");
    assert_string_equal(s.labels.v[1], "cat");
    assert_int_equal(s.numeric, 0);
    assert_string_equal(s.classes_hint, "");
    const eval_set *sets[1] = {&s};
    eval_strs cls;
    assert_int_equal(eval_classes_collect(sets, 1, &cls), CC_OK);
    assert_int_equal(cls.n, 2);
    assert_string_equal(cls.v[0], "cat"); /* sorted */
    assert_string_equal(cls.v[1], "dog");
    int32_t lab[3];
    expect_labels(&s, &cls, 0, (const int32_t[]){1, 0, 1}, lab);
    eval_strs_free(&cls);
    /* a class list without "cat": an error naming the label and image */
    iot_write_text(iot_path("dogs.txt"), "dog\nwolf\n");
    assert_int_equal(eval_classes_read(iot_path("dogs.txt"), &cls), CC_OK);
    assert_int_equal(eval_set_classes(&s, &cls, 1, lab), CC_ERR_INVALID);
    assert_non_null(strstr(cc_last_error(), "\"cat\""));
    assert_non_null(strstr(cc_last_error(), "/abs/b.png"));
    eval_strs_free(&cls);
    eval_set_free(&s);
    /* no label column at all, or a named one missing */
    iot_write_text(iot_path("nolabel.csv"), "filepath,title\na.png,x\n");
    assert_int_equal(eval_set_open(iot_path("nolabel.csv"), NULL, &s), CC_ERR_INVALID);
    assert_non_null(strstr(cc_last_error(), "--label-key"));
    eval_set_opts o = {.label_key = "nosuch"};
    assert_int_not_equal(eval_set_open(iot_path("named.csv"), &o, &s), CC_OK);
    assert_non_null(strstr(cc_last_error(), "nosuch"));
}

static void test_csv_numeric_with_hint(void **state)
{
    (void)state;
    /* the layout `clipcl synth` writes: class_pair ids + classes_pair.txt */
    iot_write_text(iot_path("syn.csv"), "filepath,title,class_pair\nx/0.png,a,2\nx/1.png,b,0\nx/2.png,c,10\n");
    iot_write_text(iot_path("classes_pair.txt"), "zero\r\none\ntwo\n\nthree\nfour\nfive\nsix\nseven\neight\nnine\nten\n");
    eval_set s;
    assert_int_equal(eval_set_open(iot_path("syn.csv"), NULL, &s), CC_OK);
    assert_int_equal(s.numeric, 1);
    assert_string_equal(s.classes_hint, iot_path("classes_pair.txt"));
    eval_strs cls;
    assert_int_equal(eval_classes_read(s.classes_hint, &cls), CC_OK);
    assert_int_equal(cls.n, 11); /* blank line skipped, \r dropped */
    assert_string_equal(cls.v[0], "zero");
    int32_t lab[3];
    expect_labels(&s, &cls, 1, (const int32_t[]){2, 0, 10}, lab);
    eval_strs_free(&cls);
    /* without a file the integers are names, sorted as numbers */
    const eval_set *sets[1] = {&s};
    assert_int_equal(eval_classes_collect(sets, 1, &cls), CC_OK);
    assert_int_equal(cls.n, 3);
    assert_string_equal(cls.v[0], "0");
    assert_string_equal(cls.v[1], "2");
    assert_string_equal(cls.v[2], "10");
    assert_int_equal(eval_set_classes(&s, &cls, 0, lab), CC_OK);
    assert_int_equal(lab[2], 2);
    eval_strs_free(&cls);
    /* an index past the file's classes */
    iot_write_text(iot_path("short.txt"), "zero\none\n");
    assert_int_equal(eval_classes_read(iot_path("short.txt"), &cls), CC_OK);
    assert_int_equal(eval_set_classes(&s, &cls, 1, lab), CC_ERR_INVALID);
    assert_non_null(strstr(cc_last_error(), "0..1"));
    eval_strs_free(&cls);
    eval_set_free(&s);
    iot_write_text(iot_path("dup.txt"), "a\nb\na\n");
    assert_int_equal(eval_classes_read(iot_path("dup.txt"), &cls), CC_ERR_INVALID);
    assert_non_null(strstr(cc_last_error(), "twice"));
}

static char *record_warning_to;
static void record_warning(void *user, const char *msg)
{
    ++*(int *)user;
    snprintf(record_warning_to, 600, "%s", msg);
}

static void test_folders(void **state)
{
    (void)state;
    assert_int_equal(mkdir(iot_path("f"), 0755), 0);
    assert_int_equal(mkdir(iot_path("f/zebra_crossing"), 0755), 0);
    assert_int_equal(mkdir(iot_path("f/apple"), 0755), 0);
    assert_int_equal(mkdir(iot_path("f/.hidden"), 0755), 0);
    iot_write_text(iot_path("f/zebra_crossing/b.JPG"), "");
    iot_write_text(iot_path("f/zebra_crossing/a.png"), "");
    iot_write_text(iot_path("f/zebra_crossing/notes.txt"), "");
    iot_write_text(iot_path("f/apple/x.png"), "");
    iot_write_text(iot_path("f/.hidden/y.png"), "");
    iot_write_text(iot_path("f/readme.md"), "");
    eval_set s;
    assert_int_equal(eval_set_open(iot_path("f"), NULL, &s), CC_OK);
    assert_int_equal(s.from_folders, 1);
    assert_int_equal(s.paths.n, 3);
    assert_string_equal(s.paths.v[0], iot_path("f/apple/x.png"));
    assert_string_equal(s.paths.v[1], iot_path("f/zebra_crossing/a.png"));
    assert_string_equal(s.paths.v[2], iot_path("f/zebra_crossing/b.JPG"));
    assert_string_equal(s.labels.v[0], "apple");
    assert_string_equal(s.labels.v[2], "zebra crossing");
    eval_set_free(&s);
    assert_int_equal(mkdir(iot_path("g"), 0755), 0);
    assert_int_equal(eval_set_open(iot_path("g"), NULL, &s), CC_ERR_INVALID);
    assert_non_null(strstr(cc_last_error(), "sub-folders"));
    /* a folder named as the class list */
    eval_strs cls;
    assert_int_equal(eval_classes_read(iot_path("g"), &cls), CC_ERR_IO);
    assert_non_null(strstr(cc_last_error(), "s a directory")); /* strerror: "Is a ..." */
    /* a CSV beside the class folders (`clipcl synth`'s root named by
     * mistake): read as folders, with one warning naming the CSV */
    iot_write_text(iot_path("f/train.csv"), "filepath,title\n");
    char warned[600] = "";
    int n_warn = 0;
    eval_set_opts o = {.warn = record_warning, .warn_user = &n_warn};
    record_warning_to = warned;
    assert_int_equal(eval_set_open(iot_path("f"), &o, &s), CC_OK);
    assert_int_equal(s.paths.n, 3);
    assert_int_equal(n_warn, 1);
    assert_non_null(strstr(warned, "train.csv"));
    eval_set_free(&s);
}

static void test_captions_grouped(void **state)
{
    (void)state;
    iot_write_text(iot_path("caps.tsv"), "filepath\ttitle\na.png\tone\nb.png\ttwo\na.png\tthree\nc.png\tfour\n"
                    "b.png\tfive\n");
    eval_captions c;
    assert_int_equal(eval_captions_open(iot_path("caps.tsv"), NULL, NULL, NULL, NULL, &c), CC_OK);
    assert_int_equal(c.images.n, 3);
    assert_int_equal(c.texts.n, 5);
    assert_string_equal(c.images.v[0], iot_path("a.png"));
    assert_string_equal(c.images.v[2], iot_path("c.png"));
    const int64_t want[5] = {0, 1, 0, 2, 1};
    for (int i = 0; i < 5; i++)
        assert_int_equal(c.text_image[i], want[i]);
    assert_string_equal(c.texts.v[2], "three");
    eval_captions_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_names_and_default_key),
        cmocka_unit_test(test_csv_numeric_with_hint),
        cmocka_unit_test(test_folders),
        cmocka_unit_test(test_captions_grouped),
    };
    return cmocka_run_group_tests(tests, setup, iot_teardown);
}
