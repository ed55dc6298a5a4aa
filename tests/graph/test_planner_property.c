/* Memory planner: hand-derived small cases, then a property test over
 * hundreds of seeded random graphs checked against an independent liveness
 * computation written here. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/graph.h"
#include "runtime/status.h"

#define NONE ((size_t)-1)

static void test_chain_reuses(void **state)
{
    (void)state;
    graph *g = g_new();
    const int64_t s[2] = {4, 8}; /* 128 bytes */
    int t = g_input(g, "x", G_F32, 2, s);
    int ts[4];
    for (int i = 0; i < 4; i++)
        t = ts[i] = g_relu(g, t);
    int order[4];
    assert_int_equal(g_schedule(g, order), 4);
    g_memplan p;
    assert_int_equal(g_plan_memory(g, order, 4, 64, &p), 0);
    /* live: [0,1] [1,2] [2,3] [3,3]: two buffers ping-pong */
    assert_int_equal(p.naive_bytes, 4 * 128);
    assert_int_equal(p.arena_bytes, 2 * 128);
    assert_true(p.offset[ts[0]] != p.offset[ts[1]]);
    assert_int_equal(p.offset[ts[0]], p.offset[ts[2]]);
    assert_int_equal(p.offset[ts[1]], p.offset[ts[3]]);
    assert_true(p.offset[0] == NONE);
    g_memplan_free(&p);

    /* alignment rounds each 100-byte tensor up to 128 */
    graph *h = g_new();
    const int64_t s25[1] = {25};
    int u = g_input(h, "x", G_F32, 1, s25);
    int u1 = g_relu(h, u), u2 = g_relu(h, u1);
    (void)u2;
    assert_int_equal(g_schedule(h, order), 2);
    assert_int_equal(g_plan_memory(h, order, 2, 128, &p), 0);
    assert_int_equal(p.naive_bytes, 256);
    assert_int_equal(p.arena_bytes, 256);
    assert_int_equal(p.offset[u1] % 128, 0);
    assert_int_equal(p.offset[u2] % 128, 0);
    assert_int_not_equal(p.offset[u1], p.offset[u2]);
    g_memplan_free(&p);
    assert_int_not_equal(g_plan_memory(h, order, 2, 48, &p), 0); /* not a power of two */
    g_free(h);
    g_free(g);
}

static void test_views_and_outputs(void **state)
{
    (void)state;
    graph *g = g_new();
    const int64_t s[2] = {4, 8}, flat[1] = {32};
    int x = g_input(g, "x", G_F32, 2, s);
    int a = g_relu(g, x);              /* step 0 */
    int r = g_reshape(g, a, 1, flat);  /* step 1: view of a */
    int b = g_exp(g, r);               /* step 2 reads a through r */
    int c = g_relu(g, b);              /* step 3 */
    g_mark_output(g, c);
    int order[4];
    assert_int_equal(g_schedule(g, order), 4);
    g_memplan p;
    assert_int_equal(g_plan_memory(g, order, 4, 16, &p), 0);
    /* a [0,2], b [2,3], c [3,end]: a and b must differ, c may take a's place */
    assert_int_not_equal(p.offset[a], p.offset[b]);
    assert_int_equal(p.offset[r], p.offset[a]);
    assert_int_equal(p.arena_bytes, 2 * 128);
    assert_int_equal(p.naive_bytes, 3 * 128);
    g_memplan_free(&p);

    /* an output stays live to the end: marking a blocks c from reusing it */
    g_mark_output(g, a);
    assert_int_equal(g_plan_memory(g, order, 4, 16, &p), 0);
    assert_int_equal(p.arena_bytes, 3 * 128);
    g_memplan_free(&p);

    /* a view of an input is not in the arena */
    int rx = g_reshape(g, x, 1, flat);
    int n = g_schedule(g, order);
    assert_true(n >= 0);
    int order2[8];
    g_mark_output(g, g_relu(g, rx));
    n = g_schedule(g, order2);
    assert_int_equal(g_plan_memory(g, order2, n, 16, &p), 0);
    assert_true(p.offset[rx] == NONE);
    g_memplan_free(&p);
    g_free(g);
}

/* ---- random graphs ---- */

