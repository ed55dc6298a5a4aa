/* clipcl eval: the CLIP paper's evaluations of a model — zero-shot
 * classification with prompt ensembling, image<->text retrieval, a linear
 * probe and few-shot probes on frozen image features. This file parses the
 * options and prints the results; the run itself is train/eval_run.h. */
#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/cmd.h"
#include "tools/cmd_clip.h"
#include "tools/cmd_progress.h"
#include "train/eval_run.h"

#define DEFAULT_TEMPLATE "a photo of a {}."

const char cmd_eval_usage[] =
    "usage: clipcl eval --model MODEL [--zeroshot SET [--template T]... [--templates FILE]]\n"
    "                   [--retrieval CSV] [--linear-probe TRAIN_SET] [--few-shot TRAIN_SET]\n"
    "                   [--probe-test TEST_SET] [options] [--json]\n\n"
    "Evaluates a CLIP model as the CLIP paper does; any combination of:\n"
    "  --zeroshot SET        zero-shot top-1/top-5 accuracy: each class's text\n"
    "                        embedding is the renormalised mean of its normalised\n"
    "                        prompt embeddings (one per template)\n"
    "  --retrieval CSV       image->text and text->image recall@1/5/10; rows with\n"
    "                        the same image path are that image's captions\n"
    "  --linear-probe TRAIN  L2-regularised logistic regression (liblinear) on the\n"
    "                        frozen, normalised image features of TRAIN, C chosen\n"
    "                        on a stratified 20% validation split from the grid\n"
    "                        1e-3..1e3 (decades, then quarter decades around the\n"
    "                        best), refit on all of TRAIN, scored on --probe-test\n"
    "  --few-shot TRAIN      k per class drawn from TRAIN (k from --shots), C chosen\n"
    "                        on a disjoint draw of min(k,4) per class, scored on\n"
    "                        --probe-test, averaged over --seeds draws\n"
    "  --probe-test SET      the test set of both probes\n\n"
    "A SET is a folder with one sub-folder of images per class (the folder name\n"
    "is the class, '_' read as a space) or a CSV/TSV with an image column and a\n"
    "label column. Labels that are all integers index a class list: --classes, or\n"
    "for a column class_X the classes_X.txt beside the CSV (the layout `clipcl\n"
    "synth` writes, so its CSVs work as they are); otherwise labels are class names.\n\n"
    "  --model MODEL         a model directory (weights + tokenizer files)\n"
    "  --template T          a prompt with {} for the class name; repeat to\n"
    "                        ensemble (default \"" DEFAULT_TEMPLATE "\")\n"
    "  --templates FILE      more templates, one per line\n"
    "  --classes FILE        class names, one per line (the zero-shot candidates:\n"
    "                        classes absent from SET still compete)\n"
    "  --label-key COL       CSV label column (default: the first of label, class,\n"
    "                        class_pair)\n"
    "  --img-key COL         CSV image column (default filepath)\n"
    "  --caption-key COL     retrieval CSV caption column (default title)\n"
    "  --shots LIST          few-shot k values (default 1,2,4,8,16)\n"
    "  --seeds N             few-shot draws per k (default 3)\n"
    "  --seed S              seed of the validation split and draws (default 0)\n"
    "  --json                one JSON document instead of the table\n"
    "  --batch N, --device D, --dtype T, --vocab FILE, --allow-unused\n"
    "                        as for embed-image\n";

typedef struct ev_args {
    cmd_model_opts mo;
    const char *zs, *retr, *probe, *few, *test;
    const char *classes, *label_key, *img_key, *caption_key;
    cmd_strings templates;
    int json, seeds;
    uint64_t seed;
    int shots[EVAL_MAX_SHOTS], n_shots;
} ev_args;

static int parse_int(const char *cmd, const char *opt, const char *v, long lo, long hi, long *out)
{
    char *end = NULL;
    errno = 0;
    long k = strtol(v, &end, 10);
    if (!*v || *end || errno || k < lo || k > hi)
        return cmd_usage_error(cmd, "%s \"%s\": expected an integer from %ld to %ld", opt, v,
                               lo, hi);
    *out = k;
    return 0;
}

static int parse_shots(const char *cmd, const char *v, ev_args *a)
{
    a->n_shots = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", v);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        long k = 0;
        if (a->n_shots == EVAL_MAX_SHOTS)
            return cmd_usage_error(cmd, "--shots \"%s\": at most %d values", v, EVAL_MAX_SHOTS);
        if (parse_int(cmd, "--shots", t, 1, 100000, &k))
            return 2;
        a->shots[a->n_shots++] = (int)k;
    }
    return a->n_shots ? 0 : cmd_usage_error(cmd, "--shots \"%s\": no values", v);
}

