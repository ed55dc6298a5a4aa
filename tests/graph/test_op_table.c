/* The op table (graph/op_table.c): row i describes op i, every row is
 * complete, and g_append_node() applies the rows' arity and output checks to
 * nodes appended directly (as passes do). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "graph/graph.h"
#include "graph/op_table.h"
#include "runtime/status.h"

#define SHAPE(...) ((const int64_t[]){__VA_ARGS__})

static void test_rows_in_enum_order(void **state)
{
    (void)state;
    for (int i = 0; i < G_OP_COUNT; i++) {
        const g_op_row *r = g_op_info((g_op)i);
        assert_non_null(r);
        assert_int_equal(r->op, i);
        assert_non_null(r->name);
        assert_non_null(r->infer);
        assert_true(r->min_in >= 1 && r->min_in <= r->max_in && r->max_in <= G_MAX_INPUTS);
        assert_string_equal(g_op_name((g_op)i), r->name);
        for (int j = 0; j < i; j++)
            assert_string_not_equal(r->name, g_op_info((g_op)j)->name);
    }
    assert_null(g_op_info(G_OP_COUNT));
    assert_null(g_op_info((g_op)-1));
    assert_string_equal(g_op_name(G_OP_COUNT), "unknown");
}

/* The ops the contract says have no gradient have no rule; the rest do. */
static void test_backward_rules(void **state)
{
    (void)state;
    assert_null(g_op_info(G_OP_MAX)->backward);
    assert_null(g_op_info(G_OP_ARGMAX)->backward);
    assert_null(g_op_info(G_OP_ATTENTION_GRAD)->backward);
    assert_non_null(g_op_info(G_OP_SILU)->backward);
    assert_non_null(g_op_info(G_OP_LOG)->backward);
}

static void test_flops(void **state)
{
    (void)state;
    graph *g = g_new();
    int a = g_input(g, "a", G_F32, 2, SHAPE(3, 7)), b = g_param(g, "b", 2, SHAPE(7, 5));
    int c = g_matmul(g, a, b, -1, 0, 0);
    int r = g_relu(g, c);
    assert_true(r >= 0);
    assert_true(g_node_flops(g, g->tensors[c].producer) == 2.0 * 3 * 5 * 7);
    assert_true(g_node_flops(g, g->tensors[r].producer) == 0.0);
    assert_true(g_node_flops(g, 99) == 0.0);
    g_free(g);
}

/* A node whose recorded output disagrees with its op fails at append time,
 * naming the op, with no node added. */
static void test_append_checks_output(void **state)
{
    (void)state;
    graph *g = g_new();
    int x = g_input(g, "x", G_F32, 2, SHAPE(3, 7));
    int n0 = g->n_nodes;
    assert_int_equal(g_append_node(g, G_OP_RELU, 1, &x, NULL, G_F32, 2, SHAPE(7, 3)), -1);
    assert_non_null(strstr(cc_last_error(), "g_append_node(relu): output f32 [7, 3], expected [3, 7]"));
    assert_int_equal(g_append_node(g, G_OP_SUM, 1, &x, NULL, G_F32, 1, SHAPE(7)), -1);
    assert_int_equal(g_append_node(g, G_OP_ARGMAX, 1, &x, NULL, G_F32, 1, SHAPE(3)), -1);
    assert_int_equal(g_append_node(g, G_OP_ADD, 1, &x, NULL, G_F32, 2, SHAPE(3, 7)), -1);
    assert_non_null(strstr(cc_last_error(), "1 inputs, expected 2..2"));
    assert_int_equal(g->n_nodes, n0);
    /* the same nodes with the right outputs go in */
    assert_true(g_append_node(g, G_OP_RELU, 1, &x, NULL, G_F32, 2, SHAPE(3, 7)) >= 0);
    assert_true(g_append_node(g, G_OP_ARGMAX, 1, &x, NULL, G_I32, 1, SHAPE(3)) >= 0);
    assert_true(g_append_node(g, G_OP_ADD, 2, (const int[]){x, x}, NULL, G_F32, 2, SHAPE(3, 7)) >= 0);
    /* the unchecked path takes anything well-formed, for backend tests */
    assert_true(g_append_node_unchecked(g, G_OP_RELU, 1, &x, NULL, G_F32, 2, SHAPE(7, 3)) >= 0);
    g_free(g);
}

/* g_op_append infers the output from the row; ops whose output shape is a
 * parameter refuse it and name g_append_node. */
static void test_op_append_infers(void **state)
{
    (void)state;
    graph *g = g_new();
    int a = g_input(g, "a", G_F32, 2, SHAPE(3, 7)), b = g_input(g, "b", G_F32, 1, SHAPE(7));
    int s = g_op_append(g, G_OP_ADD, 2, (const int[]){a, b}, NULL);
    assert_true(s >= 0);
    assert_int_equal(g->tensors[s].ndim, 2);
    assert_int_equal(g->tensors[s].shape[0], 3);
    assert_int_equal(g->tensors[s].shape[1], 7);
    int m = g_op_append(g, G_OP_ARGMAX, 1, &a, NULL);
    assert_true(m >= 0);
    assert_int_equal(g->tensors[m].dtype, G_I32);
    assert_int_equal(g->tensors[m].shape[0], 3);
    assert_int_equal(g_op_append(g, G_OP_ADD, 2, (const int[]){a, g_input(g, "c", G_F32, 1, SHAPE(5))}, NULL), -1);
    assert_non_null(strstr(cc_last_error(), "add: inputs [3, 7], [5]: expected broadcastable inputs"));
    assert_int_equal(g_op_append(g, G_OP_RESHAPE, 1, &a, NULL), -1);
    assert_non_null(strstr(cc_last_error(), "g_append_node"));
    g_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows_in_enum_order),
        cmocka_unit_test(test_backward_rules),
        cmocka_unit_test(test_flops),
        cmocka_unit_test(test_append_checks_output),
        cmocka_unit_test(test_op_append_infers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