static unsigned rng_state;
static int rnd(int n) /* uniform-ish in [0, n) */
{
    rng_state = rng_state * 1103515245u + 12345u;
    return (int)((rng_state >> 8) % (unsigned)n);
}

static int bcast_ok(const g_tensor *a, const g_tensor *b)
{
    for (int i = 1; i <= a->ndim && i <= b->ndim; i++) {
        int64_t da = a->shape[a->ndim - i], db = b->shape[b->ndim - i];
        if (da != db && da != 1 && db != 1)
            return 0;
    }
    return 1;
}

static int pick(int *pool, int n) { return pool[rnd(n)]; }

/* One random op on the pool; returns the new tensor or -1 if the choice did
 * not apply (no node appended). */
static int random_op(graph *g, int *pool, int np)
{
    int a = pick(pool, np);
    const g_tensor *A = &g->tensors[a];
    int64_t last = A->shape[A->ndim - 1];
    switch (rnd(12)) {
    case 0:
    case 1: { /* broadcasting binary with another pool tensor, or a row param */
        int b = pick(pool, np);
        if (!bcast_ok(A, &g->tensors[b])) {
            int64_t s[1] = {last};
            b = g_param(g, "row", 1, s);
        }
        int r = rnd(4);
        return r == 0 ? g_add(g, a, b) : r == 1 ? g_sub(g, b, a) : r == 2 ? g_mul(g, a, b)
                                                                         : g_div(g, a, b);
    }
    case 2:
        return rnd(2) ? g_gelu(g, a) : g_scale(g, a, 0.5f);
    case 3:
    case 4: { /* matmul with a fresh weight, sometimes biased */
        if (A->ndim < 2)
            return -1;
        int64_t n = 1 + rnd(48), ws[2] = {last, n}, bs[1] = {n};
        int w = g_param(g, "w", 2, ws);
        int bias = rnd(2) ? g_param(g, "b", 1, bs) : -1;
        return g_matmul(g, a, w, bias, 0, 0);
    }
    case 5: { /* reshape view: flatten all, or merge the last two dims */
        if (A->ndim >= 2 && rnd(2)) {
            int64_t s[G_MAX_DIMS];
            memcpy(s, A->shape, sizeof s);
            s[A->ndim - 2] *= s[A->ndim - 1];
            return g_reshape(g, a, A->ndim - 1, s);
        }
        int64_t s[2] = {-1, last};
        return g_reshape(g, a, 2, s);
    }
    case 6: { /* slice */
        int ax = rnd(A->ndim);
        int64_t n = A->shape[ax];
        int64_t st = rnd((int)n), en = st + 1 + rnd((int)(n - st));
        return g_slice(g, a, ax, st, en, 1 + rnd(2));
    }
    case 7: { /* concat with itself along a random axis */
        int ax = rnd(A->ndim);
        int xs[3] = {a, a, a};
        return g_concat(g, 2 + rnd(2), xs, ax);
    }
    case 8: { /* reduction */
        int r = rnd(3);
        return r == 0 ? g_sum(g, a) : r == 1 ? g_mean(g, a) : g_max(g, a);
    }
    case 9:
        return g_softmax(g, a, A->ndim >= 2 ? rnd(2) : 0);
    case 10: { /* a "backward" node appended by a pass, with role GRAD */
        int t = g_append_node(g, G_OP_MUL, 2, (const int[]){a, a}, NULL, G_F32, A->ndim,
                              A->shape);
        if (t >= 0)
            g->tensors[t].role = G_ROLE_GRAD;
        return t;
    }
    default: {
        int64_t s[1] = {last};
        int gm = g_param(g, "gamma", 1, s), bt = g_param(g, "beta", 1, s);
        return g_layernorm(g, a, gm, bt, 1e-5f);
    }
    }
}

static int root_of(const graph *g, int t)
{
    while (g->tensors[t].alias_of >= 0)
        t = g->tensors[t].alias_of;
    return t;
}

typedef struct stats {
    double saving_sum;
    int graphs, tensors;
} stats;

