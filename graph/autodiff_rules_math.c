/* Backward rules of matmul, the broadcasting binary ops, the pointwise unary
 * ops and the reductions. Broadcast inputs get their gradient summed back to
 * their own shape with SUM_TO; reductions spread theirs with BROADCAST_TO. */
#include "graph/autodiff_internal.h"

#include <string.h>

/* dA and dB of C = op(A) op(B) (+ bias), op = transpose where flagged. B is
 * either batched like A or 2-D (shared across A's batch dims). */
int ad_rule_matmul(ad_ctx *c, const g_node *n, int dy)
{
    graph *g = c->g;
    int a = n->in[0], b = n->in[1], bias = n->n_in > 2 ? n->in[2] : -1;
    int ta = n->attr.trans_a, tb = n->attr.trans_b;
    int na = g->tensors[a].ndim, nb = g->tensors[b].ndim;
    int rc;
    if (ad_wants(c, a)) {
        int da;
        if (!ta)
            da = g_matmul(g, dy, b, -1, 0, !tb);           /* dC op(B)^T */
        else if (nb == na)
            da = g_matmul(g, b, dy, -1, tb, 1);            /* op(B) dC^T */
        else /* 2-D B cannot be the batched operand: transpose dC op(B)^T instead */
            da = g_transpose(g, g_matmul(g, dy, b, -1, 0, !tb), -1, -2);
        if ((rc = ad_accum(c, a, da)))
            return rc;
    }
    if (ad_wants(c, b)) {
        int db;
        if (nb == na) {
            db = !tb ? g_matmul(g, a, dy, -1, !ta, 0)      /* op(A)^T dC */
                     : g_matmul(g, dy, a, -1, 1, ta);      /* dC^T op(A) */
        } else if (!ta) {
            /* Shared B, row-major A: fold the batch into rows (views) so one
             * GEMM also sums over the batch. */
            const g_tensor *A = &g->tensors[a];
            int64_t k = A->shape[na - 1], nn = g->tensors[dy].shape[na - 1];
            int64_t a2[2] = {g_numel(g, a) / k, k}, d2[2] = {g_numel(g, dy) / nn, nn};
            int ar = g_reshape(g, a, 2, a2), dr = g_reshape(g, dy, 2, d2);
            db = !tb ? g_matmul(g, ar, dr, -1, 1, 0) : g_matmul(g, dr, ar, -1, 1, 0);
        } else {
            int per = !tb ? g_matmul(g, a, dy, -1, 0, 0) : g_matmul(g, dy, a, -1, 1, 1);
            db = ad_sum_to_like(c, per, b);
        }
        if ((rc = ad_accum(c, b, db)))
            return rc;
    }
    if (bias >= 0 && ad_wants(c, bias))
        return ad_accum(c, bias, ad_sum_to_like(c, dy, bias));
    return 0;
}

int ad_rule_binary(ad_ctx *c, const g_node *n, int dy)
{
    graph *g = c->g;
    int a = n->in[0], b = n->in[1], y = n->out;
    int da = -1, db = -1, rc;
    int wa = ad_wants(c, a), wb = ad_wants(c, b);
    switch (n->op) {
    case G_OP_ADD:
        if (wa)
            da = ad_sum_to_like(c, dy, a);
        if (wb)
            db = ad_sum_to_like(c, dy, b);
        break;
    case G_OP_SUB:
        if (wa)
            da = ad_sum_to_like(c, dy, a);
        if (wb)
            db = g_scale(g, ad_sum_to_like(c, dy, b), -1.0f);
        break;
    case G_OP_MUL:
        if (wa)
            da = ad_sum_to_like(c, g_mul(g, dy, b), a);
        if (wb)
            db = ad_sum_to_like(c, g_mul(g, dy, a), b);
        break;
    case G_OP_DIV: /* y = a / b: da = dy / b, db = -dy y / b */
        if (wa)
            da = ad_sum_to_like(c, g_div(g, dy, b), a);
        if (wb)
            db = g_scale(g, ad_sum_to_like(c, g_div(g, g_mul(g, dy, y), b), b), -1.0f);
        break;
    default:
        return cc_fail(CC_ERR_INVALID, "g_backward: %s is not a binary op", g_op_name(n->op));
    }
    if (wa && (rc = ad_accum(c, a, da)))
        return rc;
    if (wb && (rc = ad_accum(c, b, db)))
        return rc;
    return 0;
}

int ad_rule_unary(ad_ctx *c, const g_node *n, int dy)
{
    graph *g = c->g;
    int x = n->in[0], y = n->out, d;
    switch (n->op) {
    case G_OP_SCALE: d = g_scale(g, dy, n->attr.alpha); break;
    case G_OP_GELU: d = g_gelu_grad(g, x, dy); break;
    case G_OP_QUICKGELU: d = g_quickgelu_grad(g, x, dy); break;
    case G_OP_RELU: d = g_relu_grad(g, x, dy); break;
    case G_OP_SIGMOID: d = g_sigmoid_grad(g, y, dy); break;
    case G_OP_EXP: d = g_mul(g, dy, y); break;
    case G_OP_LOG: d = g_div(g, dy, x); break;
    default:
        return cc_fail(CC_ERR_INVALID, "g_backward: %s is not a unary op", g_op_name(n->op));
    }
    return ad_accum(c, x, d);
}

/* SUM/MEAN drop the last dim: put it back as 1 and broadcast. SUM_TO and
 * BROADCAST_TO are each other's adjoints. */
int ad_rule_reduce(ad_ctx *c, const g_node *n, int dy)
{
    graph *g = c->g;
    int x = n->in[0];
    const g_tensor *X = &g->tensors[x];
    int64_t xs[G_MAX_DIMS];
    memcpy(xs, X->shape, sizeof xs);
    int nd = X->ndim, d;
    switch (n->op) {
    case G_OP_SUM:
    case G_OP_MEAN: {
        int r = dy;
        if (n->op == G_OP_MEAN)
            r = g_scale(g, dy, 1.0f / (float)xs[nd - 1]);
        int64_t kept[G_MAX_DIMS];
        memcpy(kept, xs, sizeof kept);
        kept[nd - 1] = 1;
        if (r >= 0 && (g->tensors[r].ndim != nd ||
                       memcmp(g->tensors[r].shape, kept, (size_t)nd * sizeof kept[0]) != 0))
            r = g_reshape(g, r, nd, kept);
        d = g_broadcast_to(g, r, nd, xs);
        break;
    }
    case G_OP_SUM_TO: d = g_broadcast_to(g, dy, nd, xs); break;
    case G_OP_BROADCAST_TO: d = ad_sum_to_like(c, dy, x); break;
    default:
        return cc_fail(CC_ERR_INVALID, "g_backward: %s is not a reduction", g_op_name(n->op));
    }
    return ad_accum(c, x, d);
}
