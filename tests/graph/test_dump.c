/* Text and Graphviz dumps of a two-layer MLP; the DOT output is rendered by
 * `dot` when it is installed. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "graph/graph.h"

/* x[8,16] @ W1[16,32] + b1 -> gelu -> @ W2[32,4] + b2 */
static graph *mlp(void)
{
    graph *g = g_new();
    const int64_t xs[2] = {8, 16}, w1s[2] = {16, 32}, b1s[1] = {32}, w2s[2] = {32, 4},
                  b2s[1] = {4};
    int x = g_input(g, "x", G_F32, 2, xs);
    int w1 = g_param(g, "fc1.weight", 2, w1s), b1 = g_param(g, "fc1.bias", 1, b1s);
    int w2 = g_param(g, "fc2.weight", 2, w2s), b2 = g_param(g, "fc2.bias", 1, b2s);
    int h = g_matmul(g, x, w1, b1, 0, 0);
    g_set_name(g, h, "fc1");
    h = g_gelu(g, h);
    int y = g_matmul(g, h, w2, b2, 0, 0);
    g_set_name(g, y, "logits \"out\""); /* a quote to exercise DOT escaping */
    g_mark_output(g, y);
    assert_int_equal(g->n_errors, 0);
    return g;
}

static char *slurp(FILE *f)
{
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *s = calloc((size_t)n + 1, 1);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    return s;
}

static void test_text(void **state)
{
    (void)state;
    graph *g = mlp();
    FILE *f = tmpfile();
    assert_int_equal(g_dump_text(g, f), 0);
    char *s = slurp(f);
    fclose(f);
    /* every op, the names, and the shapes flowing between them */
    assert_non_null(strstr(s, "matmul 'fc1'"));
    assert_non_null(strstr(s, "gelu"));
    assert_non_null(strstr(s, "matmul 'logits"));
    assert_non_null(strstr(s, "fc1.weight"));
    assert_non_null(strstr(s, "[8, 16]"));
    assert_non_null(strstr(s, "-> %5 f32 [8, 32]"));
    assert_non_null(strstr(s, "[8, 4] [output]"));
    /* one line per live node: 3 nodes */
    int lines = 0;
    for (const char *p = s; (p = strstr(p, "  #")); p++)
        lines++;
    assert_int_equal(lines, 3);
    free(s);

    /* dead nodes are not listed */
    g->nodes[1].dead = 1;
    f = tmpfile();
    assert_int_equal(g_dump_text(g, f), 0);
    s = slurp(f);
    fclose(f);
    assert_null(strstr(s, "gelu"));
    free(s);
    g_free(g);
}

static int have_dot(void)
{
    return system("command -v dot >/dev/null 2>&1") == 0;
}

static void test_dot(void **state)
{
    (void)state;
    graph *g = mlp();
    char dir[] = "/tmp/clipcl_dotXXXXXX";
    assert_non_null(mkdtemp(dir));
    char dotp[64], svgp[64], cmd[256];
    snprintf(dotp, sizeof dotp, "%s/g.dot", dir);
    snprintf(svgp, sizeof svgp, "%s/g.svg", dir);
    FILE *f = fopen(dotp, "w");
    assert_non_null(f);
    assert_int_equal(g_dump_dot(g, f), 0);
    fclose(f);
    f = fopen(dotp, "r");
    char *s = slurp(f);
    fclose(f);
    assert_non_null(strstr(s, "digraph"));
    assert_non_null(strstr(s, "logits \\\"out\\\""));  /* escaped quote */
    assert_non_null(strstr(s, "shape=box"));
    assert_non_null(strstr(s, "shape=ellipse"));
    assert_non_null(strstr(s, "label=\"[8, 32]\""));    /* edge shape label */
    free(s);

    if (!have_dot()) {
        remove(dotp);
        rmdir(dir);
        g_free(g);
        skip();
    }
    snprintf(cmd, sizeof cmd, "dot -Tsvg '%s' -o '%s'", dotp, svgp);
    assert_int_equal(system(cmd), 0);
    f = fopen(svgp, "r");
    assert_non_null(f);
    s = slurp(f);
    fclose(f);
    assert_non_null(strstr(s, "<svg"));
    assert_non_null(strstr(s, ">matmul<"));
    assert_non_null(strstr(s, ">gelu<"));
    assert_non_null(strstr(s, ">fc1<"));
    assert_non_null(strstr(s, ">fc1.weight<"));
    assert_non_null(strstr(s, "logits &quot;out&quot;"));
    free(s);
    remove(dotp);
    remove(svgp);
    rmdir(dir);
    g_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_dot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
