/* Output checks of the op table (see op_check.h). Each answers: given these
 * inputs and attrs, is `out` the dtype and shape the op produces? The
 * builders compute the same thing to build the node; keeping the two apart
 * lets a pass that appends nodes directly (g_append_node) be checked too. */
#include "graph/op_check.h"

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

/* Records the failure: the op, what was expected, and the output recorded. */
static int bad(graph *g, const g_node *n, const g_tensor *out, const char *expected)
{
    char os[96];
    return g_err(g, CC_ERR_SHAPE, "g_append_node(%s): output %s %s, expected %s", g_op_name(n->op),
                 out->dtype == G_I32 ? "i32" : "f32", g_fmt_shape(out->ndim, out->shape, os, sizeof os), expected);
}

/* Inputs whose bit is clear in i32_ok must be f32. */
static int inputs_f32(graph *g, const g_node *n, unsigned i32_ok)
{
    for (int i = 0; i < n->n_in; i++)
        if (!(i32_ok & (1u << i)) && in_t(g, n, i)->dtype != G_F32)
            return g_err(g, CC_ERR_SHAPE, "g_append_node(%s): input %d %s is i32, expected f32", g_op_name(n->op), i,
                         g_sh(g, n->in[i]));
    return 0;
}

/* An f32 output of exactly the shape want. */
static int out_f32(graph *g, const g_node *n, const g_tensor *out, int ndim, const int64_t *want)
{
    char ws[96];
    if (out->dtype != G_F32 || out->ndim != ndim || memcmp(out->shape, want, (size_t)ndim * sizeof want[0]) != 0)
        return bad(g, n, out, g_fmt_shape(ndim, want, ws, sizeof ws));
    return 0;
}

/* f32 inputs, f32 output of exactly the shape want. */
static int f32_like(graph *g, const g_node *n, const g_tensor *out, int ndim, const int64_t *want)
{
    if (inputs_f32(g, n, 0))
        return -1;
    return out_f32(g, n, out, ndim, want);
}

int g_check_same_as_x(graph *g, const g_node *n, const g_tensor *out)
{
    const g_tensor *x = in_t(g, n, 0);
    return f32_like(g, n, out, x->ndim, x->shape);
}

int g_check_pair(graph *g, const g_node *n, const g_tensor *out)
{
    if (!same_dims(in_t(g, n, 0), in_t(g, n, 1)))
        return bad(g, n, out, "inputs of one shape");
    return g_check_same_as_x(g, n, out);
}

