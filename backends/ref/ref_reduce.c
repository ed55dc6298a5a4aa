/* Reference reductions over the last dim: sum, mean, max, argmax (i32). */
#include <math.h>

#include "backends/ref/ref_ops.h"

static int check_rows(const graph *g, const g_node *n, int need_nonempty)
{
    const g_tensor *tx = ref_t(g, n->in[0]), *to = ref_t(g, n->out);
    int64_t D = ref_last_dim(tx), R = ref_rows(tx);
    if (ref_numel(to) != R)
        return cc_fail(CC_ERR_SHAPE, "%s: input '%s' has %lld rows, output '%s' %lld elements",
                       g_op_name(n->op), tx->name, (long long)R, to->name, (long long)ref_numel(to));
    if (need_nonempty && D < 1)
        return cc_fail(CC_ERR_SHAPE, "%s: '%s' has an empty last dim", g_op_name(n->op), tx->name);
    return CC_OK;
}

/* Row sums, divided by the row length when mean. */
static int sum_rows(const graph *g, const g_node *n, void **data, int mean)
{
    int rc = check_rows(g, n, 0);
    if (rc)
        return rc;
    const g_tensor *tx = ref_t(g, n->in[0]);
    int64_t D = ref_last_dim(tx), R = ref_rows(tx);
    const float *x = data[n->in[0]];
    for (int64_t r = 0; r < R; r++) {
        const float *xr = x + r * D;
        double s = 0.0;
        for (int64_t j = 0; j < D; j++)
            s += xr[j];
        ((float *)data[n->out])[r] = (float)(mean ? s / (double)D : s);
    }
    return CC_OK;
}

/* max and argmax: first maximal index; a NaN wins, as in PyTorch. Writes the
 * value (f32) or, when want_index, the index (i32). */
static int max_rows(const graph *g, const g_node *n, void **data, int want_index)
{
    int rc = check_rows(g, n, 1);
    if (rc)
        return rc;
    const g_tensor *tx = ref_t(g, n->in[0]);
    int64_t D = ref_last_dim(tx), R = ref_rows(tx);
    const float *x = data[n->in[0]];
    for (int64_t r = 0; r < R; r++) {
        const float *xr = x + r * D;
        int64_t best = 0;
        for (int64_t j = 1; j < D && !isnan(xr[best]); j++)
            if (isnan(xr[j]) || xr[j] > xr[best])
                best = j;
        if (want_index)
            ((int32_t *)data[n->out])[r] = (int32_t)best;
        else
            ((float *)data[n->out])[r] = xr[best];
    }
    return CC_OK;
}

int ref_sum(const graph *g, const g_node *n, void **data) { return sum_rows(g, n, data, 0); }
int ref_mean(const graph *g, const g_node *n, void **data) { return sum_rows(g, n, data, 1); }
int ref_max(const graph *g, const g_node *n, void **data) { return max_rows(g, n, data, 0); }
int ref_argmax(const graph *g, const g_node *n, void **data) { return max_rows(g, n, data, 1); }
