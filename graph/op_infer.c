/* Output inference of the op table (see op_infer.h). Each function reads the
 * node's inputs and attrs and writes the output dtype and shape to out (or,
 * for the ops whose output shape is a parameter, validates the one out holds
 * on entry); on a disagreement it records one line naming the op, the input
 * shapes and what it expected, and returns -1. */
#include "graph/op_infer.h"

#include <stdio.h>
#include <string.h>

#include "graph/graph_internal.h"

static const g_tensor *in_t(const graph *g, const g_node *n, int i) { return &g->tensors[n->in[i]]; }

static int same_dims(const g_tensor *a, const g_tensor *b)
{
    return a->ndim == b->ndim && memcmp(a->shape, b->shape, (size_t)a->ndim * sizeof a->shape[0]) == 0;
}

static int64_t numel(const g_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->shape[i];
    return n;
}

/* Records the failure: the op, its input shapes and what it expected. */
static int bad(graph *g, const g_node *n, const char *expected)
{
    char ins[512];
    size_t used = 0;
    ins[0] = '\0';
    for (int i = 0; i < n->n_in && used < sizeof ins; i++)
        used += (size_t)snprintf(ins + used, sizeof ins - used, "%s%s", i ? ", " : "", g_sh(g, n->in[i]));
    return g_err(g, CC_ERR_SHAPE, "%s: inputs %s: expected %s", g_op_name(n->op), ins, expected);
}

/* Inputs whose bit is clear in i32_ok must be f32. */
static int inputs_f32(graph *g, const g_node *n, unsigned i32_ok)
{
    for (int i = 0; i < n->n_in; i++)
        if (!(i32_ok & (1u << i)) && in_t(g, n, i)->dtype != G_F32)
            return g_err(g, CC_ERR_SHAPE, "%s: input %d %s is i32, expected f32", g_op_name(n->op), i,
                         g_sh(g, n->in[i]));
    return 0;
}

static int set_out(g_tensor *out, g_dtype dt, int ndim, const int64_t *shape)
{
    out->dtype = dt;
    out->ndim = ndim;
    memmove(out->shape, shape, (size_t)ndim * sizeof shape[0]);
    return 0;
}

/* f32 inputs, an f32 output of shape. */
static int f32_out(graph *g, const g_node *n, g_tensor *out, int ndim, const int64_t *shape)
{
    if (inputs_f32(g, n, 0))
        return -1;
    return set_out(out, G_F32, ndim, shape);
}

/* Ops whose output shape is a parameter need it from their builder. */
static int need_given(graph *g, const g_node *n, const g_tensor *out)
{
    if (out->ndim < 1)
        return g_err(g, CC_ERR_INVALID, "%s: the output shape is a parameter; append it with g_append_node",
                     g_op_name(n->op));
    return 0;
}

int g_infer_same_as_x(graph *g, const g_node *n, g_tensor *out)
{
    const g_tensor *x = in_t(g, n, 0);
    return f32_out(g, n, out, x->ndim, x->shape);
}

int g_infer_pair(graph *g, const g_node *n, g_tensor *out)
{
    if (!same_dims(in_t(g, n, 0), in_t(g, n, 1)))
        return bad(g, n, "inputs of one shape");
    return g_infer_same_as_x(g, n, out);
}

