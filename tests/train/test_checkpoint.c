/* Checkpoints (train/checkpoint.h):
 *  - a run killed while writing a checkpoint (a child process that the
 *    CLIPCL_CKPT_KILL_AFTER hook SIGKILLs after the first, then after the
 *    fourth file) leaves the previous checkpoint complete, `latest` pointing
 *    at it, and loadable as a model and for resume; resuming then finishes
 *    the run and the log reads as one run;
 *  - corrupt checkpoints are refused with a message naming the defect:
 *    truncated model / optimizer safetensors, bad trainer_state.json, a
 *    missing tensor, a tensor of the wrong shape, disagreeing step. */
#include "test_trainer_util.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "io/safetensors.h"
#include "models/clip.h"
#include "train/checkpoint.h"

static int exists(const char *p)
{
    struct stat s;
    return stat(p, &s) == 0;
}

static void run_to(const char *out, int64_t steps, const char *resume)
{
    train_opts o;
    tt_losses l;
    tt_opts(&o, resume ? NULL : "vit.json", out, "ref", &l);
    o.steps = steps;
    o.resume = resume;
    tt_ok(train_run(&o), "train_run");
}

/* Resumes `run` to 6 steps in a child killed after `kill_after` files of
 * the step-6 checkpoint; returns nothing if the child died as planned. */
static void killed_child(const char *run, int kill_after)
{
    fflush(stdout);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char k[16];
        snprintf(k, sizeof k, "%d", kill_after);
        setenv("CLIPCL_CKPT_KILL_AFTER", k, 1);
        train_opts o;
        tt_losses l;
        tt_opts(&o, NULL, run, "ref", &l);
        o.resume = tt_path(run);
        o.steps = 6;
        int rc = train_run(&o);
        _exit(rc == CC_OK ? 0 : 3); /* reaching here means the hook did not fire */
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
}

static int log_lines(const char *run)
{
    char p[600], line[1024];
    snprintf(p, sizeof p, "%s/log.jsonl", tt_path(run));
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        long long step = -1;
        assert_int_equal(sscanf(line, "{\"step\": %lld", &step), 1);
        assert_int_equal(step, n + 1); /* steps 1, 2, ... once each */
        n++;
    }
    fclose(f);
    return n;
}

static void test_killed_mid_checkpoint(void **state)
{
    (void)state;
    run_to("kill", 3, NULL);
    char latest[600], ck3[600], ck6[600], tmp6[600];
    snprintf(ck3, sizeof ck3, "%s/ckpt-000003", tt_path("kill"));
    snprintf(ck6, sizeof ck6, "%s/ckpt-000006", tt_path("kill"));
    snprintf(tmp6, sizeof tmp6, "%s/ckpt-000006.tmp", tt_path("kill"));
    snprintf(latest, sizeof latest, "%s/latest", tt_path("kill"));
    for (int round = 0; round < 2; round++) {
        killed_child("kill", round == 0 ? 1 : 4);
        /* the half-written checkpoint never became ckpt-000006 or latest */
        assert_true(exists(tmp6));
        assert_false(exists(ck6));
        char target[64] = "";
        ssize_t n = readlink(latest, target, sizeof target - 1);
        assert_true(n > 0);
        target[n] = '\0';
        assert_string_equal(target, "ckpt-000003");
        train_ckpt c;
        tt_ok(train_ckpt_load(tt_path("kill"), &c), "load after kill");
        assert_int_equal(c.st.step, 3);
        train_ckpt_free(&c);
        clip_model *m = NULL;
        tt_ok(clip_load(latest, &m), "clip_load after kill");
        clip_model_free(m);
    }
    /* the dead child logged steps 4-6 before dying; resuming drops them
     * and logs them again, once */
    run_to("kill", 6, tt_path("kill"));
    assert_true(exists(ck6));
    assert_false(exists(tmp6));
    assert_int_equal(log_lines("kill"), 6);
    train_ckpt c;
    tt_ok(train_ckpt_load(tt_path("kill"), &c), "load the final checkpoint");
    assert_int_equal(c.st.step, 6);
    train_ckpt_free(&c);
    assert_true(exists(ck3));
}

/* ---- corrupt checkpoints ---- */
static void copy(const char *src, const char *dst)
{
    FILE *a = fopen(src, "rb"), *b = fopen(dst, "wb");
    assert_true(a && b);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, a)) > 0)
        assert_int_equal(fwrite(buf, 1, n, b), n);
    fclose(a);
    fclose(b);
}

static const char *const files[] = {"open_clip_config.json", "open_clip_model.safetensors",
                                    "optimizer.safetensors", "trainer_state.json", "vocab.json",
                                    "merges.txt"};

/* A fresh copy of the good checkpoint as dir `name`; returns its path. */
static const char *clone(const char *good, const char *name)
{
    const char *dir = tt_path(name);
    mkdir(dir, 0777);
    char a[700], b[700];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(a, sizeof a, "%s/%s", good, files[i]);
        snprintf(b, sizeof b, "%s/%s", dir, files[i]);
        copy(a, b);
    }
    return dir;
}