static int add_template(const char *cmd, ev_args *a, const char *t)
{
    if (!strstr(t, "{}"))
        return cmd_usage_error(cmd, "template \"%s\": expected {} where the class goes", t);
    return cmd_strings_push(&a->templates, t, strlen(t));
}

static int parse(int argc, char **argv, ev_args *a)
{
    memset(a, 0, sizeof *a);
    a->seeds = 3;
    for (int k = 0; k < EVAL_N_SHOTS; k++)
        a->shots[a->n_shots++] = eval_shots[k];
    const char *cmd = argv[0];
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i], *v = NULL;
        if (strcmp(s, "--json") == 0) {
            a->json = 1;
            continue;
        }
        int r = cmd_model_option(argc, argv, &i, &a->mo);
        if (r == 2)
            return 2;
        if (r == 1)
            continue;
        static const char *const str_opts[] = {
            "--zeroshot", "--retrieval", "--linear-probe", "--few-shot", "--probe-test",
            "--classes", "--label-key", "--img-key", "--caption-key"};
        const char **dst[] = {&a->zs, &a->retr, &a->probe, &a->few, &a->test,
                              &a->classes, &a->label_key, &a->img_key, &a->caption_key};
        int done = 0;
        for (size_t o = 0; o < sizeof str_opts / sizeof str_opts[0] && !done; o++)
            if ((r = cmd_option_value(argc, argv, &i, str_opts[o], &v)) != 0) {
                if (r < 0)
                    return 2;
                *dst[o] = v;
                done = 1;
            }
        if (done)
            continue;
        long k = 0;
        if ((r = cmd_option_value(argc, argv, &i, "--template", &v)) != 0) {
            if (r < 0 || add_template(cmd, a, v))
                return 2;
        } else if ((r = cmd_option_value(argc, argv, &i, "--templates", &v)) != 0) {
            cmd_strings t = {0};
            if (r < 0)
                return 2;
            if (cmd_strings_read_lines("--templates", v, &t))
                return 1;
            for (int j = 0; j < t.n && r >= 0; j++)
                if (t.v[j][0] && add_template(cmd, a, t.v[j]))
                    r = -1;
            cmd_strings_free(&t);
            if (r < 0)
                return 2;
        } else if ((r = cmd_option_value(argc, argv, &i, "--shots", &v)) != 0) {
            if (r < 0 || parse_shots(cmd, v, a))
                return 2;
        } else if ((r = cmd_option_value(argc, argv, &i, "--seeds", &v)) != 0) {
            if (r < 0 || parse_int(cmd, "--seeds", v, 1, 1000, &k))
                return 2;
            a->seeds = (int)k;
        } else if ((r = cmd_option_value(argc, argv, &i, "--seed", &v)) != 0) {
            if (r < 0 || parse_int(cmd, "--seed", v, 0, 2147483647L, &k))
                return 2;
            a->seed = (uint64_t)k;
        } else {
            return cmd_usage_error(cmd, "unknown argument \"%s\"", s);
        }
    }
    if (!a->mo.model)
        return cmd_usage_error(cmd, "--model MODEL is required");
    if (!a->zs && !a->retr && !a->probe && !a->few)
        return cmd_usage_error(cmd, "nothing to evaluate: give --zeroshot, --retrieval, "
                                    "--linear-probe or --few-shot");
    if ((a->probe || a->few) && !a->test)
        return cmd_usage_error(cmd, "--linear-probe and --few-shot need --probe-test SET");
    if (a->test && !a->probe && !a->few)
        return cmd_usage_error(cmd, "--probe-test needs --linear-probe or --few-shot");
    if (a->probe && a->few && strcmp(a->probe, a->few) != 0)
        return cmd_usage_error(cmd, "--linear-probe and --few-shot name different training "
                                    "sets (%s, %s): the probes share one", a->probe, a->few);
    if (a->templates.n == 0 && cmd_strings_push(&a->templates, DEFAULT_TEMPLATE,
                                                strlen(DEFAULT_TEMPLATE)))
        return 1;
    return 0;
}

/* ---- the run (train/eval_run.h) ---- */

static void warn_line(void *user, const char *msg)
{
    (void)user;
    fprintf(stderr, "clipcl: warning: %s\n", msg);
}

