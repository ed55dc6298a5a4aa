/* backends/backend.h on both backends: opening by device string, the same
 * graph giving the same result through "ref" and the default OpenCL device,
 * the errors the interface promises, and one AdamW step (with clipping off
 * and a clamp) that must agree between the host and the device optimizer. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "tests/common/seeded.h"
#include "runtime/status.h"

#define ROWS 5
#define COLS 8

static void test_open_names(void **state)
{
    (void)state;
    backend *r = NULL, *d = NULL;
    assert_int_equal(backend_open("ref", 0, &r), CC_OK);
    assert_string_equal(backend_name(r), "reference backend (plain C)");
    assert_null(backend_device(r));
    assert_int_equal(backend_finish(r), CC_OK);
    assert_int_equal(backend_open(NULL, 0, &d), CC_OK);
    assert_non_null(backend_device(d));
    assert_non_null(strstr(backend_name(d), backend_device(d)->device_name));
    backend_close(d);
    backend_close(r);
    assert_int_not_equal(backend_open("no such device 42", 0, &d), CC_OK);
    assert_null(d);
}

/* y = gelu(x @ W^T + b): x input [ROWS, COLS], W param [COLS, COLS]. */
typedef struct mlp {
    graph *g;
    int x, w, b, y;
} mlp;

static mlp build_mlp(void)
{
    mlp m = {g_new(), 0, 0, 0, 0};
    assert_non_null(m.g);
    int64_t xs[2] = {ROWS, COLS}, ws[2] = {COLS, COLS}, bs[1] = {COLS};
    m.x = g_input(m.g, "x", G_F32, 2, xs);
    m.w = g_param(m.g, "w", 2, ws);
    m.b = g_param(m.g, "b", 1, bs);
    m.y = g_gelu(m.g, g_matmul(m.g, m.x, m.w, m.b, 0, 1));
    assert_true(m.y >= 0);
    g_mark_output(m.g, m.y);
    return m;
}

static void run_mlp(const char *device, const mlp *m, float *y)
{
    backend *be = NULL;
    backend_plan *p = NULL;
    assert_int_equal(backend_open(device, 0, &be), CC_OK);
    for (int i = 0; i < m->g->n_nodes; i++)
        assert_int_equal(backend_supports_op(be, m->g, i), 1);
    assert_int_equal(backend_plan_create(be, m->g, &p), CC_OK);
    int ts[3] = {m->x, m->w, m->b};
    for (int i = 0; i < 3; i++) {
        int64_t n = g_numel(m->g, ts[i]);
        float *v = seeded(n, 77u + (uint32_t)i);
        assert_int_equal(backend_plan_write(p, ts[i], v, (size_t)n * sizeof *v), CC_OK);
        /* whole tensors only */
        assert_int_equal(backend_plan_write(p, ts[i], v, sizeof *v * (size_t)(n - 1)), CC_ERR_SHAPE);
        free(v);
    }
    assert_int_equal(backend_plan_run(p), CC_OK);
    assert_int_equal(backend_plan_read(p, m->y, y, g_nbytes(m->g, m->y)), CC_OK);
    double *sec = calloc((size_t)m->g->n_nodes, sizeof *sec);
    assert_non_null(sec);
    assert_int_equal(backend_plan_node_seconds(p, sec), CC_OK);
    free(sec);
    backend_plan_free(p);
    backend_close(be);
}

static void test_same_result_on_both(void **state)
{
    (void)state;
    mlp m = build_mlp();
    float ref[ROWS * COLS], dev[ROWS * COLS];
    run_mlp("ref", &m, ref);
    run_mlp(NULL, &m, dev);
    double err = 0, big = 0;
    for (int i = 0; i < ROWS * COLS; i++) {
        err = fmax(err, fabs((double)dev[i] - ref[i]));
        big = fmax(big, fabs((double)ref[i]));
    }
    assert_true(big > 0.1);
    assert_true(err <= 1e-5 * big);
    g_free(m.g);
}