static void expect_refused(const char *dir, const char *needle, const char *what)
{
    train_ckpt c;
    int rc = train_ckpt_load(dir, &c);
    printf("  %-34s -> %s\n", what, rc ? cc_last_error() : "(accepted!)");
    assert_int_not_equal(rc, CC_OK);
    assert_non_null(strstr(cc_last_error(), needle));
    /* resuming from it fails the same way, without crashing */
    train_opts o;
    tt_losses l;
    tt_opts(&o, NULL, "corrupt-out", "ref", &l);
    o.resume = dir;
    assert_int_not_equal(train_run(&o), CC_OK);
    assert_int_equal(l.n, 0);
}

static void truncate_file(const char *dir, const char *file, double keep)
{
    char p[700];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    struct stat s;
    assert_int_equal(stat(p, &s), 0);
    assert_int_equal(truncate(p, (off_t)((double)s.st_size * keep)), 0);
}

/* Rewrites the model file without `drop` (NULL: none), with `reshape`'s
 * first dim halved. */
static void rewrite_model(const char *dir, const char *drop, const char *reshape)
{
    char p[700];
    snprintf(p, sizeof p, "%s/open_clip_model.safetensors", dir);
    st_file *f = NULL;
    tt_ok(st_open(p, &f), p);
    size_t n = st_count(f), k = 0;
    st_write_tensor *ts = calloc(n, sizeof *ts);
    int64_t (*shapes)[ST_MAX_DIMS] = calloc(n, sizeof *shapes);
    void **copies = calloc(n, sizeof *copies);
    assert_true(ts && shapes && copies);
    for (size_t i = 0; i < n; i++) {
        const st_tensor *t = st_at(f, i);
        if (drop && strcmp(t->name, drop) == 0)
            continue;
        memcpy(shapes[k], t->shape, sizeof shapes[k]);
        size_t bytes = t->nbytes;
        if (reshape && strcmp(t->name, reshape) == 0) {
            shapes[k][0] /= 2;
            bytes /= 2;
        }
        copies[k] = malloc(bytes ? bytes : 1);
        memcpy(copies[k], t->data, bytes);
        ts[k] = (st_write_tensor){t->name, t->dtype, t->ndim, shapes[k], copies[k]};
        k++;
    }
    /* names stay valid: written before the mapping closes */
    tt_ok(st_write(p, ts, k, NULL, 0), "st_write");
    st_close(f);
    for (size_t i = 0; i < k; i++)
        free(copies[i]);
    free(copies);
    free(shapes);
    free(ts);
}

static void test_corrupt_refused(void **state)
{
    (void)state;
    run_to("good", 2, NULL);
    char good[600];
    snprintf(good, sizeof good, "%s/ckpt-000002", tt_path("good"));
    train_ckpt c;
    tt_ok(train_ckpt_load(good, &c), "the good checkpoint loads");
    train_ckpt_free(&c);

    const char *d = clone(good, "c-trunc-model");
    truncate_file(d, "open_clip_model.safetensors", 0.5);
    expect_refused(d, "open_clip_model.safetensors", "truncated model");

    d = clone(good, "c-trunc-optim");
    truncate_file(d, "optimizer.safetensors", 0.9);
    expect_refused(d, "optimizer.safetensors", "truncated optimizer");

    d = clone(good, "c-json");
    char p[700];
    snprintf(p, sizeof p, "%s/trainer_state.json", d);
    tt_write(p, "{\"format\": 1, \"step\": 2, \"epoch\": ");
    expect_refused(d, "trainer_state.json", "bad trainer_state.json");

    d = clone(good, "c-json-field");
    snprintf(p, sizeof p, "%s/trainer_state.json", d);
    tt_write(p, "{\"format\": 1, \"step\": 2}\n");
    expect_refused(d, "epoch", "trainer_state.json without fields");

    d = clone(good, "c-config");
    snprintf(p, sizeof p, "%s/open_clip_config.json", d);
    tt_write(p, "{\"model_cfg\": [1, 2]}");
    expect_refused(d, "open_clip_config.json", "bad open_clip_config.json");

    d = clone(good, "c-missing");
    rewrite_model(d, "visual.ln_post.weight", NULL);
    expect_refused(d, "missing tensor 'visual.ln_post.weight'", "missing tensor");

    d = clone(good, "c-shape");
    rewrite_model(d, NULL, "text_projection");
    expect_refused(d, "text_projection", "tensor of the wrong shape");

    d = clone(good, "c-step");
    snprintf(p, sizeof p, "%s/trainer_state.json", good);
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    char text[4096];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    char *s = strstr(text, "\"step\":2");
    assert_non_null(s);
    s[7] = '5';
    snprintf(p, sizeof p, "%s/trainer_state.json", d);
    tt_write(p, text);
    expect_refused(d, "disagree", "step disagreeing across files");

    expect_refused(tt_path("vit.json"), "no checkpoint", "not a checkpoint at all");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_killed_mid_checkpoint),
        cmocka_unit_test(test_corrupt_refused),
    };
    return cmocka_run_group_tests(tests, tt_setup, tt_teardown);
}
