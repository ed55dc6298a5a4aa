/* The linear probe of train/eval.h: liblinear's L2-regularised logistic
 * regression on frozen, L2-normalised features, with C chosen on a
 * validation split; seeded per-class sampling for the split and for
 * few-shot draws lives in train/eval_sample.c. */
#include "train/eval.h"
#include "train/eval_internal.h"

#include <linear.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/status.h"
#include "runtime/settings.h"

struct eval_probe {
    int d, n_classes;
    unsigned char *present; /* classes seen in training */
    double *w;              /* n_classes x (d + 1), the bias weight last */
};

/* liblinear reports progress through this hook, by default to stdout,
 * which library code must not write. */
static void quiet(const char *s)
{
    (void)s;
}

void eval_rows_free(eval_rows *r)
{
    free(r->space);
    free(r->x);
    memset(r, 0, sizeof *r);
}

int eval_rows_make(const float *x, int64_t n, int d, eval_rows *r)
{
    memset(r, 0, sizeof *r);
    if (!x || n < 1 || d < 1 || n > INT32_MAX || d > INT32_MAX - 2)
        return cc_fail(CC_ERR_INVALID, "linear probe: expected rows >= 1 and features >= 1, "
                                       "found %lld x %d", (long long)n, d);
    /* Each row: d features (1-based indices), the bias feature d + 1 with
     * value 1 (liblinear's -B 1), and the terminator. */
    size_t w = (size_t)d + 2;
    r->space = malloc((size_t)n * w * sizeof *r->space);
    r->x = malloc((size_t)n * sizeof *r->x);
    if (!r->space || !r->x) {
        eval_rows_free(r);
        return cc_fail(CC_ERR_NOMEM, "linear probe: %lld x %d features", (long long)n, d);
    }
    r->n = n;
    r->d = d;
    for (int64_t i = 0; i < n; i++) {
        const float *v = x + (size_t)i * d;
        struct feature_node *f = r->space + (size_t)i * w;
        double s = 0;
        for (int j = 0; j < d; j++)
            s += (double)v[j] * v[j];
        double inv = s > 0 ? 1.0 / sqrt(s) : 0.0;
        for (int j = 0; j < d; j++)
            f[j] = (struct feature_node){j + 1, v[j] * inv};
        f[d] = (struct feature_node){d + 1, 1.0};
        f[d + 1] = (struct feature_node){-1, 0.0};
        r->x[i] = f;
    }
    return CC_OK;
}

/* One binary logistic regression: ys[i] = +1 or -1. Writes the weights of
 * the +1 side (d values, then the bias weight) into w. */
static int fit_binary(const eval_rows *r, struct feature_node **xs, double *ys, int64_t m,
                      double c, double *w)
{
    struct problem prob = {.l = (int)m, .n = r->d + 1, .y = ys, .x = xs, .bias = 1.0};
    /* eps 1e-3 (liblinear's default is 1e-2): a tighter optimum at a small
     * cost, so C comparisons on the validation split are not solver noise. */
    struct parameter par = {.solver_type = L2R_LR, .eps = 1e-3, .C = c};
    const char *bad = check_parameter(&prob, &par);
    if (bad)
        return cc_fail(CC_ERR_INVALID, "linear probe: liblinear refused the problem: %s", bad);
    struct model *mod = train(&prob, &par);
    if (!mod)
        return cc_fail(CC_ERR_NOMEM, "linear probe: liblinear could not train (%lld samples)",
                       (long long)m);
    int li = mod->nr_class == 2 && mod->label[1] == 1 ? 1 : 0;
    for (int j = 0; j < r->d; j++)
        w[j] = get_decfun_coef(mod, j + 1, li);
    w[r->d] = get_decfun_bias(mod, li);
    free_and_destroy_model(&mod);
    return CC_OK;
}

/* One-vs-rest, one class per task, on a few threads: liblinear's own
 * multi-class path solves the same binary problems one after another. */
typedef struct ovr_job {
    const eval_rows *r;
    struct feature_node **xs;
    const int32_t *lab; /* m class ids */
    int64_t m;
    double c;
    eval_probe *p;
    pthread_mutex_t mu;
    int next, rc;
} ovr_job;

