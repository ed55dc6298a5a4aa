/* clipcl selftest: the whole path from builder calls to kernel launches on
 * the selected device, judged by the reference backend. A two-layer MLP with
 * a LayerNorm and a softmax head: small enough to run anywhere in a second,
 * but it touches the planner, the GEMM, broadcasting, row ops and the cache. */
#include "backends/backend.h"
#include "graph/graph.h"
#include "runtime/rng.h"
#include "runtime/rt.h"
#include "tools/cmd.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "runtime/settings.h"

const char cmd_selftest_usage[] =
    "usage: clipcl selftest [--device D] [--dot FILE] [--batch N]\n\n"
    "Builds a two-layer MLP graph (x -> LayerNorm -> Linear -> GELU -> Linear\n"
    "-> softmax), plans it, runs it on the OpenCL device and on the plain-C\n"
    "reference backend, and prints the planned arena and the largest\n"
    "difference. Exits 1 if they disagree.\n\n"
    "  --device D   gpu, cpu, P:D or part of a device name (default: $CLIPCL_DEVICE,\n"
    "               else the first GPU, else the first CPU)\n"
    "  --dot FILE   also write the graph as Graphviz DOT (render: dot -Tsvg FILE)\n"
    "  --batch N    rows of x (default 37, deliberately not a tile multiple)\n";

enum { IN_DIM = 96, HIDDEN = 384, CLASSES = 10 };

typedef struct mlp {
    graph *g;
    int x, ln_g, ln_b, w1, b1, w2, b2, probs;
} mlp;

static int build_mlp(mlp *m, int64_t batch)
{
    graph *g = g_new();
    if (!g)
        return cc_fail(CC_ERR_NOMEM, "selftest: out of memory");
    m->g = g;
    int64_t xs[2] = {batch, IN_DIM}, lns[1] = {IN_DIM};
    int64_t w1s[2] = {HIDDEN, IN_DIM}, b1s[1] = {HIDDEN};
    int64_t w2s[2] = {CLASSES, HIDDEN}, b2s[1] = {CLASSES};
    m->x = g_input(g, "x", G_F32, 2, xs);
    m->ln_g = g_param(g, "ln.weight", 1, lns);
    m->ln_b = g_param(g, "ln.bias", 1, lns);
    m->w1 = g_param(g, "fc1.weight", 2, w1s);
    m->b1 = g_param(g, "fc1.bias", 1, b1s);
    m->w2 = g_param(g, "fc2.weight", 2, w2s);
    m->b2 = g_param(g, "fc2.bias", 1, b2s);
    /* Linear layers store W as [out, in] like PyTorch, hence trans_b. */
    int h = g_layernorm(g, m->x, m->ln_g, m->ln_b, 1e-5f);
    h = g_matmul(g, h, m->w1, m->b1, 0, 1);
    h = g_gelu(g, h);
    h = g_matmul(g, h, m->w2, m->b2, 0, 1);
    m->probs = g_softmax(g, h, 0);
    if (m->probs < 0)
        return CC_ERR_SHAPE;
    g_set_name(g, m->probs, "probs");
    g_mark_output(g, m->probs);
    return CC_OK;
}

/* Deterministic data in [-1, 1) from the project's seeded generator: the
 * self-test compares backends on the same inputs, whatever their values. */
static float next_uniform(uint64_t *s) { return (float)(2.0 * cc_rng_uniform(s) - 1.0); }