int g_infer_binary(graph *g, const g_node *n, g_tensor *out)
{
    const g_tensor *a = in_t(g, n, 0), *b = in_t(g, n, 1);
    int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    int64_t shape[G_MAX_DIMS];
    /* numpy rule: align trailing dims; each pair equal or one of them 1 */
    for (int i = 0; i < nd; i++) {
        int ia = a->ndim - nd + i, ib = b->ndim - nd + i;
        int64_t da = ia >= 0 ? a->shape[ia] : 1, db = ib >= 0 ? b->shape[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return bad(g, n, "broadcastable inputs");
        shape[i] = da == 1 ? db : da;
    }
    return f32_out(g, n, out, nd, shape);
}

/* The last dim dropped ([1] for a 1-D input), of dtype dt. */
static int reduced(graph *g, const g_node *n, g_tensor *out, g_dtype dt)
{
    const g_tensor *x = in_t(g, n, 0);
    int64_t shape[G_MAX_DIMS] = {1};
    int nd = x->ndim > 1 ? x->ndim - 1 : 1;
    if (x->ndim > 1)
        memcpy(shape, x->shape, (size_t)nd * sizeof shape[0]);
    if (inputs_f32(g, n, 0))
        return -1;
    return set_out(out, dt, nd, shape);
}

int g_infer_reduce(graph *g, const g_node *n, g_tensor *out) { return reduced(g, n, out, G_F32); }
int g_infer_argmax(graph *g, const g_node *n, g_tensor *out) { return reduced(g, n, out, G_I32); }

/* [..., M, K] x [..., K, N] (op = transpose where flagged), B's batch dims
 * equal to A's or B 2-D; bias [N]. */
int g_infer_matmul(graph *g, const g_node *n, g_tensor *out)
{
    const g_tensor *a = in_t(g, n, 0), *b = in_t(g, n, 1);
    if (a->ndim < 2 || b->ndim < 2)
        return bad(g, n, "A and B at least 2-D");
    int na = a->ndim, nb = b->ndim, ta = n->attr.trans_a, tb = n->attr.trans_b;
    int64_t K = a->shape[na - (ta ? 2 : 1)], Kb = b->shape[nb - (tb ? 1 : 2)];
    int64_t M = a->shape[na - (ta ? 1 : 2)], N = b->shape[nb - (tb ? 2 : 1)];
    if (K != Kb)
        return bad(g, n, "A and B with equal inner dims");
    if (nb > 2 && (nb != na || memcmp(a->shape, b->shape, (size_t)(na - 2) * sizeof a->shape[0]) != 0))
        return bad(g, n, "B with A's batch dims, or 2-D");
    if (n->n_in > 2 && (in_t(g, n, 2)->ndim != 1 || in_t(g, n, 2)->shape[0] != N))
        return bad(g, n, "a bias [N]");
    int64_t shape[G_MAX_DIMS];
    memcpy(shape, a->shape, sizeof shape);
    shape[na - 2] = M;
    shape[na - 1] = N;
    return f32_out(g, n, out, na, shape);
}

/* (in + 2 pad - k) / stride + 1, or -1 when the window does not fit. */
static int64_t win_out(int64_t in, int64_t k, int stride, int pad)
{
    int64_t p = in + 2 * (int64_t)pad - k;
    return p < 0 || stride < 1 || pad < 0 ? -1 : p / stride + 1;
}

int g_infer_conv2d(graph *g, const g_node *n, g_tensor *out)
{
    const g_tensor *x = in_t(g, n, 0), *w = in_t(g, n, 1);
    if (x->ndim != 4 || w->ndim != 4 || x->shape[1] != w->shape[1])
        return bad(g, n, "x [N, C, H, W] and w [O, C, kh, kw]");
    if (n->n_in > 2 && (in_t(g, n, 2)->ndim != 1 || in_t(g, n, 2)->shape[0] != w->shape[0]))
        return bad(g, n, "a bias [O]");
    int64_t shape[4] = {x->shape[0], w->shape[0],
                        win_out(x->shape[2], w->shape[2], n->attr.stride[0], n->attr.pad[0]),
                        win_out(x->shape[3], w->shape[3], n->attr.stride[1], n->attr.pad[1])};
    if (shape[2] < 1 || shape[3] < 1)
        return bad(g, n, "a kernel that fits the padded input, stride >= 1, pad >= 0");
    return f32_out(g, n, out, 4, shape);
}

int g_infer_avgpool2d(graph *g, const g_node *n, g_tensor *out)
{
    const g_tensor *x = in_t(g, n, 0);
    const g_attr *a = &n->attr;
    if (x->ndim != 4 || a->kernel[0] < 1 || a->kernel[1] < 1)
        return bad(g, n, "x [N, C, H, W] and a kernel >= 1");
    int64_t shape[4] = {x->shape[0], x->shape[1], win_out(x->shape[2], a->kernel[0], a->stride[0], a->pad[0]),
                        win_out(x->shape[3], a->kernel[1], a->stride[1], a->pad[1])};
    if (shape[2] < 1 || shape[3] < 1)
        return bad(g, n, "a window that fits the padded input, stride >= 1, pad >= 0");
    return f32_out(g, n, out, 4, shape);
}

/* table [V, D] f32, ids [...] i32 -> [..., D] */
int g_infer_embedding(graph *g, const g_node *n, g_tensor *out)
{
    const g_tensor *t = in_t(g, n, 0), *ids = in_t(g, n, 1);
    if (t->ndim != 2 || ids->dtype != G_I32 || ids->ndim >= G_MAX_DIMS)
        return bad(g, n, "table [V, D] and i32 ids of fewer than 6 dims");
    if (inputs_f32(g, n, 1u << 1))
        return -1;
    int64_t shape[G_MAX_DIMS];
    memcpy(shape, ids->shape, (size_t)ids->ndim * sizeof shape[0]);
    shape[ids->ndim] = t->shape[1];
    return set_out(out, G_F32, ids->ndim + 1, shape);
}

/* Data movement keeps the input's dtype. */
static int moved(const graph *g, const g_node *n, g_tensor *out, int ndim, const int64_t *shape)
{
    return set_out(out, in_t(g, n, 0)->dtype, ndim, shape);
}

int g_infer_reshape(graph *g, const g_node *n, g_tensor *out)
{
    if (need_given(g, n, out))
        return -1;
    if (numel(in_t(g, n, 0)) != numel(out))
        return bad(g, n, "an output of as many elements as x");
    return moved(g, n, out, out->ndim, out->shape);
}

int g_infer_permute(graph *g, const g_node *n, g_tensor *out)
{
    const g_tensor *x = in_t(g, n, 0);
    int64_t shape[G_MAX_DIMS];
    int seen = 0;
    for (int i = 0; i < x->ndim; i++) {
        int p = n->attr.perm[i];
        if (p < 0 || p >= x->ndim || (seen & (1 << p)))
            return bad(g, n, "a permutation of x's dims in attr.perm");
        seen |= 1 << p;
        shape[i] = x->shape[p];
    }
    return moved(g, n, out, x->ndim, shape);
}

/* x's shape with dim axis holding (end - start) / step rounded up; the attrs
 * are stored normalised, 0 <= start < end <= dim. */
static int sliced(const g_tensor *x, const g_attr *a, int64_t *shape)
{
    if (a->axis < 0 || a->axis >= x->ndim || a->step < 1 || a->start < 0 || a->end <= a->start ||
        a->end > x->shape[a->axis])
        return -1;
    memcpy(shape, x->shape, (size_t)x->ndim * sizeof shape[0]);
    shape[a->axis] = (a->end - a->start + a->step - 1) / a->step;
    return 0;
}

int g_infer_slice(graph *g, const g_node *n, g_tensor *out)
{
    const g_tensor *x = in_t(g, n, 0);
    int64_t shape[G_MAX_DIMS];
    if (sliced(x, &n->attr, shape))
        return bad(g, n, "a non-empty slice of x (normalised axis, start, end, step)");
    return moved(g, n, out, x->ndim, shape);
}

int g_infer_concat(graph *g, const g_node *n, g_tensor *out)
{
    const g_tensor *x0 = in_t(g, n, 0);
    int ax = n->attr.axis;
    if (ax < 0 || ax >= x0->ndim)
        return bad(g, n, "an axis of the inputs");
    int64_t shape[G_MAX_DIMS];
    memcpy(shape, x0->shape, (size_t)x0->ndim * sizeof shape[0]);
    for (int i = 1; i < n->n_in; i++) {
        const g_tensor *xi = in_t(g, n, i);
        if (xi->ndim != x0->ndim || xi->dtype != x0->dtype)
            return bad(g, n, "inputs of one rank and dtype");
        for (int d = 0; d < x0->ndim; d++)
            if (d != ax && xi->shape[d] != x0->shape[d])
                return bad(g, n, "inputs equal off the axis");
        shape[ax] += xi->shape[ax];
    }
    return moved(g, n, out, x0->ndim, shape);
}

int g_infer_attention(graph *g, const g_node *n, g_tensor *out)
{
    const g_tensor *q = in_t(g, n, 0), *k = in_t(g, n, 1), *v = in_t(g, n, 2);
    if (q->ndim != 3 || !same_dims(k, v) || k->ndim != 3 || k->shape[0] != q->shape[0] ||
        k->shape[2] != q->shape[2] || n->attr.heads < 1 || q->shape[2] % n->attr.heads)
        return bad(g, n, "q [B, T, C], k and v [B, S, C], heads dividing C");
    return f32_out(g, n, out, 3, q->shape);
}

/* small broadcasts to big (numpy rules, right-aligned). */
static int broadcasts(const g_tensor *small, const g_tensor *big)
{
    if (small->ndim > big->ndim)
        return 0;
    int off = big->ndim - small->ndim;
    for (int i = 0; i < small->ndim; i++)
        if (small->shape[i] != 1 && small->shape[i] != big->shape[off + i])
            return 0;
    return 1;
}

int g_infer_sum_to(graph *g, const g_node *n, g_tensor *out)
{
    if (need_given(g, n, out))
        return -1;
    if (!broadcasts(out, in_t(g, n, 0)))
        return bad(g, n, "an output shape that broadcasts to x");
    return f32_out(g, n, out, out->ndim, out->shape);
}

int g_infer_broadcast_to(graph *g, const g_node *n, g_tensor *out)
{
    if (need_given(g, n, out))
        return -1;
    if (!broadcasts(in_t(g, n, 0), out))
        return bad(g, n, "an output shape x broadcasts to");
    return moved(g, n, out, out->ndim, out->shape);
}

int g_infer_ln_grad_gamma(graph *g, const g_node *n, g_tensor *out)
{
    const g_tensor *x = in_t(g, n, 0);
    if (!same_dims(x, in_t(g, n, 1)))
        return bad(g, n, "x and dy of one shape");
    return f32_out(g, n, out, 1, &x->shape[x->ndim - 1]);
}

/* x [N, C, ...] -> [2, C]; bn_grad_sums' stats [2, C] and dy x's shape. */
int g_infer_bn_stats(graph *g, const g_node *n, g_tensor *out)
{
    const g_tensor *x = in_t(g, n, 0);
    if (x->ndim < 2)
        return bad(g, n, "x [N, C, ...]");
    int64_t s[2] = {2, x->shape[1]};
    if (n->n_in == 3) {
        const g_tensor *st = in_t(g, n, 1);
        if (st->ndim != 2 || st->shape[0] != 2 || st->shape[1] != s[1] || !same_dims(x, in_t(g, n, 2)))
            return bad(g, n, "x [N, C, ...], stats [2, C] and dy of x's shape");
    }
    return f32_out(g, n, out, 2, s);
}

/* dy [N, O, Ho, Wo], w [O, C, kh, kw] -> x [N, C, H, W] whose conv output is dy. */
int g_infer_conv2d_grad_input(graph *g, const g_node *n, g_tensor *out)
{
    if (need_given(g, n, out))
        return -1;
    const g_tensor *dy = in_t(g, n, 0), *w = in_t(g, n, 1);
    const g_attr *a = &n->attr;
    if (dy->ndim != 4 || w->ndim != 4 || out->ndim != 4 || dy->shape[0] != out->shape[0] ||
        dy->shape[1] != w->shape[0] || w->shape[1] != out->shape[1] ||
        dy->shape[2] != win_out(out->shape[2], w->shape[2], a->stride[0], a->pad[0]) ||
        dy->shape[3] != win_out(out->shape[3], w->shape[3], a->stride[1], a->pad[1]))
        return bad(g, n, "an output x [N, C, H, W] whose conv2d with w gives dy");
    return f32_out(g, n, out, 4, out->shape);
}

int g_infer_conv2d_grad_weight(graph *g, const g_node *n, g_tensor *out)
{
    const g_tensor *x = in_t(g, n, 0), *dy = in_t(g, n, 1);
    const g_attr *a = &n->attr;
    if (x->ndim != 4 || dy->ndim != 4 || x->shape[0] != dy->shape[0] || a->kernel[0] < 1 || a->kernel[1] < 1 ||
        dy->shape[2] != win_out(x->shape[2], a->kernel[0], a->stride[0], a->pad[0]) ||
        dy->shape[3] != win_out(x->shape[3], a->kernel[1], a->stride[1], a->pad[1]))
        return bad(g, n, "x [N, C, H, W] whose conv2d with an attr.kernel window gives dy [N, O, Ho, Wo]");
    int64_t shape[4] = {dy->shape[1], x->shape[1], a->kernel[0], a->kernel[1]};
    return f32_out(g, n, out, 4, shape);
}

int g_infer_avgpool2d_grad(graph *g, const g_node *n, g_tensor *out)
{
    if (need_given(g, n, out))
        return -1;
    const g_tensor *dy = in_t(g, n, 0);
    const g_attr *a = &n->attr;
    if (dy->ndim != 4 || out->ndim != 4 || dy->shape[0] != out->shape[0] || dy->shape[1] != out->shape[1] ||
        dy->shape[2] != win_out(out->shape[2], a->kernel[0], a->stride[0], a->pad[0]) ||
        dy->shape[3] != win_out(out->shape[3], a->kernel[1], a->stride[1], a->pad[1]))
        return bad(g, n, "an output x [N, C, H, W] whose pool output is dy");
    return f32_out(g, n, out, 4, out->shape);
}

/* ids [...] i32, dy [..., D] -> [V, D]; V (the vocabulary) is given. */
int g_infer_embedding_grad(graph *g, const g_node *n, g_tensor *out)
{
    if (need_given(g, n, out))
        return -1;
    const g_tensor *ids = in_t(g, n, 0), *dy = in_t(g, n, 1);
    if (ids->dtype != G_I32 || dy->ndim != ids->ndim + 1 ||
        memcmp(ids->shape, dy->shape, (size_t)ids->ndim * sizeof ids->shape[0]) != 0 || out->ndim != 2 ||
        out->shape[1] != dy->shape[dy->ndim - 1])
        return bad(g, n, "i32 ids, dy of ids' shape plus [D], an output [V, D]");
    if (inputs_f32(g, n, 1u << 0))
        return -1;
    return set_out(out, G_F32, 2, out->shape);
}

int g_infer_slice_grad(graph *g, const g_node *n, g_tensor *out)
{
    if (need_given(g, n, out))
        return -1;
    const g_tensor *dy = in_t(g, n, 0);
    int64_t shape[G_MAX_DIMS];
    if (sliced(out, &n->attr, shape) || dy->ndim != out->ndim ||
        memcmp(shape, dy->shape, (size_t)dy->ndim * sizeof shape[0]) != 0)
        return bad(g, n, "an output x whose slice (attrs) is dy");
    return f32_out(g, n, out, out->ndim, out->shape);
}

/* -> q's shape (which 0, dq) or k's (dk, dv) */
int g_infer_attention_grad(graph *g, const g_node *n, g_tensor *out)
{
    const g_tensor *q = in_t(g, n, 0), *k = in_t(g, n, 1);
    if (n->attr.which < 0 || n->attr.which > 2 || !same_dims(q, in_t(g, n, 3)) || !same_dims(k, in_t(g, n, 2)))
        return bad(g, n, "which in 0..2, v of k's shape and dout of q's");
    const g_tensor *like = n->attr.which == 0 ? q : k;
    return f32_out(g, n, out, like->ndim, like->shape);
}