static void *ovr_worker(void *arg)
{
    ovr_job *j = arg;
    double *ys = malloc((size_t)j->m * sizeof *ys);
    for (;;) {
        pthread_mutex_lock(&j->mu);
        while (j->next < j->p->n_classes && !j->p->present[j->next])
            j->next++;
        int cls = j->rc == CC_OK && j->next < j->p->n_classes ? j->next++ : -1;
        if (cls >= 0 && !ys)
            j->rc = cc_fail(CC_ERR_NOMEM, "linear probe: %lld labels", (long long)j->m), cls = -1;
        pthread_mutex_unlock(&j->mu);
        if (cls < 0)
            break;
        for (int64_t i = 0; i < j->m; i++)
            ys[i] = j->lab[i] == cls ? 1.0 : -1.0;
        int rc = fit_binary(j->r, j->xs, ys, j->m, j->c,
                            j->p->w + (size_t)cls * (j->r->d + 1));
        if (rc != CC_OK) {
            /* cc_fail's message is per thread: carry it to the caller's. */
            pthread_mutex_lock(&j->mu);
            if (j->rc == CC_OK)
                j->rc = rc;
            pthread_mutex_unlock(&j->mu);
        }
    }
    free(ys);
    return NULL;
}

static int n_threads(int tasks)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    const char *e = rt_setting_value(RT_SET_EVAL_THREADS);
    if (e && atoi(e) > 0)
        n = atoi(e);
    if (n < 1)
        n = 1;
    if (n > 32)
        n = 32;
    return (int)(n < tasks ? n : tasks);
}

static int fit_ovr(const eval_rows *r, struct feature_node **xs, const int32_t *lab, int64_t m,
                   double c, int n_present, eval_probe *p)
{
    ovr_job j = {.r = r, .xs = xs, .lab = lab, .m = m, .c = c, .p = p, .rc = CC_OK};
    pthread_mutex_init(&j.mu, NULL);
    int nt = n_threads(n_present), started = 0;
    pthread_t th[32];
    for (int t = 1; t < nt; t++)
        if (pthread_create(&th[t], NULL, ovr_worker, &j) == 0)
            started = t;
        else
            break;
    ovr_worker(&j);
    for (int t = 1; t <= started; t++)
        pthread_join(th[t], NULL);
    pthread_mutex_destroy(&j.mu);
    if (j.rc != CC_OK)
        return cc_fail((cc_code)j.rc, "linear probe: liblinear failed on a one-vs-rest problem "
                                      "(%lld samples, C %g)", (long long)m, c);
    return CC_OK;
}