static void run_opts(const ev_args *a, eval_run_opts *o)
{
    memset(o, 0, sizeof *o);
    o->zeroshot = a->zs;
    o->retrieval = a->retr;
    o->probe = a->probe;
    o->few = a->few;
    o->test = a->test;
    o->classes = a->classes;
    o->label_key = a->label_key;
    o->img_key = a->img_key;
    o->caption_key = a->caption_key;
    o->templates = (const char *const *)a->templates.v;
    o->n_templates = a->templates.n;
    memcpy(o->shots, a->shots, sizeof o->shots);
    o->n_shots = a->n_shots;
    o->seeds = a->seeds;
    o->seed = a->seed;
    o->warn = warn_line;
    o->progress = cmd_progress_sink();
}

/* ---- results ---- */

static double pct(double x)
{
    return 100.0 * x;
}

static void print_table(const ev_args *a, const eval_run_sets *s, const eval_run_results *r)
{
    if (a->zs) {
        double nc = (double)s->zs_classes.n;
        printf("zero-shot     %s: %lld images, %lld classes, %d template%s\n", a->zs,
               (long long)r->zs.n, (long long)s->zs_classes.n, a->templates.n,
               a->templates.n == 1 ? "" : "s");
        printf("  top-1 %6.2f%%  top-5 %6.2f%%  mean per class %6.2f%%  (chance %.2f%% / "
               "%.2f%%)\n", pct(r->zs.acc1), pct(r->zs.acc5), pct(r->zs.mean_per_class),
               pct(1 / nc), pct((nc < 5 ? nc : 5) / nc));
    }
    if (a->retr) {
        printf("retrieval     %s: %lld images, %lld texts\n", a->retr,
               (long long)r->retr.n_images, (long long)r->retr.n_texts);
        printf("  image->text  R@1 %6.2f%%  R@5 %6.2f%%  R@10 %6.2f%%\n", pct(r->retr.i2t[0]),
               pct(r->retr.i2t[1]), pct(r->retr.i2t[2]));
        printf("  text->image  R@1 %6.2f%%  R@5 %6.2f%%  R@10 %6.2f%%\n", pct(r->retr.t2i[0]),
               pct(r->retr.t2i[1]), pct(r->retr.t2i[2]));
    }
    double chance = s->probe_classes.n ? 1.0 / (double)s->probe_classes.n : 0;
    if (a->probe) {
        printf("linear probe  %s (%lld) -> %s (%lld), %lld classes\n", a->probe,
               (long long)s->train.paths.n, a->test, (long long)r->probe.n_test,
               (long long)s->probe_classes.n);
        printf("  top-1 %6.2f%%  C %.4g (validation %.2f%% on %lld, fit on %lld)  (chance "
               "%.2f%%)\n", pct(r->probe.test_acc), r->probe.c, pct(r->probe.val_acc),
               (long long)r->probe.n_val, (long long)r->probe.n_fit, pct(chance));
    }
    if (r->n_few) {
        printf("few-shot      %s -> %s, %d seed%s per k (chance %.2f%%)\n", a->few, a->test,
               a->seeds, a->seeds == 1 ? "" : "s", pct(chance));
        printf("  %5s  %8s  %7s  %9s\n", "k", "top-1", "+-std", "C (geo)");
        for (int i = 0; i < r->n_few; i++)
            printf("  %5d  %7.2f%%  %6.2f%%  %9.4g\n", r->few[i].k, pct(r->few[i].mean_acc),
                   pct(r->few[i].std_acc), r->few[i].mean_c);
    }
}

/* The shorter of %.15g / %.17g that reads back as x: 0.05, not
 * 0.050000000000000003 (json-c's default), with no value changed. */
static json_object *jnum(double x)
{
    if (!isfinite(x))
        return NULL;
    char b[32];
    snprintf(b, sizeof b, "%.15g", x);
    if (strtod(b, NULL) != x)
        snprintf(b, sizeof b, "%.17g", x);
    if (!strpbrk(b, ".e")) /* stays a float for readers that care: 0.0, not 0 */
        strcat(b, ".0");
    return json_object_new_double_s(x, b);
}

static json_object *jrecall(const double *v)
{
    json_object *o = json_object_new_object();
    for (int k = 0; k < EVAL_N_RECALL; k++) {
        char key[16];
        snprintf(key, sizeof key, "R@%d", eval_recall_ks[k]);
        json_object_object_add(o, key, jnum(v[k]));
    }
    return o;
}

