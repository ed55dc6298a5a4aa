/* g_schedule: topological order, dead/unreachable nodes skipped, output subsets, cycles. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "graph/graph.h"
#include "runtime/status.h"

static const int64_t S23[2] = {2, 3};

/* Every scheduled node's producers of inputs appear earlier; no duplicates;
 * nothing dead. */
static void assert_topological(const graph *g, const int *order, int n)
{
    int *pos = malloc((size_t)g->n_nodes * sizeof *pos);
    for (int i = 0; i < g->n_nodes; i++)
        pos[i] = -1;
    for (int p = 0; p < n; p++) {
        assert_true(order[p] >= 0 && order[p] < g->n_nodes);
        assert_int_equal(pos[order[p]], -1);
        assert_false(g->nodes[order[p]].dead);
        pos[order[p]] = p;
    }
    for (int p = 0; p < n; p++) {
        const g_node *nd = &g->nodes[order[p]];
        for (int k = 0; k < nd->n_in; k++) {
            int pr = g->tensors[nd->in[k]].producer;
            if (pr >= 0) {
                assert_true(pos[pr] >= 0);
                assert_true(pos[pr] < p);
            }
        }
    }
    free(pos);
}

static int contains(const int *order, int n, int node)
{
    for (int i = 0; i < n; i++)
        if (order[i] == node)
            return 1;
    return 0;
}

static void test_chain_and_diamond(void **state)
{
    (void)state;
    graph *g = g_new();
    int x = g_input(g, "x", G_F32, 2, S23);
    int a = g_relu(g, x);          /* node 0 */
    int b = g_exp(g, a);           /* node 1 */
    int c = g_sigmoid(g, a);       /* node 2 */
    int d = g_add(g, b, c);        /* node 3 */
    (void)d;
    int order[8];
    int n = g_schedule(g, order);
    assert_int_equal(n, 4);
    assert_topological(g, order, n);
    /* untouched graph: creation order */
    for (int i = 0; i < 4; i++)
        assert_int_equal(order[i], i);
    g_free(g);
}

static void test_appended_out_of_order(void **state)
{
    (void)state;
    /* A pass rewires an early node to read a tensor produced later (as fusion
     * does when it appends a replacement); the schedule must reorder. */
    graph *g = g_new();
    int x = g_input(g, "x", G_F32, 2, S23);
    int a = g_relu(g, x);       /* node 0 */
    int b = g_exp(g, a);        /* node 1: will read node 3's output */
    g_mark_output(g, b);
    int fused = g_gelu(g, x);   /* node 2 */
    int f2 = g_scale(g, fused, 2.0f); /* node 3 */
    g->nodes[1].in[0] = f2;
    g->nodes[0].dead = 1;
    int order[8];
    int n = g_schedule(g, order);
    assert_int_equal(n, 3);
    assert_topological(g, order, n);
    assert_int_equal(order[0], 2);
    assert_int_equal(order[1], 3);
    assert_int_equal(order[2], 1);
    g_free(g);
}

static void test_dead_and_unreachable(void **state)
{
    (void)state;
    graph *g = g_new();
    int x = g_input(g, "x", G_F32, 2, S23);
    int a = g_relu(g, x);          /* 0 */
    int unused = g_exp(g, x);      /* 1: nobody needs it */
    int b = g_sigmoid(g, a);       /* 2 */
    int dead = g_gelu(g, b);       /* 3: marked dead */
    int c = g_add(g, a, b);        /* 4 */
    (void)unused;
    (void)dead;
    g->nodes[3].dead = 1;
    int order[8];

    /* no outputs: all live nodes */
    int n = g_schedule(g, order);
    assert_int_equal(n, 4);
    assert_topological(g, order, n);
    assert_false(contains(order, n, 3));
    assert_true(contains(order, n, 1));

    /* with an output: only its ancestors */
    g_mark_output(g, c);
    n = g_schedule(g, order);
    assert_int_equal(n, 3);
    assert_topological(g, order, n);
    assert_false(contains(order, n, 1));
    assert_false(contains(order, n, 3));
    assert_true(contains(order, n, 0) && contains(order, n, 2) && contains(order, n, 4));
    g_free(g);
}

