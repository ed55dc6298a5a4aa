/* `clipcl bench`: images/s and texts/s of a CLIP checkpoint's towers on one
 * device, per batch size, with a per-op time table from profiling events.
 * Inputs are random (seeded): speed does not depend on pixel values, and the
 * weights are whatever the checkpoint holds (bench/make_random_clip.py makes
 * full-size random ones). bench/run_clip_bench.py compares with PyTorch. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backends/backend.h"
#include "graph/op_table.h"
#include "models/clip.h"
#include "runtime/clock.h"
#include "runtime/rng.h"
#include "runtime/rt.h"
#include "tools/cmd.h"

const char cmd_bench_usage[] =
    "usage: clipcl bench --model MODEL [--batch 1,8,32] [--tower image,text] [--device D]\n"
    "                    [--runs N] [--min-time S] [--warmup N] [--top K] [--no-ops]\n"
    "                    [--dtype f32|f16|bf16]\n"
    "\n"
    "Times the image and text towers of MODEL (a .safetensors file or a folder, as for\n"
    "embed-image) on random inputs: per batch size, images/s or texts/s from the median\n"
    "of at least N timed runs lasting at least S seconds in all (defaults 3 and 2),\n"
    "after W warm-up runs (default 1; the first run compiles kernel specialisations).\n"
    "Then a table of kernel time per op kind from OpenCL profiling events, summed over\n"
    "the timed runs and divided by their number; 'host/gaps' is wall time not covered\n"
    "by any kernel. --top K also lists the K slowest nodes. --no-ops times without\n"
    "profiling events and prints no table. Each batch also reports the launches per run\n"
    "and which fusions fired (CLIPCL_FUSION=0 turns fusion off; docs/fused-kernels.md),\n"
    "and the device memory of the weights: the params as loaded (f32) and the copies\n"
    "packed once from them, stored as --dtype (default f32; f16 or bf16 keep the GEMM\n"
    "weights in 16 bits, fp32 arithmetic: docs/gemm.md \"Half-precision storage\").\n"
    "\n"
    "Compare with PyTorch on the same weights: bench/run_clip_bench.py (docs/benchmarks.md).\n";

typedef struct bench_opts {
    const char *model, *device;
    rt_dtype dtype;
    int batches[16], n_batches;
    int image, text;
    int runs, warmup, top, ops;
    double min_time;
} bench_opts;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Roughly CLIP-normalised pixels: N(0, 1). */
static float *random_pixels(int64_t n, uint64_t seed)
{
    float *p = malloc((size_t)n * sizeof *p);
    for (int64_t i = 0; p && i < n; i++)
        p[i] = (float)(sqrt(-2.0 * log(cc_rng_uniform_open(&seed))) * cos(6.283185307179586 * cc_rng_uniform_open(&seed)));
    return p;
}

/* SOT, random tokens, EOT at position 20, zeros after (all 77 positions are
 * computed anyway). */
static int32_t *random_ids(int batch, int ctx, int vocab, uint64_t seed)
{
    int32_t *ids = calloc((size_t)batch * (size_t)ctx, sizeof *ids);
    int eot = ctx > 21 ? 20 : ctx - 1;
    for (int b = 0; ids && b < batch; b++) {
        int32_t *r = ids + (size_t)b * (size_t)ctx;
        r[0] = vocab - 2;
        for (int i = 1; i < eot; i++)
            r[i] = 1 + (int32_t)(cc_rng_next(&seed) % (uint64_t)(vocab - 3));
        r[eot] = vocab - 1;
    }
    return ids;
}

typedef struct op_row {
    int calls;
    double seconds, flops;
} op_row;