static void print_json(const ev_args *a, const eval_run_sets *s, const eval_run_results *r)
{
    json_object *root = json_object_new_object();
    json_object_object_add(root, "model", json_object_new_string(a->mo.model));
    if (a->zs) {
        json_object *z = json_object_new_object(), *t = json_object_new_array();
        json_object_object_add(z, "set", json_object_new_string(a->zs));
        json_object_object_add(z, "images", json_object_new_int64(r->zs.n));
        json_object_object_add(z, "classes", json_object_new_int64(s->zs_classes.n));
        for (int i = 0; i < a->templates.n; i++)
            json_object_array_add(t, json_object_new_string(a->templates.v[i]));
        json_object_object_add(z, "templates", t);
        json_object_object_add(z, "top1", jnum(r->zs.acc1));
        json_object_object_add(z, "top5", jnum(r->zs.acc5));
        json_object_object_add(z, "mean_per_class", jnum(r->zs.mean_per_class));
        json_object_object_add(z, "chance_top1", jnum(1.0 / (double)s->zs_classes.n));
        json_object_object_add(root, "zeroshot", z);
    }
    if (a->retr) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "set", json_object_new_string(a->retr));
        json_object_object_add(o, "images", json_object_new_int64(r->retr.n_images));
        json_object_object_add(o, "texts", json_object_new_int64(r->retr.n_texts));
        json_object_object_add(o, "image_to_text", jrecall(r->retr.i2t));
        json_object_object_add(o, "text_to_image", jrecall(r->retr.t2i));
        json_object_object_add(root, "retrieval", o);
    }
    double chance = s->probe_classes.n ? 1.0 / (double)s->probe_classes.n : 0;
    if (a->probe) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "train", json_object_new_string(a->probe));
        json_object_object_add(o, "test", json_object_new_string(a->test));
        json_object_object_add(o, "classes", json_object_new_int64(s->probe_classes.n));
        json_object_object_add(o, "C", jnum(r->probe.c));
        json_object_object_add(o, "val_top1", jnum(r->probe.val_acc));
        json_object_object_add(o, "n_fit", json_object_new_int64(r->probe.n_fit));
        json_object_object_add(o, "n_val", json_object_new_int64(r->probe.n_val));
        json_object_object_add(o, "n_test", json_object_new_int64(r->probe.n_test));
        json_object_object_add(o, "top1", jnum(r->probe.test_acc));
        json_object_object_add(o, "chance_top1", jnum(chance));
        json_object_object_add(root, "linear_probe", o);
    }
    if (r->n_few) {
        json_object *o = json_object_new_object(), *arr = json_object_new_array();
        json_object_object_add(o, "train", json_object_new_string(a->few));
        json_object_object_add(o, "test", json_object_new_string(a->test));
        json_object_object_add(o, "seeds", json_object_new_int(a->seeds));
        json_object_object_add(o, "chance_top1", jnum(chance));
        for (int i = 0; i < r->n_few; i++) {
            json_object *e = json_object_new_object();
            json_object_object_add(e, "k", json_object_new_int(r->few[i].k));
            json_object_object_add(e, "top1_mean", jnum(r->few[i].mean_acc));
            json_object_object_add(e, "top1_std", jnum(r->few[i].std_acc));
            json_object_object_add(e, "C_geomean", jnum(r->few[i].mean_c));
            json_object_array_add(arr, e);
        }
        json_object_object_add(o, "shots", arr);
        json_object_object_add(root, "few_shot", o);
    }
    printf("%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
                                                            JSON_C_TO_STRING_SPACED |
                                                            JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(root);
}

int cmd_eval(int argc, char **argv)
{
    ev_args a;
    int rc = parse(argc, argv, &a);
    eval_run_opts o;
    run_opts(&a, &o);
    eval_run_sets s;
    memset(&s, 0, sizeof s);
    /* Sets before the model: a bad CSV fails without loading weights. */
    if (!rc && eval_run_sets_open(&o, &s))
        rc = cmd_lib_error(1);
    clipcl_model *m = NULL;
    if (!rc)
        rc = cmd_model_open(&a.mo, &m);
    eval_run_results r;
    memset(&r, 0, sizeof r);
    if (!rc && eval_run(&o, &s, m, &r))
        rc = cmd_lib_error(1);
    if (!rc) {
        if (a.json)
            print_json(&a, &s, &r);
        else
            print_table(&a, &s, &r);
    }
    clipcl_free(m);
    eval_run_sets_free(&s);
    cmd_strings_free(&a.templates);
    return rc;
}