static int run(const char *device, const char *dot_path, int64_t batch)
{
    mlp m = {0};
    backend *oracle = NULL, *dev = NULL;
    backend_plan *oracle_plan = NULL, *plan = NULL;
    void **data = NULL;
    float *got = NULL, *want = NULL;
    int rc = build_mlp(&m, batch);
    if (rc)
        goto done;
    graph *g = m.g;

    if (dot_path) {
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp", dot_path);
        FILE *f = fopen(tmp, "w");
        if (!f) {
            rc = cc_fail(CC_ERR_IO, "cannot write %s", dot_path);
            goto done;
        }
        rc = g_dump_dot(g, f);
        if (fclose(f) != 0 && !rc)
            rc = cc_fail(CC_ERR_IO, "cannot write %s", dot_path);
        if (rc || rename(tmp, dot_path) != 0) {
            remove(tmp);
            if (!rc)
                rc = cc_fail(CC_ERR_IO, "cannot rename %s to %s", tmp, dot_path);
            goto done;
        }
    }

    data = calloc((size_t)g->n_tensors, sizeof *data);
    if (!data) {
        rc = cc_fail(CC_ERR_NOMEM, "selftest: out of memory");
        goto done;
    }
    uint64_t seed = 20261126u;
    for (int t = 0; t < g->n_tensors; t++) {
        if (g->tensors[t].role != G_ROLE_INPUT && g->tensors[t].role != G_ROLE_PARAM)
            continue;
        int64_t n = g_numel(g, t);
        float *v = malloc((size_t)n * sizeof *v);
        if (!v) {
            rc = cc_fail(CC_ERR_NOMEM, "selftest: out of memory");
            goto done;
        }
        for (int64_t i = 0; i < n; i++)
            v[i] = next_uniform(&seed);
        data[t] = v;
    }

    /* the oracle: the reference backend on the same data */
    if ((rc = backend_open("ref", 0, &oracle)) || (rc = backend_plan_create(oracle, g, &oracle_plan)))
        goto done;
    for (int t = 0; t < g->n_tensors; t++)
        if (data[t] && (rc = backend_plan_write(oracle_plan, t, data[t], g_nbytes(g, t))))
            goto done;
    if ((rc = backend_plan_run(oracle_plan)))
        goto done;
    if ((rc = backend_open(device, 0, &dev)))
        goto done;
    /* A cold program cache makes this the slow step: say why on a terminal. */
    const char *progress_env = rt_setting_value(RT_SET_PROGRESS);
    if (isatty(STDERR_FILENO) && !(progress_env && strcmp(progress_env, "0") == 0))
        fprintf(stderr, "clipcl selftest: building the plan (compiles kernels the first time on "
                        "a device; cached afterwards)...\n");
    if ((rc = backend_plan_create(dev, g, &plan)))
        goto done;
    for (int t = 0; t < g->n_tensors; t++)
        if (data[t] && (rc = backend_plan_write(plan, t, data[t], g_nbytes(g, t))))
            goto done;
    if ((rc = backend_plan_run(plan)))
        goto done;
    size_t out_bytes = g_nbytes(g, m.probs);
    got = malloc(out_bytes);
    want = malloc(out_bytes);
    if (!got || !want) {
        rc = cc_fail(CC_ERR_NOMEM, "selftest: out of memory");
        goto done;
    }
    if ((rc = backend_plan_read(plan, m.probs, got, out_bytes)) ||
        (rc = backend_plan_read(oracle_plan, m.probs, want, out_bytes)))
        goto done;

    double max_err = 0.0, max_ref = 0.0;
    int64_t n = g_numel(g, m.probs);
    for (int64_t i = 0; i < n; i++) {
        max_err = fmax(max_err, fabs((double)got[i] - want[i]));
        max_ref = fmax(max_ref, fabs((double)want[i]));
    }
    double rel = max_ref > 0 ? max_err / max_ref : max_err;
    const rt_device_info *di = backend_device(dev);
    if (di)
        printf("device:        %s (%s)\n", di->device_name, rt_device_class_name(di->device_class));
    else
        printf("device:        %s\n", backend_name(dev));
    printf("graph:         %d nodes, %d tensors (two-layer MLP, batch %lld)\n", g->n_nodes,
           g->n_tensors, (long long)batch);
    printf("arena:         %zu bytes planned\n", backend_plan_arena_bytes(plan));
    printf("max |ocl-ref|: %.3g (%.3g of max |ref|)\n", max_err, rel);
    if (dot_path)
        printf("dot:           %s\n", dot_path);
    if (!(rel <= 1e-5)) {
        rc = cc_fail(CC_ERR_INVALID, "selftest: OpenCL and reference disagree: relative error %.3g > 1e-5", rel);
        goto done;
    }
    printf("selftest passed\n");

done:
    free(got);
    free(want);
    backend_plan_free(plan);
    backend_plan_free(oracle_plan);
    backend_close(dev);
    backend_close(oracle);
    if (data && m.g)
        for (int t = 0; t < m.g->n_tensors; t++)
            free(data[t]);
    free(data);
    g_free(m.g);
    return rc;
}

int cmd_selftest(int argc, char **argv)
{
    const char *device = NULL, *dot = NULL, *batch_text = NULL;
    for (int i = 1; i < argc; i++) {
        const char *v;
        int r;
        if ((r = cmd_option_value(argc, argv, &i, "--device", &v)) != 0) {
            if (r < 0)
                return 2;
            device = v;
        } else if ((r = cmd_option_value(argc, argv, &i, "--dot", &v)) != 0) {
            if (r < 0)
                return 2;
            dot = v;
        } else if ((r = cmd_option_value(argc, argv, &i, "--batch", &v)) != 0) {
            if (r < 0)
                return 2;
            batch_text = v;
        } else {
            return cmd_usage_error("selftest", "unknown argument '%s'", argv[i]);
        }
    }
    int64_t batch = 37;
    if (batch_text) {
        char *end = NULL;
        long long b = strtoll(batch_text, &end, 10);
        if (!end || *end || b < 1 || b > 1000000)
            return cmd_usage_error("selftest", "--batch takes a whole number from 1 to 1000000, not '%s'", batch_text);
        batch = b;
    }
    int rc = run(device, dot, batch);
    return rc ? cmd_lib_error(rc) : 0;
}