static void print_ops(const graph *g, const double *node_s, double wall_s, int top)
{
    op_row rows[G_OP_COUNT];
    memset(rows, 0, sizeof rows);
    double kernel_s = 0.0, total_flops = 0.0;
    for (int i = 0; i < g->n_nodes; i++) {
        if (node_s[i] < 0.0)
            continue;
        const g_node *n = &g->nodes[i];
        rows[n->op].calls++;
        rows[n->op].seconds += node_s[i];
        rows[n->op].flops += g_node_flops(g, i);
        kernel_s += node_s[i];
        total_flops += g_node_flops(g, i);
    }
    printf("  %-12s %6s %10s %7s %9s\n", "op", "nodes", "ms/run", "%", "GFLOP/s");
    for (;;) {
        int best = -1;
        for (int op = 0; op < G_OP_COUNT; op++)
            if (rows[op].calls && (best < 0 || rows[op].seconds > rows[best].seconds))
                best = op;
        if (best < 0)
            break;
        const op_row *r = &rows[best];
        char gf[32] = "";
        if (r->flops > 0.0 && r->seconds > 0.0)
            snprintf(gf, sizeof gf, "%.1f", r->flops / r->seconds * 1e-9);
        printf("  %-12s %6d %10.2f %7.1f %9s\n", g_op_name((g_op)best), r->calls, r->seconds * 1e3,
               100.0 * r->seconds / wall_s, gf);
        rows[best].calls = 0;
    }
    double gaps = wall_s - kernel_s;
    printf("  %-12s %6s %10.2f %7.1f\n", "host/gaps", "", gaps * 1e3, 100.0 * gaps / wall_s);
    printf("  %-12s %6s %10.2f %7.1f %9.1f\n", "total", "", wall_s * 1e3, 100.0,
           total_flops / wall_s * 1e-9);
    if (top <= 0)
        return;
    int *idx = malloc((size_t)g->n_nodes * sizeof *idx);
    if (!idx)
        return;
    int m = 0;
    for (int i = 0; i < g->n_nodes; i++)
        if (node_s[i] >= 0.0)
            idx[m++] = i;
    /* selection of the top K; m is a few hundred */
    printf("  slowest nodes:\n");
    for (int k = 0; k < top && k < m; k++) {
        int bi = k;
        for (int j = k + 1; j < m; j++)
            if (node_s[idx[j]] > node_s[idx[bi]])
                bi = j;
        int t = idx[k];
        idx[k] = idx[bi];
        idx[bi] = t;
        const g_node *n = &g->nodes[idx[k]];
        char shp[64];
        printf("  %8.3f ms  %-10s %-40.40s %s\n", node_s[idx[k]] * 1e3, g_op_name(n->op),
               n->name[0] ? n->name : g->tensors[n->out].name, g_shape_str(g, n->out, shp, sizeof shp));
    }
    free(idx);
}

/* Which fusions fired (CLIPCL_FUSION switches them; docs/fused-kernels.md)
 * and how many launches one run enqueues. */
static void print_fusions(const backend_plan_stats *fs)
{
    printf("  launches: %d per run + %d after a param change; fusions:", fs->n_launches - fs->n_static,
           fs->n_static);
    int any = 0;
    for (int i = 0; i < fs->n_patterns; i++)
        if (fs->fired[i]) {
            printf("%s %s x%d", any ? "," : "", fs->pattern[i], fs->fired[i]);
            any = 1;
        }
    printf("%s\n", any ? "" : " none");
}

typedef struct bench_result {
    double median_s, min_s, max_s, build_s, first_s;
    int n_runs;
} bench_result;

/* Uploads params and inputs, warms up, times; node_s (per node, averaged over
 * the timed runs) only when the context profiles. */
static int time_plan(backend *be, clip_tower *t, const void *input, const bench_opts *o,
                     double *node_s, bench_result *r, backend_plan_stats *fs)
{
    const graph *g = t->g;
    void **slots = calloc((size_t)g->n_tensors, sizeof *slots);
    double *one = calloc((size_t)g->n_nodes, sizeof *one);
    double *times = NULL;
    backend_plan *p = NULL;
    int rc = CC_OK;
    if (!slots || !one) {
        rc = cc_fail(CC_ERR_NOMEM, "bench: out of memory");
        goto done;
    }
    if ((rc = clip_tower_bind(t, slots, input)))
        goto done;
    double t0 = cc_now_s();
    if ((rc = backend_plan_create(be, g, &p)) || (rc = backend_plan_stats_get(p, fs)))
        goto done;
    for (int i = 0; i < g->n_tensors; i++)
        if (slots[i] && (rc = backend_plan_write(p, i, slots[i], g_nbytes(g, i))))
            goto done;
    if ((rc = backend_finish(be)))
        goto done;
    /* as an embed does (models/clip_api.c): weights read only through their
     * packed copies leave the device after the first run */
    backend_plan_release_originals(p);
    r->build_s = cc_now_s() - t0;
    t0 = cc_now_s();
    for (int w = 0; w < (o->warmup > 0 ? o->warmup : 1); w++) {
        if ((rc = backend_plan_run(p)))
            goto done;
        if (w == 0)
            r->first_s = cc_now_s() - t0;
    }
    int cap = 64, n = 0;
    times = malloc((size_t)cap * sizeof *times);
    if (!times) {
        rc = cc_fail(CC_ERR_NOMEM, "bench: out of memory");
        goto done;
    }
    for (int i = 0; i < g->n_nodes; i++)
        node_s[i] = -1.0;
    double start = cc_now_s();
    while (n < o->runs || cc_now_s() - start < o->min_time) {
        double a = cc_now_s();
        if ((rc = backend_plan_run(p)))
            goto done;
        double dt = cc_now_s() - a;
        if (n == cap) {
            double *nt = realloc(times, (size_t)(cap *= 2) * sizeof *nt);
            if (!nt) {
                rc = cc_fail(CC_ERR_NOMEM, "bench: out of memory");
                goto done;
            }
            times = nt;
        }
        times[n++] = dt;
        if (backend_profiling(be)) {
            if ((rc = backend_plan_node_seconds(p, one)))
                goto done;
            for (int i = 0; i < g->n_nodes; i++)
                if (one[i] >= 0.0)
                    node_s[i] = (node_s[i] < 0.0 ? 0.0 : node_s[i]) + one[i];
        }
    }
    for (int i = 0; i < g->n_nodes; i++)
        if (node_s[i] >= 0.0)
            node_s[i] /= n;
    if ((rc = backend_plan_stats_get(p, fs))) /* released_bytes: known after a run */
        goto done;
    qsort(times, (size_t)n, sizeof *times, cmp_double);
    r->n_runs = n;
    r->min_s = times[0];
    r->max_s = times[n - 1];
    r->median_s = n % 2 ? times[n / 2] : 0.5 * (times[n / 2 - 1] + times[n / 2]);
done:
    backend_plan_free(p);
    free(times);
    free(one);
    free(slots);
    return rc;
}