int eval_fit_rows(const eval_rows *r, const int32_t *y, const int64_t *idx, int64_t m,
                  int n_classes, double c, eval_probe **out)
{
    *out = NULL;
    if (m < 1 || m > INT32_MAX || n_classes < 1 || !(c > 0))
        return cc_fail(CC_ERR_INVALID, "linear probe: expected samples >= 1, classes >= 1, "
                                       "C > 0, found %lld, %d, %g", (long long)m, n_classes, c);
    eval_probe *p = calloc(1, sizeof *p);
    struct feature_node **xs = malloc((size_t)m * sizeof *xs);
    double *ys = malloc((size_t)m * sizeof *ys);
    int32_t *lab = malloc((size_t)m * sizeof *lab);
    if (p) {
        p->present = calloc((size_t)n_classes, 1);
        p->w = calloc((size_t)n_classes * ((size_t)r->d + 1), sizeof *p->w);
    }
    int rc = CC_OK;
    if (!p || !xs || !ys || !lab || !p->present || !p->w)
        rc = cc_fail(CC_ERR_NOMEM, "linear probe: %lld samples", (long long)m);
    int n_present = 0, first = -1, second = -1;
    for (int64_t i = 0; i < m && rc == CC_OK; i++) {
        int64_t k = idx ? idx[i] : i;
        if (k < 0 || k >= r->n || y[k] < 0 || y[k] >= n_classes) {
            rc = cc_fail(CC_ERR_INVALID, "linear probe: sample %lld has label %d, expected "
                                         "0..%d", (long long)k, k >= 0 && k < r->n ? y[k] : -1,
                         n_classes - 1);
            break;
        }
        xs[i] = r->x[k];
        lab[i] = y[k];
        if (!p->present[y[k]]) {
            n_present++;
            if (first < 0)
                first = y[k];
            else if (second < 0)
                second = y[k];
        }
        p->present[y[k]] = 1;
    }
    if (rc == CC_OK) {
        p->d = r->d;
        p->n_classes = n_classes;
        set_print_string_function(quiet);
    }
    if (rc == CC_OK && n_present == 1) {
        /* Nothing to separate: the one class wins everywhere. */
        p->w[(size_t)first * (r->d + 1) + r->d] = 1;
    } else if (rc == CC_OK && n_present == 2) {
        /* One problem, as liblinear solves two classes: the other class's
         * weights are its negation, so the two decisions are exact mirrors. */
        for (int64_t i = 0; i < m; i++)
            ys[i] = lab[i] == first ? 1.0 : -1.0;
        double *w1 = p->w + (size_t)first * (r->d + 1), *w2 = p->w + (size_t)second * (r->d + 1);
        rc = fit_binary(r, xs, ys, m, c, w1);
        for (int j = 0; rc == CC_OK && j <= r->d; j++)
            w2[j] = -w1[j];
    } else if (rc == CC_OK) {
        rc = fit_ovr(r, xs, lab, m, c, n_present, p);
    }
    free(xs), free(ys), free(lab);
    if (rc != CC_OK) {
        eval_probe_free(p);
        return rc;
    }
    *out = p;
    return CC_OK;
}

/* Argmax of the decision values over the classes seen in training. */
static int32_t decide(const eval_probe *p, const struct feature_node *f)
{
    int32_t best = -1;
    double bv = 0;
    for (int c = 0; c < p->n_classes; c++) {
        if (!p->present[c])
            continue;
        const double *w = p->w + (size_t)c * (p->d + 1);
        double s = 0;
        for (const struct feature_node *q = f; q->index > 0; q++)
            s += w[q->index - 1] * q->value;
        if (best < 0 || s > bv)
            best = c, bv = s;
    }
    return best;
}

double eval_accuracy_rows(const eval_probe *p, const eval_rows *r, const int32_t *y,
                          const int64_t *idx, int64_t m)
{
    int64_t hit = 0;
    for (int64_t i = 0; i < m; i++) {
        int64_t k = idx ? idx[i] : i;
        hit += decide(p, r->x[k]) == y[k];
    }
    return m > 0 ? (double)hit / (double)m : NAN;
}

int eval_probe_fit(const float *x, const int32_t *y, int64_t n, int d, int n_classes, double c,
                   eval_probe **out)
{
    if (!out)
        return cc_fail(CC_ERR_INVALID, "eval_probe_fit: no output");
    *out = NULL;
    if (!y)
        return cc_fail(CC_ERR_INVALID, "eval_probe_fit: no labels");
    eval_rows r;
    int rc = eval_rows_make(x, n, d, &r);
    if (rc == CC_OK)
        rc = eval_fit_rows(&r, y, NULL, n, n_classes, c, out);
    eval_rows_free(&r);
    return rc;
}

int eval_probe_predict(const eval_probe *p, const float *x, int64_t n, int32_t *pred)
{
    if (!p || !pred)
        return cc_fail(CC_ERR_INVALID, "eval_probe_predict: no probe or output");
    eval_rows r;
    int rc = eval_rows_make(x, n, p->d, &r);
    for (int64_t i = 0; rc == CC_OK && i < n; i++)
        pred[i] = decide(p, r.x[i]);
    eval_rows_free(&r);
    return rc;
}

