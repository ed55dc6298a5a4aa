/* Reference elementwise ops: unary maps and numpy-broadcasting binary ops. */
#include <math.h>

#include "backends/ref/ref_ops.h"

/* Strides of operand t seen through the output's shape: right-aligned, 0 on
 * a size-1 (broadcast) dim or a dim the operand lacks. */
static int bcast_strides(const g_tensor *t, const g_tensor *out, int64_t *st)
{
    int off = out->ndim - t->ndim;
    if (off < 0)
        return cc_fail(CC_ERR_SHAPE, "broadcast: operand '%s' has %d dims, output '%s' only %d",
                       t->name, t->ndim, out->name, out->ndim);
    int64_t s = 1;
    for (int i = out->ndim - 1; i >= 0; i--) {
        int k = i - off;
        if (k < 0) {
            st[i] = 0;
            continue;
        }
        if (t->shape[k] == out->shape[i])
            st[i] = t->shape[k] == 1 ? 0 : s;
        else if (t->shape[k] == 1)
            st[i] = 0;
        else
            return cc_fail(CC_ERR_SHAPE, "broadcast: operand '%s' dim %d is %lld, output '%s' has %lld",
                           t->name, k, (long long)t->shape[k], out->name, (long long)out->shape[i]);
        s *= t->shape[k];
    }
    return CC_OK;
}

typedef double (*binary_fn)(double x, double y);
typedef double (*unary_fn)(const g_attr *attr, double x);

static int binary(const graph *g, const g_node *n, void **data, binary_fn f)
{
    const g_tensor *ta = ref_t(g, n->in[0]), *tb = ref_t(g, n->in[1]), *to = ref_t(g, n->out);
    int64_t sa[G_MAX_DIMS], sb[G_MAX_DIMS], idx[G_MAX_DIMS] = {0};
    int rc = bcast_strides(ta, to, sa);
    if (!rc)
        rc = bcast_strides(tb, to, sb);
    if (rc)
        return rc;
    const float *a = data[n->in[0]], *b = data[n->in[1]];
    float *o = data[n->out];
    int64_t total = ref_numel(to), ia = 0, ib = 0;
    for (int64_t e = 0; e < total; e++) {
        o[e] = (float)f(a[ia], b[ib]);
        /* odometer over the output's coordinates, updating both offsets */
        for (int d = to->ndim - 1; d >= 0; d--) {
            ia += sa[d];
            ib += sb[d];
            if (++idx[d] < to->shape[d])
                break;
            ia -= sa[d] * to->shape[d];
            ib -= sb[d] * to->shape[d];
            idx[d] = 0;
        }
    }
    return CC_OK;
}

static int unary(const graph *g, const g_node *n, void **data, unary_fn f)
{
    const g_tensor *tx = ref_t(g, n->in[0]), *to = ref_t(g, n->out);
    int64_t total = ref_numel(to);
    if (ref_numel(tx) != total)
        return cc_fail(CC_ERR_SHAPE, "%s: input '%s' has %lld elements, output '%s' %lld",
                       g_op_name(n->op), tx->name, (long long)ref_numel(tx), to->name, (long long)total);
    const float *x = data[n->in[0]];
    float *o = data[n->out];
    for (int64_t e = 0; e < total; e++)
        o[e] = (float)f(&n->attr, x[e]);
    return CC_OK;
}

/* The scalar math of each op, in double: the per-op entry points below pair
 * one of these with the shared loop. */
static double add_v(double x, double y) { return x + y; }
static double sub_v(double x, double y) { return x - y; }
static double mul_v(double x, double y) { return x * y; }
static double div_v(double x, double y) { return x / y; }
static double scale_v(const g_attr *a, double x) { return (double)a->alpha * x; }
static double gelu_v(const g_attr *a, double x) { (void)a; return 0.5 * x * (1.0 + erf(x / sqrt(2.0))); }
static double quickgelu_v(const g_attr *a, double x) { (void)a; return x / (1.0 + exp(-1.702 * x)); }
static double relu_v(const g_attr *a, double x) { (void)a; return x > 0.0 ? x : 0.0; }
static double sigmoid_v(const g_attr *a, double x) { (void)a; return 1.0 / (1.0 + exp(-x)); }
static double exp_v(const g_attr *a, double x) { (void)a; return exp(x); }
static double silu_v(const g_attr *a, double x) { (void)a; return x / (1.0 + exp(-x)); }

int ref_add(const graph *g, const g_node *n, void **data) { return binary(g, n, data, add_v); }
int ref_sub(const graph *g, const g_node *n, void **data) { return binary(g, n, data, sub_v); }
int ref_mul(const graph *g, const g_node *n, void **data) { return binary(g, n, data, mul_v); }
int ref_div(const graph *g, const g_node *n, void **data) { return binary(g, n, data, div_v); }
int ref_scale(const graph *g, const g_node *n, void **data) { return unary(g, n, data, scale_v); }
int ref_gelu(const graph *g, const g_node *n, void **data) { return unary(g, n, data, gelu_v); }
int ref_quickgelu(const graph *g, const g_node *n, void **data) { return unary(g, n, data, quickgelu_v); }
int ref_relu(const graph *g, const g_node *n, void **data) { return unary(g, n, data, relu_v); }
int ref_sigmoid(const graph *g, const g_node *n, void **data) { return unary(g, n, data, sigmoid_v); }
int ref_exp(const graph *g, const g_node *n, void **data) { return unary(g, n, data, exp_v); }
int ref_silu(const graph *g, const g_node *n, void **data) { return unary(g, n, data, silu_v); }