static void check_one(unsigned seed, size_t align, stats *st)
{
    rng_state = seed;
    graph *g = g_new();
    int pool[256], np = 0;
    int n_in = 1 + rnd(3);
    for (int i = 0; i < n_in; i++) {
        int nd = 2 + rnd(3);
        int64_t s[4];
        for (int d = 0; d < nd; d++)
            s[d] = 1 + rnd(24);
        pool[np++] = g_input(g, "x", G_F32, nd, s);
    }
    int steps = 10 + rnd(60);
    for (int i = 0; i < steps && np < 256; i++) {
        int t = random_op(g, pool, np);
        if (t < 0) {
            if (g->n_errors)
                fail_msg("seed %u: builder failed: %s", seed, cc_last_error());
            continue;
        }
        /* keep only small tensors around so shapes don't explode */
        if (g_numel(g, t) <= 1 << 16)
            pool[np++] = t;
        else
            g_mark_output(g, t);
    }
    for (int t = 0; t < g->n_tensors; t++)
        if (g->tensors[t].producer >= 0 && rnd(8) == 0)
            g_mark_output(g, t);

    int *order = malloc((size_t)(g->n_nodes + 1) * sizeof *order);
    int n = g_schedule(g, order);
    assert_true(n >= 0);
    g_memplan p;
    if (g_plan_memory(g, order, n, align, &p) != 0)
        fail_msg("seed %u: %s", seed, cc_last_error());
    assert_int_equal(p.n_tensors, g->n_tensors);

    /* independent liveness: first write and last read per storage root */
    int nt = g->n_tensors;
    int *lo = malloc((size_t)nt * sizeof *lo), *hi = malloc((size_t)nt * sizeof *hi);
    for (int t = 0; t < nt; t++)
        lo[t] = hi[t] = -1;
    for (int s = 0; s < n; s++) {
        const g_node *nd = &g->nodes[order[s]];
        int r = root_of(g, nd->out);
        if (lo[r] < 0)
            lo[r] = s;
        if (hi[r] < s)
            hi[r] = s;
        for (int k = 0; k < nd->n_in; k++) {
            int ri = root_of(g, nd->in[k]);
            if (hi[ri] < s)
                hi[ri] = s;
        }
    }
    for (int t = 0; t < nt; t++)
        if (g->tensors[t].is_output)
            hi[root_of(g, t)] = n;

    size_t largest = 0, naive = 0;
    for (int t = 0; t < nt; t++) {
        const g_tensor *T = &g->tensors[t];
        int arena = (T->role == G_ROLE_ACT || T->role == G_ROLE_GRAD) && T->alias_of < 0 &&
                    lo[t] >= 0;
        size_t sz = g_nbytes(g, t);
        if (T->role == G_ROLE_INPUT || T->role == G_ROLE_PARAM) {
            assert_true(p.offset[t] == NONE);
            continue;
        }
        if (T->alias_of >= 0) {
            /* views share their root's storage */
            assert_true(p.offset[t] == p.offset[root_of(g, t)]);
            continue;
        }
        if (!arena)
            continue;
        if (p.offset[t] == NONE)
            fail_msg("seed %u: scheduled tensor %d has no offset", seed, t);
        if (p.offset[t] % align)
            fail_msg("seed %u: tensor %d offset %zu not aligned to %zu", seed, t, p.offset[t],
                     align);
        if (p.offset[t] + sz > p.arena_bytes)
            fail_msg("seed %u: tensor %d ends past the arena", seed, t);
        if (sz > largest)
            largest = sz;
        naive += (sz + align - 1) / align * align;
        for (int u = 0; u < t; u++) {
            const g_tensor *U = &g->tensors[u];
            if (!((U->role == G_ROLE_ACT || U->role == G_ROLE_GRAD) && U->alias_of < 0 &&
                  lo[u] >= 0))
                continue;
            int time = lo[t] <= hi[u] && lo[u] <= hi[t];
            size_t su = g_nbytes(g, u);
            int bytes = p.offset[t] < p.offset[u] + su && p.offset[u] < p.offset[t] + sz;
            if (time && bytes)
                fail_msg("seed %u: tensors %d [%d,%d] and %d [%d,%d] overlap in time and "
                         "bytes (%zu+%zu vs %zu+%zu)",
                         seed, t, lo[t], hi[t], u, lo[u], hi[u], p.offset[t], sz, p.offset[u],
                         su);
        }
        st->tensors++;
    }
    assert_int_equal(p.naive_bytes, naive);
    assert_true(p.arena_bytes <= p.naive_bytes);
    assert_true(p.arena_bytes >= largest);
    if (naive > 0) {
        st->saving_sum += 1.0 - (double)p.arena_bytes / (double)naive;
        st->graphs++;
    }
    g_memplan_free(&p);
    free(lo);
    free(hi);
    free(order);
    g_free(g);
}