static void test_output_subset(void **state)
{
    (void)state;
    graph *g = g_new();
    int x = g_input(g, "x", G_F32, 2, S23);
    int y = g_input(g, "y", G_F32, 2, S23);
    int a = g_relu(g, x);     /* 0 */
    int b = g_relu(g, y);     /* 1 */
    int a2 = g_exp(g, a);     /* 2 */
    int b2 = g_exp(g, b);     /* 3 */
    int ab = g_add(g, a2, b2); /* 4 */
    (void)ab;
    int order[8];
    g_mark_output(g, a2);
    int n = g_schedule(g, order);
    assert_int_equal(n, 2);
    assert_int_equal(order[0], 0);
    assert_int_equal(order[1], 2);

    g_mark_output(g, b);
    n = g_schedule(g, order);
    assert_int_equal(n, 3);
    assert_topological(g, order, n);
    assert_true(contains(order, n, 1));
    assert_false(contains(order, n, 3));

    /* an input marked as output needs no node */
    graph *h = g_new();
    int z = g_input(h, "z", G_F32, 2, S23);
    g_relu(h, z);
    g_mark_output(h, z);
    assert_int_equal(g_schedule(h, order), 0);
    g_free(h);
    g_free(g);
}

static void test_cycle_and_bad_graphs(void **state)
{
    (void)state;
    graph *g = g_new();
    int x = g_input(g, "x", G_F32, 2, S23);
    int a = g_relu(g, x);    /* 0 */
    int b = g_exp(g, a);     /* 1 */
    g_mark_output(g, b);
    g->nodes[0].in[0] = b;   /* 0 <-> 1 */
    int order[4];
    assert_int_equal(g_schedule(g, order), -1);
    assert_non_null(strstr(cc_last_error(), "cycle"));

    /* an output whose producer chain goes through a dead node can't be computed */
    g->nodes[0].in[0] = x;
    g->nodes[0].dead = 1;
    assert_int_equal(g_schedule(g, order), -1);
    assert_non_null(strstr(cc_last_error(), "dead"));

    graph *e = g_new();
    assert_int_equal(g_schedule(e, order), 0);
    g_free(e);
    g_free(g);
}

static void test_large_random_dag(void **state)
{
    (void)state;
    srand(7);
    graph *g = g_new();
    int x = g_input(g, "x", G_F32, 2, S23);
    int ts[2000];
    int nt = 0;
    ts[nt++] = x;
    for (int i = 0; i < 1999; i++) {
        int a = ts[rand() % nt], b = ts[rand() % nt];
        ts[nt++] = (rand() % 2) ? g_add(g, a, b) : g_relu(g, a);
    }
    for (int i = 0; i < 5; i++)
        g_mark_output(g, ts[1 + rand() % (nt - 1)]);
    /* independent ancestor set: walk tensors from the last one down, since
     * every builder input was created before its output */
    char *need = calloc((size_t)g->n_tensors, 1);
    int n_need = 0;
    for (int t = g->n_tensors - 1; t >= 0; t--) {
        if (g->tensors[t].is_output)
            need[t] = 1;
        int p = g->tensors[t].producer;
        if (!need[t] || p < 0)
            continue;
        n_need++;
        for (int k = 0; k < g->nodes[p].n_in; k++)
            need[g->nodes[p].in[k]] = 1;
    }
    int *order = malloc((size_t)g->n_nodes * sizeof *order);
    int n = g_schedule(g, order);
    assert_int_equal(n, n_need);
    assert_topological(g, order, n);
    for (int p = 0; p < n; p++)
        assert_true(need[g->nodes[order[p]].out]);
    free(need);
    free(order);
    g_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chain_and_diamond),
        cmocka_unit_test(test_appended_out_of_order),
        cmocka_unit_test(test_dead_and_unreachable),
        cmocka_unit_test(test_output_subset),
        cmocka_unit_test(test_cycle_and_bad_graphs),
        cmocka_unit_test(test_large_random_dag),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
