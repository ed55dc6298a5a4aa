/* Reference elementwise backward/loss ops: log, the activation derivatives
 * (gelu, quickgelu, relu, sigmoid) and the broadcast pair sum_to /
 * broadcast_to, which are each other's adjoints. Derivatives follow PyTorch
 * autograd exactly (relu'(0) = 0, gelu in its erf form). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/ref/ref_ops.h"

/* Strides of the small tensor s seen through the big tensor b's shape:
 * right-aligned, 0 on a dim s lacks or has as 1 (numpy broadcasting). */
static int small_strides(const g_node *n, const g_tensor *s, const g_tensor *b, int64_t *st)
{
    int off = b->ndim - s->ndim;
    if (off < 0)
        return cc_fail(CC_ERR_SHAPE, "%s: '%s' has %d dims, more than '%s' (%d)", g_op_name(n->op),
                       s->name, s->ndim, b->name, b->ndim);
    int64_t acc = 1;
    for (int i = b->ndim - 1; i >= 0; i--) {
        int k = i - off;
        if (k < 0 || s->shape[k] == 1) {
            st[i] = 0;
            continue;
        }
        if (s->shape[k] != b->shape[i])
            return cc_fail(CC_ERR_SHAPE, "%s: '%s' dim %d is %lld, does not broadcast to '%s' dim %d (%lld)",
                           g_op_name(n->op), s->name, k, (long long)s->shape[k], b->name, i,
                           (long long)b->shape[i]);
        st[i] = acc;
        acc *= s->shape[k];
    }
    return CC_OK;
}

/* Advances the odometer idx over shape b, moving off by the strides st. */
static void step_odometer(const g_tensor *b, const int64_t *st, int64_t *idx, int64_t *off)
{
    for (int d = b->ndim - 1; d >= 0; d--) {
        *off += st[d];
        if (++idx[d] < b->shape[d])
            return;
        *off -= st[d] * b->shape[d];
        idx[d] = 0;
    }
}

int ref_sum_to(const graph *g, const g_node *n, void **data)
{
    const g_tensor *tx = ref_t(g, n->in[0]), *to = ref_t(g, n->out);
    int64_t st[G_MAX_DIMS], idx[G_MAX_DIMS] = {0}, off = 0;
    int rc = small_strides(n, to, tx, st);
    if (rc)
        return rc;
    int64_t total = ref_numel(tx), m = ref_numel(to);
    double *acc = calloc((size_t)(m > 0 ? m : 1), sizeof *acc);
    if (!acc)
        return cc_fail(CC_ERR_NOMEM, "sum_to: %lld accumulators for '%s'", (long long)m, to->name);
    const float *x = data[n->in[0]];
    for (int64_t e = 0; e < total; e++) {
        acc[off] += x[e];
        step_odometer(tx, st, idx, &off);
    }
    float *o = data[n->out];
    for (int64_t i = 0; i < m; i++)
        o[i] = (float)acc[i];
    free(acc);
    return CC_OK;
}

/* Moves 4-byte elements without looking at them, so i32 works too. */
int ref_broadcast_to(const graph *g, const g_node *n, void **data)
{
    const g_tensor *tx = ref_t(g, n->in[0]), *to = ref_t(g, n->out);
    int64_t st[G_MAX_DIMS], idx[G_MAX_DIMS] = {0}, off = 0;
    int rc = small_strides(n, tx, to, st);
    if (rc)
        return rc;
    const int32_t *x = data[n->in[0]];
    int32_t *o = data[n->out];
    int64_t total = ref_numel(to);
    for (int64_t e = 0; e < total; e++) {
        o[e] = x[off];
        step_odometer(to, st, idx, &off);
    }
    return CC_OK;
}

/* d/dx of each forward activation at x (for sigmoid: at its output y). */
static double gelu_d(double x)
{
    double cdf = 0.5 * (1.0 + erf(x / sqrt(2.0)));
    double pdf = exp(-0.5 * x * x) / sqrt(2.0 * M_PI);
    return cdf + x * pdf;
}
static double quickgelu_d(double x)
{
    double s = 1.0 / (1.0 + exp(-1.702 * x));
    return s + 1.702 * x * s * (1.0 - s);
}
static double relu_d(double x) { return x > 0.0 ? 1.0 : 0.0; }
static double sigmoid_d(double y) { return y * (1.0 - y); }

static int same_count(const g_node *n, const g_tensor *a, const g_tensor *o)
{
    if (ref_numel(a) != ref_numel(o))
        return cc_fail(CC_ERR_SHAPE, "%s: input '%s' has %lld elements, output '%s' %lld",
                       g_op_name(n->op), a->name, (long long)ref_numel(a), o->name, (long long)ref_numel(o));
    return CC_OK;
}

static int activation_grad(const graph *g, const g_node *n, void **data, double (*deriv)(double))
{
    const g_tensor *to = ref_t(g, n->out);
    if (n->n_in < 2)
        return cc_fail(CC_ERR_INVALID, "%s: needs 2 inputs (x or y, dy), has %d", g_op_name(n->op), n->n_in);
    if (same_count(n, ref_t(g, n->in[0]), to) || same_count(n, ref_t(g, n->in[1]), to))
        return CC_ERR_SHAPE;
    const float *x = data[n->in[0]], *dy = data[n->in[1]];
    float *o = data[n->out];
    int64_t total = ref_numel(to);
    for (int64_t e = 0; e < total; e++)
        o[e] = (float)((double)dy[e] * deriv(x[e]));
    return CC_OK;
}

int ref_log(const graph *g, const g_node *n, void **data)
{
    const g_tensor *to = ref_t(g, n->out);
    if (same_count(n, ref_t(g, n->in[0]), to))
        return CC_ERR_SHAPE;
    const float *x = data[n->in[0]];
    float *o = data[n->out];
    int64_t total = ref_numel(to);
    for (int64_t e = 0; e < total; e++)
        o[e] = (float)log((double)x[e]);
    return CC_OK;
}

int ref_gelu_grad(const graph *g, const g_node *n, void **data) { return activation_grad(g, n, data, gelu_d); }
int ref_quickgelu_grad(const graph *g, const g_node *n, void **data) { return activation_grad(g, n, data, quickgelu_d); }
int ref_relu_grad(const graph *g, const g_node *n, void **data) { return activation_grad(g, n, data, relu_d); }
int ref_sigmoid_grad(const graph *g, const g_node *n, void **data) { return activation_grad(g, n, data, sigmoid_d); }