static void test_random_graphs(void **state)
{
    (void)state;
    stats st = {0};
    const size_t aligns[3] = {4, 64, 256};
    for (unsigned seed = 1; seed <= 600; seed++)
        check_one(seed * 2654435761u, aligns[seed % 3], &st);
    assert_true(st.graphs > 500);
    printf("planner: %d random graphs, %d arena tensors, average saving %.1f%% vs naive\n",
           st.graphs, st.tensors, 100.0 * st.saving_sum / st.graphs);
}


/* A realistic shape: a stack of pre-norm transformer blocks (ViT-B/32-like
 * widths, small batch). Only the final output is kept, so activations of
 * finished blocks are dead and the arena should be a small fraction of the
 * naive sum. */
static void test_transformer_stack(void **state)
{
    (void)state;
    const int64_t B = 2, T = 50, C = 768, L = 12;
    graph *g = g_new();
    const int64_t xs[3] = {B, T, C}, cs[1] = {C}, wq[2] = {C, 3 * C}, wo[2] = {C, C},
                  w1[2] = {C, 4 * C}, w2[2] = {4 * C, C}, b3[1] = {3 * C}, b4[1] = {4 * C};
    int h = g_input(g, "x", G_F32, 3, xs);
    for (int l = 0; l < L; l++) {
        int ln1 = g_layernorm(g, h, g_param(g, "g", 1, cs), g_param(g, "b", 1, cs), 1e-5f);
        int qkv = g_matmul(g, ln1, g_param(g, "wqkv", 2, wq), g_param(g, "bqkv", 1, b3), 0, 0);
        int q = g_slice(g, qkv, -1, 0, C, 1), k = g_slice(g, qkv, -1, C, 2 * C, 1);
        int v = g_slice(g, qkv, -1, 2 * C, 3 * C, 1);
        int a = g_attention(g, q, k, v, 12, 0);
        a = g_matmul(g, a, g_param(g, "wo", 2, wo), g_param(g, "bo", 1, cs), 0, 0);
        h = g_add(g, h, a);
        int ln2 = g_layernorm(g, h, g_param(g, "g", 1, cs), g_param(g, "b", 1, cs), 1e-5f);
        int m = g_matmul(g, ln2, g_param(g, "w1", 2, w1), g_param(g, "b1", 1, b4), 0, 0);
        m = g_quickgelu(g, m);
        m = g_matmul(g, m, g_param(g, "w2", 2, w2), g_param(g, "b2", 1, cs), 0, 0);
        h = g_add(g, h, m);
    }
    g_mark_output(g, h);
    assert_int_equal(g->n_errors, 0);
    int *order = malloc((size_t)g->n_nodes * sizeof *order);
    int n = g_schedule(g, order);
    assert_int_equal(n, g->n_nodes);
    g_memplan p;
    assert_int_equal(g_plan_memory(g, order, n, 256, &p), 0);
    /* the largest live set is inside one MLP: [B,T,4C] hidden plus a few [B,T,C] */
    size_t act = (size_t)(B * T * C * 4), hidden = 4 * act;
    assert_true(p.arena_bytes >= hidden + act);
    assert_true(p.arena_bytes <= 2 * hidden + 4 * act);
    printf("planner: %lld-block transformer [%lld, %lld, %lld]: arena %.2f MiB vs naive %.2f MiB "
           "(saving %.1f%%)\n",
           (long long)L, (long long)B, (long long)T, (long long)C, p.arena_bytes / 1048576.0,
           p.naive_bytes / 1048576.0, 100.0 * (1.0 - (double)p.arena_bytes / p.naive_bytes));
    g_memplan_free(&p);
    free(order);
    g_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chain_reuses),
        cmocka_unit_test(test_views_and_outputs),
        cmocka_unit_test(test_random_graphs),
        cmocka_unit_test(test_transformer_stack),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