static void test_ref_read_before_run(void **state)
{
    (void)state;
    mlp m = build_mlp();
    backend *be = NULL;
    backend_plan *p = NULL;
    assert_int_equal(backend_open("ref", 0, &be), CC_OK);
    assert_int_equal(backend_plan_create(be, m.g, &p), CC_OK);
    float y[ROWS * COLS];
    assert_int_not_equal(backend_plan_read(p, m.y, y, sizeof y), CC_OK);
    assert_int_not_equal(backend_plan_run(p), CC_OK); /* x, W, b never written */
    backend_plan_free(p);
    backend_close(be);
    g_free(m.g);
}

/* One step of AdamW on param w with "gradient" g (an input the host writes,
 * so both backends step on the same numbers); out = w + g gives both
 * storage in the plan. Returns the new w, m, v and the gradient norm. */
static void adamw_step(const char *device, float *w_out, float *m_out, float *v_out, float *norm)
{
    graph *g = g_new();
    int64_t s[2] = {ROWS, COLS};
    int w = g_param(g, "proj.weight", 2, s);
    int gr = g_input(g, "grad", G_F32, 2, s);
    int out = g_add(g, w, gr);
    g_mark_output(g, out);
    backend *be = NULL;
    backend_plan *p = NULL;
    backend_optim *o = NULL;
    assert_int_equal(backend_open(device, 0, &be), CC_OK);
    assert_int_equal(backend_plan_create(be, g, &p), CC_OK);
    float *wv = seeded(ROWS * COLS, 5u), *gv = seeded(ROWS * COLS, 9u);
    assert_int_equal(backend_plan_write(p, w, wv, sizeof(float) * ROWS * COLS), CC_OK);
    assert_int_equal(backend_plan_write(p, gr, gv, sizeof(float) * ROWS * COLS), CC_OK);
    assert_int_equal(backend_optim_create(p, NULL, 1, &o), CC_OK);
    assert_int_equal(backend_optim_add(o, gr, w), CC_ERR_INVALID); /* not a PARAM */
    assert_int_equal(backend_optim_add(o, w, gr), CC_OK);
    assert_int_equal(backend_optim_set_clamp(o, 0, -0.5f, 0.5f), CC_OK);
    assert_int_equal(backend_optim_set_clamp(o, 1, -0.5f, 0.5f), CC_ERR_INVALID);
    assert_int_equal(backend_plan_run(p), CC_OK);
    assert_int_equal(backend_optim_accumulate(o), CC_OK);
    assert_int_equal(backend_optim_step(o, 0.1, norm), CC_OK);
    assert_int_equal(backend_optim_steps(o), 1);
    assert_int_equal(backend_plan_read(p, w, w_out, sizeof(float) * ROWS * COLS), CC_OK);
    assert_int_equal(backend_optim_get_state(o, 0, m_out, v_out), CC_OK);
    free(wv);
    free(gv);
    backend_optim_free(o);
    backend_plan_free(p);
    backend_close(be);
    g_free(g);
}

static void test_optimizer_same_on_both(void **state)
{
    (void)state;
    enum { N = ROWS * COLS };
    float wr[N], mr[N], vr[N], wd[N], md[N], vd[N], nr = 0, nd = 0;
    adamw_step("ref", wr, mr, vr, &nr);
    adamw_step(NULL, wd, md, vd, &nd);
    assert_true(fabsf(nr - nd) <= 1e-5f * nr);
    int clamped = 0;
    for (int i = 0; i < N; i++) {
        assert_true(fabsf(wr[i] - wd[i]) <= 1e-6f);
        assert_true(fabsf(mr[i] - md[i]) <= 1e-6f);
        assert_true(fabsf(vr[i] - vd[i]) <= 1e-6f);
        assert_true(wr[i] >= -0.5f && wr[i] <= 0.5f);
        clamped += fabsf(wr[i]) == 0.5f;
    }
    assert_true(clamped > 0); /* the seeded weights reach past the clamp */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_names),
        cmocka_unit_test(test_same_result_on_both),
        cmocka_unit_test(test_ref_read_before_run),
        cmocka_unit_test(test_optimizer_same_on_both),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
