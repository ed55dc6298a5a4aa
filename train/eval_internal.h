/* Shared by train/eval_probe.c and train/eval_sample.c: features converted
 * once to liblinear's sparse rows, so probes on subsets (validation splits,
 * few-shot draws) only pick row pointers. */
#ifndef CLIPCL_TRAIN_EVAL_INTERNAL_H
#define CLIPCL_TRAIN_EVAL_INTERNAL_H

#include <stdint.h>

#include "train/eval.h"

struct feature_node;

typedef struct eval_rows {
    struct feature_node *space; /* n x (d + 2) nodes */
    struct feature_node **x;    /* row starts */
    int64_t n;
    int d;
} eval_rows;

/* L2-normalised rows of x plus the bias feature. */
int eval_rows_make(const float *x, int64_t n, int d, eval_rows *r);
void eval_rows_free(eval_rows *r);
/* Fits on rows idx[0..m) (idx NULL: rows 0..m). */
int eval_fit_rows(const eval_rows *r, const int32_t *y, const int64_t *idx, int64_t m,
                  int n_classes, double c, eval_probe **out);
/* Top-1 accuracy on rows idx[0..m) (NaN when m == 0). */
double eval_accuracy_rows(const eval_probe *p, const eval_rows *r, const int32_t *y,
                          const int64_t *idx, int64_t m);
int eval_select_c_rows(const eval_rows *tr, const int32_t *ytr, const int64_t *itr, int64_t ntr,
                       const eval_rows *va, const int32_t *yva, const int64_t *iva, int64_t nva,
                       int n_classes, const eval_probe_opts *o, double *best_c,
                       double *best_acc);

#endif