int g_check_binary(graph *g, const g_node *n, const g_tensor *out)
{
    const g_tensor *a = in_t(g, n, 0), *b = in_t(g, n, 1);
    int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    int64_t want[G_MAX_DIMS];
    for (int i = 0; i < nd; i++) {
        int ia = a->ndim - nd + i, ib = b->ndim - nd + i;
        int64_t da = ia >= 0 ? a->shape[ia] : 1, db = ib >= 0 ? b->shape[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return bad(g, n, out, "broadcastable inputs");
        want[i] = da == 1 ? db : da;
    }
    return f32_like(g, n, out, nd, want);
}

/* The last dim dropped ([1] for a 1-D input), of dtype dt. */
static int reduced(graph *g, const g_node *n, const g_tensor *out, g_dtype dt)
{
    const g_tensor *x = in_t(g, n, 0);
    int64_t want[G_MAX_DIMS] = {1};
    int nd = x->ndim > 1 ? x->ndim - 1 : 1;
    if (x->ndim > 1)
        memcpy(want, x->shape, (size_t)nd * sizeof want[0]);
    char ws[96];
    if (inputs_f32(g, n, 0))
        return -1;
    if (out->dtype != dt || out->ndim != nd || memcmp(out->shape, want, (size_t)nd * sizeof want[0]) != 0)
        return bad(g, n, out, g_fmt_shape(nd, want, ws, sizeof ws));
    return 0;
}

int g_check_reduce(graph *g, const g_node *n, const g_tensor *out) { return reduced(g, n, out, G_F32); }
int g_check_argmax(graph *g, const g_node *n, const g_tensor *out) { return reduced(g, n, out, G_I32); }

int g_check_matmul(graph *g, const g_node *n, const g_tensor *out)
{
    const g_tensor *a = in_t(g, n, 0), *b = in_t(g, n, 1);
    if (a->ndim < 2 || b->ndim < 2)
        return bad(g, n, out, "A and B at least 2-D");
    int na = a->ndim, nb = b->ndim, ta = n->attr.trans_a, tb = n->attr.trans_b;
    int64_t K = a->shape[na - (ta ? 2 : 1)], Kb = b->shape[nb - (tb ? 1 : 2)];
    if (K != Kb)
        return bad(g, n, out, "A and B with equal inner dims");
    int64_t want[G_MAX_DIMS];
    memcpy(want, a->shape, sizeof want);
    want[na - 2] = a->shape[na - (ta ? 1 : 2)];
    want[na - 1] = b->shape[nb - (tb ? 2 : 1)];
    return f32_like(g, n, out, na, want);
}

/* (in + 2 pad - k) / stride + 1, or -1 when the window does not fit. */
static int64_t win_out(int64_t in, int64_t k, int stride, int pad)
{
    int64_t p = in + 2 * (int64_t)pad - k;
    return p < 0 || stride < 1 ? -1 : p / stride + 1;
}

int g_check_conv2d(graph *g, const g_node *n, const g_tensor *out)
{
    const g_tensor *x = in_t(g, n, 0), *w = in_t(g, n, 1);
    if (x->ndim != 4 || w->ndim != 4 || x->shape[1] != w->shape[1])
        return bad(g, n, out, "x [N, C, H, W] and w [O, C, kh, kw]");
    int64_t want[4] = {x->shape[0], w->shape[0], win_out(x->shape[2], w->shape[2], n->attr.stride[0], n->attr.pad[0]),
                       win_out(x->shape[3], w->shape[3], n->attr.stride[1], n->attr.pad[1])};
    return f32_like(g, n, out, 4, want);
}

int g_check_avgpool2d(graph *g, const g_node *n, const g_tensor *out)
{
    const g_tensor *x = in_t(g, n, 0);
    if (x->ndim != 4)
        return bad(g, n, out, "x [N, C, H, W]");
    const g_attr *a = &n->attr;
    int64_t want[4] = {x->shape[0], x->shape[1], win_out(x->shape[2], a->kernel[0], a->stride[0], a->pad[0]),
                       win_out(x->shape[3], a->kernel[1], a->stride[1], a->pad[1])};
    return f32_like(g, n, out, 4, want);
}

/* table [V, D] f32, ids [...] i32 -> [..., D] */
int g_check_embedding(graph *g, const g_node *n, const g_tensor *out)
{
    const g_tensor *t = in_t(g, n, 0), *ids = in_t(g, n, 1);
    if (t->ndim != 2 || ids->dtype != G_I32 || ids->ndim >= G_MAX_DIMS || inputs_f32(g, n, 1u << 1))
        return bad(g, n, out, "table [V, D] f32 and i32 ids of fewer than 6 dims");
    int64_t want[G_MAX_DIMS];
    memcpy(want, ids->shape, (size_t)ids->ndim * sizeof want[0]);
    want[ids->ndim] = t->shape[1];
    return out_f32(g, n, out, ids->ndim + 1, want);
}

/* Data movement keeps the input's dtype. */
static int moved(graph *g, const g_node *n, const g_tensor *out, int ndim, const int64_t *want)
{
    char ws[96];
    if (out->dtype != in_t(g, n, 0)->dtype || out->ndim != ndim ||
        memcmp(out->shape, want, (size_t)ndim * sizeof want[0]) != 0)
        return bad(g, n, out, g_fmt_shape(ndim, want, ws, sizeof ws));
    return 0;
}

int g_check_reshape(graph *g, const g_node *n, const g_tensor *out)
{
    const g_tensor *x = in_t(g, n, 0);
    if (numel(x) != numel(out))
        return bad(g, n, out, "as many elements as x");
    return moved(g, n, out, out->ndim, out->shape);
}

int g_check_permute(graph *g, const g_node *n, const g_tensor *out)
{
    const g_tensor *x = in_t(g, n, 0);
    int64_t want[G_MAX_DIMS];
    int seen = 0;
    for (int i = 0; i < x->ndim; i++) {
        int p = n->attr.perm[i];
        if (p < 0 || p >= x->ndim || (seen & (1 << p)))
            return bad(g, n, out, "a permutation of x's dims in attr.perm");
        seen |= 1 << p;
        want[i] = x->shape[p];
    }
    return moved(g, n, out, x->ndim, want);
}

/* x's shape with dim axis holding (end - start) / step rounded up; the attrs
 * are stored clamped, 0 <= start < end <= dim. */
static int sliced(const g_tensor *x, const g_attr *a, int64_t *want)
{
    if (a->axis < 0 || a->axis >= x->ndim || a->step < 1 || a->start < 0 || a->end <= a->start ||
        a->end > x->shape[a->axis])
        return -1;
    memcpy(want, x->shape, (size_t)x->ndim * sizeof want[0]);
    want[a->axis] = (a->end - a->start + a->step - 1) / a->step;
    return 0;
}

int g_check_slice(graph *g, const g_node *n, const g_tensor *out)
{
    const g_tensor *x = in_t(g, n, 0);
    int64_t want[G_MAX_DIMS];
    if (sliced(x, &n->attr, want))
        return bad(g, n, out, "a slice in range of x");
    return moved(g, n, out, x->ndim, want);
}

int g_check_concat(graph *g, const g_node *n, const g_tensor *out)
{
    const g_tensor *x0 = in_t(g, n, 0);
    int ax = n->attr.axis;
    if (ax < 0 || ax >= x0->ndim)
        return bad(g, n, out, "an axis of the inputs");
    int64_t want[G_MAX_DIMS];
    memcpy(want, x0->shape, (size_t)x0->ndim * sizeof want[0]);
    for (int i = 1; i < n->n_in; i++) {
        const g_tensor *xi = in_t(g, n, i);
        if (xi->ndim != x0->ndim || xi->dtype != x0->dtype)
            return bad(g, n, out, "inputs of one rank and dtype");
        for (int d = 0; d < x0->ndim; d++)
            if (d != ax && xi->shape[d] != x0->shape[d])
                return bad(g, n, out, "inputs equal off the axis");
        want[ax] += xi->shape[ax];
    }
    return moved(g, n, out, x0->ndim, want);
}

int g_check_attention(graph *g, const g_node *n, const g_tensor *out)
{
    const g_tensor *q = in_t(g, n, 0), *k = in_t(g, n, 1), *v = in_t(g, n, 2);
    if (q->ndim != 3 || !same_dims(k, v) || k->ndim != 3 || k->shape[0] != q->shape[0] ||
        k->shape[2] != q->shape[2] || n->attr.heads < 1 || q->shape[2] % n->attr.heads)
        return bad(g, n, out, "q [B, T, C], k and v [B, S, C], heads dividing C");
    return f32_like(g, n, out, 3, q->shape);
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

int g_check_sum_to(graph *g, const g_node *n, const g_tensor *out)
{
    if (!broadcasts(out, in_t(g, n, 0)))
        return bad(g, n, out, "a shape that broadcasts to x");
    return f32_like(g, n, out, out->ndim, out->shape);
}

int g_check_broadcast_to(graph *g, const g_node *n, const g_tensor *out)
{
    if (!broadcasts(in_t(g, n, 0), out))
        return bad(g, n, out, "a shape x broadcasts to");
    return moved(g, n, out, out->ndim, out->shape);
}

int g_check_ln_grad_gamma(graph *g, const g_node *n, const g_tensor *out)
{
    const g_tensor *x = in_t(g, n, 0);
    if (!same_dims(x, in_t(g, n, 1)))
        return bad(g, n, out, "x and dy of one shape");
    return f32_like(g, n, out, 1, &x->shape[x->ndim - 1]);
}

/* dy [N, O, Ho, Wo], w [O, C, kh, kw] -> x [N, C, H, W] whose conv output is dy. */
int g_check_conv2d_grad_input(graph *g, const g_node *n, const g_tensor *out)
{
    const g_tensor *dy = in_t(g, n, 0), *w = in_t(g, n, 1);
    const g_attr *a = &n->attr;
    if (dy->ndim != 4 || w->ndim != 4 || out->ndim != 4 || dy->shape[0] != out->shape[0] ||
        dy->shape[1] != w->shape[0] || w->shape[1] != out->shape[1] ||
        dy->shape[2] != win_out(out->shape[2], w->shape[2], a->stride[0], a->pad[0]) ||
        dy->shape[3] != win_out(out->shape[3], w->shape[3], a->stride[1], a->pad[1]))
        return bad(g, n, out, "an x [N, C, H, W] whose conv2d output with w is dy");
    return f32_like(g, n, out, 4, out->shape);
}

int g_check_conv2d_grad_weight(graph *g, const g_node *n, const g_tensor *out)
{
    const g_tensor *x = in_t(g, n, 0), *dy = in_t(g, n, 1);
    if (x->ndim != 4 || dy->ndim != 4 || x->shape[0] != dy->shape[0])
        return bad(g, n, out, "x [N, C, H, W] and dy [N, O, Ho, Wo]");
    int64_t want[4] = {dy->shape[1], x->shape[1], n->attr.kernel[0], n->attr.kernel[1]};
    return f32_like(g, n, out, 4, want);
}

int g_check_avgpool2d_grad(graph *g, const g_node *n, const g_tensor *out)
{
    const g_tensor *dy = in_t(g, n, 0);
    const g_attr *a = &n->attr;
    if (dy->ndim != 4 || out->ndim != 4 || dy->shape[0] != out->shape[0] || dy->shape[1] != out->shape[1] ||
        dy->shape[2] != win_out(out->shape[2], a->kernel[0], a->stride[0], a->pad[0]) ||
        dy->shape[3] != win_out(out->shape[3], a->kernel[1], a->stride[1], a->pad[1]))
        return bad(g, n, out, "an x [N, C, H, W] whose pool output is dy");
    return f32_like(g, n, out, 4, out->shape);
}

/* ids [...] i32, dy [..., D] -> [V, D] */
int g_check_embedding_grad(graph *g, const g_node *n, const g_tensor *out)
{
    const g_tensor *ids = in_t(g, n, 0), *dy = in_t(g, n, 1);
    if (ids->dtype != G_I32 || dy->ndim != ids->ndim + 1 || inputs_f32(g, n, 1u << 0) ||
        memcmp(ids->shape, dy->shape, (size_t)ids->ndim * sizeof ids->shape[0]) != 0 || out->ndim != 2)
        return bad(g, n, out, "i32 ids, dy of ids' shape plus [D], output [V, D]");
    int64_t want[2] = {out->shape[0], dy->shape[dy->ndim - 1]};
    return out_f32(g, n, out, 2, want);
}

int g_check_slice_grad(graph *g, const g_node *n, const g_tensor *out)
{
    const g_tensor *dy = in_t(g, n, 0);
    int64_t want[G_MAX_DIMS];
    if (sliced(out, &n->attr, want) || dy->ndim != out->ndim ||
        memcmp(want, dy->shape, (size_t)dy->ndim * sizeof want[0]) != 0)
        return bad(g, n, out, "an x whose slice is dy");
    return f32_like(g, n, out, out->ndim, out->shape);
}

/* -> q's shape (which 0, dq) or k's (dk, dv) */
int g_check_attention_grad(graph *g, const g_node *n, const g_tensor *out)
{
    const g_tensor *q = in_t(g, n, 0), *k = in_t(g, n, 1);
    if (n->attr.which < 0 || n->attr.which > 2 || !same_dims(q, in_t(g, n, 3)))
        return bad(g, n, out, "which in 0..2 and dout of q's shape");
    const g_tensor *like = n->attr.which == 0 ? q : k;
    return f32_like(g, n, out, like->ndim, like->shape);
}