static int bench_tower(backend *be, const clip_model *m, int text, int batch, const bench_opts *o)
{
    clip_tower *t = NULL;
    int rc = text ? clip_build_text(m->w, &m->cfg, batch, &t) : clip_build_image(m->w, &m->cfg, batch, &t);
    if (rc)
        return cmd_lib_error(rc);
    const int res = m->cfg.vision.resolution;
    void *input = text ? (void *)random_ids(batch, m->cfg.text.context, m->cfg.text.vocab, 1000u + (unsigned)batch)
                       : (void *)random_pixels((int64_t)batch * 3 * res * res, 2000u + (unsigned)batch);
    double *node_s = malloc((size_t)t->g->n_nodes * sizeof *node_s);
    bench_result r = {0};
    backend_plan_stats fs = {0};
    if (!input || !node_s)
        rc = cc_fail(CC_ERR_NOMEM, "bench: out of memory for batch %d", batch);
    else
        rc = time_plan(be, t, input, o, node_s, &r, &fs);
    if (!rc) {
        printf("%s batch %d: %.2f %s (%.4f s/batch, median of %d run%s, min %.4f max %.4f; "
               "setup %.2f s, first run %.2f s)\n",
               text ? "text" : "image", batch, batch / r.median_s, text ? "texts/s" : "images/s", r.median_s,
               r.n_runs, r.n_runs == 1 ? "" : "s", r.min_s, r.max_s, r.build_s, r.first_s);
        print_fusions(&fs);
        size_t params = 0;
        for (int i = 0; i < t->g->n_tensors; i++)
            if (t->g->tensors[i].role == G_ROLE_PARAM)
                params += g_nbytes(t->g, i);
        printf("  device weights: params %.1f MB (f32), packed copies %.1f MB (%s); after the first run "
               "%.1f MB (the originals of %.1f MB of packed weights released)\n",
               params / 1e6, fs.packed_bytes / 1e6, rt_dtype_name(backend_weight_dtype(be)),
               (double)(params - fs.released_bytes + fs.packed_bytes) / 1e6, fs.released_bytes / 1e6);
        if (backend_profiling(be)) {
            print_ops(t->g, node_s, r.median_s, o->top);
        }
        fflush(stdout);
    }
    free(node_s);
    free(input);
    clip_tower_free(t);
    return rc ? cmd_lib_error(rc) : 0;
}

static int parse_batches(const char *s, bench_opts *o)
{
    o->n_batches = 0;
    while (*s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 1 || v > 65536 || (*end && *end != ',') || o->n_batches == 16)
            return -1;
        o->batches[o->n_batches++] = (int)v;
        s = *end ? end + 1 : end;
    }
    return o->n_batches ? 0 : -1;
}

/* "image", "text" or both, comma-separated. */
static int parse_towers(const char *s, bench_opts *o)
{
    o->image = o->text = 0;
    while (*s) {
        size_t n = strcspn(s, ",");
        if (n == 5 && !strncmp(s, "image", 5))
            o->image = 1;
        else if (n == 4 && !strncmp(s, "text", 4))
            o->text = 1;
        else
            return -1;
        s += n + (s[n] == ',');
    }
    return o->image || o->text ? 0 : -1;
}

/* 0, or 2 after a usage error. */
static int parse_count(const char *cmd, const char *opt, const char *v, int *out)
{
    char *end;
    long n = strtol(v, &end, 10);
    if (end == v || *end || n < 0 || n > 100000)
        return cmd_usage_error(cmd, "%s \"%s\": expected a count 0..100000", opt, v);
    *out = (int)n;
    return 0;
}

