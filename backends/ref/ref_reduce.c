/* Reference reductions over the last dim: sum, mean, max, argmax (i32). */
#include <math.h>

#include "backends/ref/ref_ops.h"

int ref_reduce(const graph *g, const g_node *n, void **data)
{
    const g_tensor *tx = ref_t(g, n->in[0]), *to = ref_t(g, n->out);
    int64_t D = ref_last_dim(tx), R = ref_rows(tx);
    if (ref_numel(to) != R)
        return cc_fail(CC_ERR_SHAPE, "%s: input '%s' has %lld rows, output '%s' %lld elements",
                       g_op_name(n->op), tx->name, (long long)R, to->name, (long long)ref_numel(to));
    if ((n->op == G_OP_MAX || n->op == G_OP_ARGMAX) && D < 1)
        return cc_fail(CC_ERR_SHAPE, "%s: '%s' has an empty last dim", g_op_name(n->op), tx->name);
    const float *x = data[n->in[0]];
    for (int64_t r = 0; r < R; r++) {
        const float *xr = x + r * D;
        if (n->op == G_OP_SUM || n->op == G_OP_MEAN) {
            double s = 0.0;
            for (int64_t j = 0; j < D; j++)
                s += xr[j];
            ((float *)data[n->out])[r] = (float)(n->op == G_OP_MEAN ? s / (double)D : s);
            continue;
        }
        /* max and argmax: first maximal index; a NaN wins, as in PyTorch */
        int64_t best = 0;
        for (int64_t j = 1; j < D && !isnan(xr[best]); j++)
            if (isnan(xr[j]) || xr[j] > xr[best])
                best = j;
        if (n->op == G_OP_MAX)
            ((float *)data[n->out])[r] = xr[best];
        else
            ((int32_t *)data[n->out])[r] = (int32_t)best;
    }
    return CC_OK;
}
