/* The evaluations of `clipcl eval` run end to end on a model (eval_ prefix):
 * the sets are opened and their classes resolved, features come from the
 * public API (include/clipcl.h) in chunks, and the scoring is train/eval.h.
 * The caller parses its options into eval_run_opts and prints
 * eval_run_results; this part never prints: warnings go to opts->warn and
 * progress to opts->progress. */
#ifndef CLIPCL_TRAIN_EVAL_RUN_H
#define CLIPCL_TRAIN_EVAL_RUN_H

#include <stdint.h>

#include "clipcl.h"
#include "runtime/progress.h"
#include "train/eval.h"
#include "train/eval_data.h"

enum { EVAL_MAX_SHOTS = 16 };

typedef struct eval_run_opts {
    /* Sets (NULL: that evaluation is not run). probe and few, when both
     * given, name the same training set; test is their test set. */
    const char *zeroshot, *retrieval, *probe, *few, *test;
    const char *classes;     /* class names, one per line (NULL: from the sets) */
    const char *label_key, *img_key, *caption_key; /* CSV columns (NULL: defaults) */
    const char *const *templates; /* zero-shot prompts, "{}" where the class goes */
    int n_templates;
    int shots[EVAL_MAX_SHOTS], n_shots; /* few-shot k values */
    int seeds;                          /* few-shot draws per k */
    uint64_t seed;                      /* validation split and draws */
    ds_warn_fn warn;                    /* skipped rows, cut texts; may be NULL */
    void *warn_user;
    const progress_sink *progress;      /* bars while encoding; NULL: none */
} eval_run_opts;

/* The opened sets, each with its label indices into its class list. */
typedef struct eval_run_sets {
    eval_set zs, train, test;
    eval_captions caps;
    eval_strs zs_classes, probe_classes;
    int32_t *zs_labels, *train_labels, *test_labels;
} eval_run_sets;

typedef struct eval_run_results {
    eval_zs_result zs;
    eval_retrieval_result retr;
    eval_probe_result probe;
    eval_fewshot_result few[EVAL_MAX_SHOTS];
    int n_few;
} eval_run_results;

/* Opens the sets of o (before the model, so a bad CSV fails without loading
 * weights). The class list of a set: o->classes, else the class file a
 * synth-style CSV points to, else the distinct labels. On failure s holds
 * nothing to free beyond what eval_run_sets_free frees. */
int eval_run_sets_open(const eval_run_opts *o, eval_run_sets *s);
void eval_run_sets_free(eval_run_sets *s);

/* Encodes what o asks for with m and scores it into r (zeroed first). Texts
 * first: a missing tokenizer fails before any image is decoded. */
int eval_run(const eval_run_opts *o, const eval_run_sets *s, clipcl_model *m, eval_run_results *r);

#endif