int eval_probe_weights(const eval_probe *p, int cls, double *w, double *bias)
{
    if (!p || cls < 0 || cls >= p->n_classes || !p->present[cls])
        return cc_fail(CC_ERR_INVALID, "eval_probe_weights: class %d was not trained", cls);
    const double *s = p->w + (size_t)cls * (p->d + 1);
    if (w)
        memcpy(w, s, (size_t)p->d * sizeof *w);
    if (bias)
        *bias = s[p->d];
    return CC_OK;
}

void eval_probe_free(eval_probe *p)
{
    if (!p)
        return;
    free(p->present);
    free(p->w);
    free(p);
}

/* Scores one C; updates the best (ties: the smaller C). */
static int try_c(const eval_rows *tr, const int32_t *ytr, const int64_t *itr, int64_t ntr,
                 const eval_rows *va, const int32_t *yva, const int64_t *iva, int64_t nva,
                 int n_classes, double c, double *best_c, double *best_acc)
{
    eval_probe *p = NULL;
    int rc = eval_fit_rows(tr, ytr, itr, ntr, n_classes, c, &p);
    if (rc != CC_OK)
        return rc;
    double acc = eval_accuracy_rows(p, va, yva, iva, nva);
    eval_probe_free(p);
    if (*best_acc < 0 || acc > *best_acc || (acc == *best_acc && c < *best_c)) {
        *best_acc = acc;
        *best_c = c;
    }
    return CC_OK;
}

int eval_select_c_rows(const eval_rows *tr, const int32_t *ytr, const int64_t *itr, int64_t ntr,
                       const eval_rows *va, const int32_t *yva, const int64_t *iva, int64_t nva,
                       int n_classes, const eval_probe_opts *o, double *best_c,
                       double *best_acc)
{
    int lo = o && (o->log10_lo || o->log10_hi) ? o->log10_lo : -3;
    int hi = o && (o->log10_lo || o->log10_hi) ? o->log10_hi : 3;
    int refine = !(o && o->refine < 0);
    if (lo > hi)
        return cc_fail(CC_ERR_INVALID, "linear probe: C grid 1e%d..1e%d is empty", lo, hi);
    *best_c = pow(10.0, 0.5 * (lo + hi));
    *best_acc = -1;
    if (nva < 1) {
        /* Nothing to validate on: the grid's geometric middle (C = 1 by
         * default), reported with an undefined validation accuracy. */
        *best_acc = NAN;
        return CC_OK;
    }
    int rc = CC_OK;
    for (int e = lo; e <= hi && rc == CC_OK; e++)
        rc = try_c(tr, ytr, itr, ntr, va, yva, iva, nva, n_classes, pow(10.0, e), best_c,
                   best_acc);
    if (rc != CC_OK || !refine)
        return rc;
    /* Refinement: quarter decades within half a decade of the coarse best,
     * inside the grid's range (so C stays in 10^lo..10^hi). */
    double e0 = log10(*best_c);
    static const double steps[] = {-0.5, -0.25, 0.25, 0.5};
    for (int s = 0; s < 4 && rc == CC_OK; s++)
        if (e0 + steps[s] > lo - 1e-9 && e0 + steps[s] < hi + 1e-9)
            rc = try_c(tr, ytr, itr, ntr, va, yva, iva, nva, n_classes,
                       pow(10.0, e0 + steps[s]), best_c, best_acc);
    return rc;
}

int eval_probe_select_c(const float *xtr, const int32_t *ytr, int64_t ntr, const float *xva,
                        const int32_t *yva, int64_t nva, int d, int n_classes,
                        const eval_probe_opts *o, double *best_c, double *best_acc)
{
    if (!ytr || !yva || !best_c || !best_acc)
        return cc_fail(CC_ERR_INVALID, "eval_probe_select_c: missing labels or outputs");
    eval_rows tr, va;
    int rc = eval_rows_make(xtr, ntr, d, &tr);
    if (rc != CC_OK)
        return rc;
    rc = eval_rows_make(xva, nva, d, &va);
    if (rc == CC_OK)
        rc = eval_select_c_rows(&tr, ytr, NULL, ntr, &va, yva, NULL, nva, n_classes, o, best_c,
                                best_acc);
    eval_rows_free(&tr);
    eval_rows_free(&va);
    return rc;
}
