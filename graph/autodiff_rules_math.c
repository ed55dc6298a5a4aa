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

/* Accumulates the contributions of a binary op; a side that needs no
 * gradient passes -1 and is skipped. */
static int accum2(ad_ctx *c, const g_node *n, int da, int db)
{
    int rc;
    if (ad_wants(c, n->in[0]) && (rc = ad_accum(c, n->in[0], da)))
        return rc;
    if (ad_wants(c, n->in[1]) && (rc = ad_accum(c, n->in[1], db)))
        return rc;
    return 0;
}

int ad_rule_add(ad_ctx *c, const g_node *n, int dy)
{
    int a = n->in[0], b = n->in[1];
    return accum2(c, n, ad_wants(c, a) ? ad_sum_to_like(c, dy, a) : -1,
                  ad_wants(c, b) ? ad_sum_to_like(c, dy, b) : -1);
}

int ad_rule_sub(ad_ctx *c, const g_node *n, int dy)
{
    int a = n->in[0], b = n->in[1];
    return accum2(c, n, ad_wants(c, a) ? ad_sum_to_like(c, dy, a) : -1,
                  ad_wants(c, b) ? g_scale(c->g, ad_sum_to_like(c, dy, b), -1.0f) : -1);
}

int ad_rule_mul(ad_ctx *c, const g_node *n, int dy)
{
    graph *g = c->g;
    int a = n->in[0], b = n->in[1];
    return accum2(c, n, ad_wants(c, a) ? ad_sum_to_like(c, g_mul(g, dy, b), a) : -1,
                  ad_wants(c, b) ? ad_sum_to_like(c, g_mul(g, dy, a), b) : -1);
}

/* y = a / b: da = dy / b, db = -dy y / b */
int ad_rule_div(ad_ctx *c, const g_node *n, int dy)
{
    graph *g = c->g;
    int a = n->in[0], b = n->in[1], y = n->out;
    return accum2(c, n, ad_wants(c, a) ? ad_sum_to_like(c, g_div(g, dy, b), a) : -1,
                  ad_wants(c, b) ? g_scale(g, ad_sum_to_like(c, g_div(g, g_mul(g, dy, y), b), b), -1.0f) : -1);
}

/* Pointwise unary ops: one contribution to x. */
int ad_rule_scale(ad_ctx *c, const g_node *n, int dy) { return ad_accum(c, n->in[0], g_scale(c->g, dy, n->attr.alpha)); }
int ad_rule_gelu(ad_ctx *c, const g_node *n, int dy) { return ad_accum(c, n->in[0], g_gelu_grad(c->g, n->in[0], dy)); }
int ad_rule_quickgelu(ad_ctx *c, const g_node *n, int dy)
{
    return ad_accum(c, n->in[0], g_quickgelu_grad(c->g, n->in[0], dy));
}
int ad_rule_relu(ad_ctx *c, const g_node *n, int dy) { return ad_accum(c, n->in[0], g_relu_grad(c->g, n->in[0], dy)); }
int ad_rule_sigmoid(ad_ctx *c, const g_node *n, int dy) { return ad_accum(c, n->in[0], g_sigmoid_grad(c->g, n->out, dy)); }
int ad_rule_exp(ad_ctx *c, const g_node *n, int dy) { return ad_accum(c, n->in[0], g_mul(c->g, dy, n->out)); }
int ad_rule_log(ad_ctx *c, const g_node *n, int dy) { return ad_accum(c, n->in[0], g_div(c->g, dy, n->in[0])); }

/* y = x s, s = sigmoid(x): dx = dy s + dy x s (1 - s), the second term being
 * sigmoid_grad(s, dy x); composed from existing ops, so no SILU_GRAD kind. */
int ad_rule_silu(ad_ctx *c, const g_node *n, int dy)
{
    graph *g = c->g;
    int x = n->in[0];
    int s = g_sigmoid(g, x);
    return ad_accum(c, x, g_add(g, g_mul(g, dy, s), g_sigmoid_grad(g, s, g_mul(g, dy, x))));
}

/* SUM/MEAN drop the last dim: put it back as 1 and broadcast (MEAN scales
 * by 1/D first). */
static int spread_rows(ad_ctx *c, const g_node *n, int dy, int mean)
{
    graph *g = c->g;
    int x = n->in[0];
    const g_tensor *X = &g->tensors[x];
    int64_t xs[G_MAX_DIMS];
    memcpy(xs, X->shape, sizeof xs);
    int nd = X->ndim;
    int r = mean ? g_scale(g, dy, 1.0f / (float)xs[nd - 1]) : dy;
    int64_t kept[G_MAX_DIMS];
    memcpy(kept, xs, sizeof kept);
    kept[nd - 1] = 1;
    if (r >= 0 && (g->tensors[r].ndim != nd || memcmp(g->tensors[r].shape, kept, (size_t)nd * sizeof kept[0]) != 0))
        r = g_reshape(g, r, nd, kept);
    return ad_accum(c, x, g_broadcast_to(g, r, nd, xs));
}

int ad_rule_sum(ad_ctx *c, const g_node *n, int dy) { return spread_rows(c, n, dy, 0); }
int ad_rule_mean(ad_ctx *c, const g_node *n, int dy) { return spread_rows(c, n, dy, 1); }

/* SUM_TO and BROADCAST_TO are each other's adjoints. */
int ad_rule_sum_to(ad_ctx *c, const g_node *n, int dy)
{
    const g_tensor *X = &c->g->tensors[n->in[0]];
    int64_t xs[G_MAX_DIMS];
    memcpy(xs, X->shape, sizeof xs);
    return ad_accum(c, n->in[0], g_broadcast_to(c->g, dy, X->ndim, xs));
}

int ad_rule_broadcast_to(ad_ctx *c, const g_node *n, int dy)
{
    return ad_accum(c, n->in[0], ad_sum_to_like(c, dy, n->in[0]));
}
