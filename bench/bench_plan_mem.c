/* bench_plan_mem: device memory of an OpenCL plan for a CLIP tower: the
 * activation arena, the plan scratch (private per node + the shared one) and
 * the params, and optionally one run's wall time (CPU time of the process as
 * well, which the load on a shared machine does not inflate).
 *
 * usage: bench_plan_mem MODEL [--batch N] [--tower image|text] [--runs N]
 * Output, one line: plan <tower> batch <N> arena_mb <a> scratch_mb <s>
 *                   params_mb <p> [run_s <wall> cpu_s <cpu>] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "backends/backend.h"
#include "models/clip.h"
#include "runtime/clock.h"
#include "runtime/rt.h"

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
           1e-6 * (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static int fail(const char *what)
{
    fprintf(stderr, "bench_plan_mem: %s: %s\n", what, cc_last_error());
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: %s MODEL [--batch N] [--tower image|text] [--runs N]\n", argv[0]);
        return 2;
    }
    int batch = 32, text = 0, runs = 0;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--batch"))
            batch = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--tower"))
            text = !strcmp(argv[i + 1], "text");
        else if (!strcmp(argv[i], "--runs"))
            runs = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "bench_plan_mem: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    clip_model *m = NULL;
    backend *be = NULL;
    clip_tower *t = NULL;
    backend_plan *p = NULL;
    void **slots = NULL;
    void *input = NULL;
    int rc, status = 0;
    if ((rc = clip_load(argv[1], &m)))
        return fail("clip_load");
    if ((rc = backend_open(NULL, 0, &be))) {
        status = fail("backend_open");
        goto done;
    }
    rc = text ? clip_build_text(m->w, &m->cfg, batch, &t) : clip_build_image(m->w, &m->cfg, batch, &t);
    if (rc) {
        status = fail("build");
        goto done;
    }
    if ((rc = backend_plan_create(be, t->g, &p))) {
        status = fail("backend_plan_create");
        goto done;
    }
    size_t params = 0;
    for (int i = 0; i < t->n_params; i++)
        params += g_nbytes(t->g, t->param_t[i]);
    printf("plan %s batch %d arena_mb %.1f scratch_mb %.1f params_mb %.1f", text ? "text" : "image", batch,
           backend_plan_arena_bytes(p) / 1048576.0, backend_plan_scratch_bytes(p) / 1048576.0, params / 1048576.0);
    if (runs > 0) {
        const graph *g = t->g;
        size_t in_bytes = g_nbytes(g, t->input);
        slots = calloc((size_t)g->n_tensors, sizeof *slots);
        input = calloc(1, in_bytes); /* zeros: valid pixels and valid token ids */
        if (!slots || !input || (rc = clip_tower_bind(t, slots, input))) {
            status = fail("bind");
            goto done;
        }
        for (int i = 0; i < g->n_tensors; i++)
            if (slots[i] && (rc = backend_plan_write(p, i, slots[i], g_nbytes(g, i)))) {
                status = fail("write");
                goto done;
            }
        if ((rc = backend_plan_run(p))) { /* warm-up: kernel specialisations */
            status = fail("run");
            goto done;
        }
        double best = 1e30, best_cpu = 1e30;
        for (int r = 0; r < runs; r++) {
            double w0 = cc_now_s(), c0 = cpu_s();
            if ((rc = backend_plan_run(p))) {
                status = fail("run");
                goto done;
            }
            double w = cc_now_s() - w0, c = cpu_s() - c0;
            best = w < best ? w : best;
            best_cpu = c < best_cpu ? c : best_cpu;
        }
        printf(" run_s %.3f cpu_s %.3f", best, best_cpu);
    }
    printf("\n");
done:
    free(slots);
    free(input);
    backend_plan_free(p);
    clip_tower_free(t);
    backend_close(be);
    clip_model_free(m);
    return status;
}