static void print_model(const clip_model *m, const backend *be)
{
    const clip_vision_cfg *v = &m->cfg.vision;
    const clip_text_cfg *t = &m->cfg.text;
    if (v->is_vit)
        printf("model: ViT image tower width %d, %d layers, %d heads, patch %d, %d px", v->width, v->layers,
               v->heads, v->patch, v->resolution);
    else
        printf("model: ModifiedResNet image tower width %d, layers %d-%d-%d-%d, %d px", v->width,
               v->rn_layers[0], v->rn_layers[1], v->rn_layers[2], v->rn_layers[3], v->resolution);
    printf("; text width %d, %d layers, %d heads; embed %d; %s\n", t->width, t->layers, t->heads,
           m->cfg.embed_dim, clip_act_name(v->act));
    const rt_device_info *d = backend_device(be);
    if (d)
        printf("device: %s (%s, %s class)%s\n", d->device_name, d->platform_version,
               rt_device_class_name(d->device_class), backend_profiling(be) ? ", profiling on" : "");
    else
        printf("device: %s\n", backend_name(be));
}

int cmd_bench(int argc, char **argv)
{
    bench_opts o = {0};
    o.runs = 3;
    o.warmup = 1;
    o.min_time = 2.0;
    o.ops = 1;
    o.image = o.text = 1;
    parse_batches("1,8,32", &o);
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int r;
        if ((r = cmd_option_value(argc, argv, &i, "--model", &v))) {
            if (r < 0)
                return 2;
            o.model = v;
        } else if ((r = cmd_option_value(argc, argv, &i, "--device", &v))) {
            if (r < 0)
                return 2;
            o.device = v;
        } else if ((r = cmd_option_value(argc, argv, &i, "--batch", &v))) {
            if (r < 0)
                return 2;
            if (parse_batches(v, &o))
                return cmd_usage_error(argv[0], "--batch \"%s\": expected a comma-separated list of 1..16 "
                                                "sizes in 1..65536, such as 1,8,32", v);
        } else if ((r = cmd_option_value(argc, argv, &i, "--tower", &v))) {
            if (r < 0)
                return 2;
            if (parse_towers(v, &o))
                return cmd_usage_error(argv[0], "--tower \"%s\": expected image, text or image,text", v);
        } else if ((r = cmd_option_value(argc, argv, &i, "--runs", &v))) {
            if (r < 0 || parse_count(argv[0], "--runs", v, &o.runs))
                return 2;
            if (o.runs < 1)
                return cmd_usage_error(argv[0], "--runs \"%s\": expected a count 1..100000", v);
        } else if ((r = cmd_option_value(argc, argv, &i, "--warmup", &v))) {
            if (r < 0 || parse_count(argv[0], "--warmup", v, &o.warmup))
                return 2;
        } else if ((r = cmd_option_value(argc, argv, &i, "--top", &v))) {
            if (r < 0 || parse_count(argv[0], "--top", v, &o.top))
                return 2;
        } else if ((r = cmd_option_value(argc, argv, &i, "--min-time", &v))) {
            if (r < 0)
                return 2;
            char *end;
            o.min_time = strtod(v, &end);
            if (*end || !(o.min_time >= 0.0 && o.min_time <= 3600.0))
                return cmd_usage_error(argv[0], "--min-time \"%s\": expected seconds 0..3600", v);
        } else if ((r = cmd_option_value(argc, argv, &i, "--dtype", &v))) {
            if (r < 0)
                return 2;
            if (rt_dtype_parse(v, &o.dtype))
                return cmd_usage_error(argv[0], "--dtype \"%s\": expected " RT_DTYPE_CHOICES, v);
        } else if (!strcmp(argv[i], "--no-ops")) {
            o.ops = 0;
        } else {
            return cmd_usage_error(argv[0], "unexpected argument \"%s\"", argv[i]);
        }
    }
    if (!o.model)
        return cmd_usage_error(argv[0], "--model MODEL is required");

    clip_model *m = NULL;
    int rc = clip_load(o.model, &m);
    if (rc)
        return cmd_lib_error(rc);
    backend *be = NULL;
    if ((rc = backend_open(o.device, o.ops, &be)) || (rc = backend_set_weight_dtype(be, o.dtype))) {
        backend_close(be);
        clip_model_free(m);
        return cmd_lib_error(rc);
    }
    print_model(m, be);
    int status = 0;
    for (int tw = 0; tw < 2 && !status; tw++) {
        if (!(tw ? o.text : o.image))
            continue;
        for (int b = 0; b < o.n_batches && !status; b++)
            status = bench_tower(be, m, tw, o.batches[b], &o);
    }
    backend_close(be);
    clip_model_free(m);
    return status;
}
