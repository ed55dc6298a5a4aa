/* bench_train: training samples/s of a CLIP checkpoint on one OpenCL device:
 * one full step = forward + backward of the joint image+text+contrastive
 * loss graph (models/clip_train.h, g_backward) as one plan, then one AdamW
 * update of every parameter by the backend's optimizer (backends/backend.h;
 * CLIP's defaults: betas 0.9/0.98, eps 1e-6, weight decay 0.2 where
 * adamw_param_decays says,
 * logit_scale clamped to [0, ln 100]), constant learning rate.
 *
 * usage: bench_train --model DIR [--batch 32 | --pixels P.npy --ids I.npy]
 *                    [--steps 3] [--warmup 1] [--min-time 0] [--lr 1e-4]
 *                    [--device D] [--no-ops] [--top K]
 *
 * Every step trains on the same batch (speed does not depend on values),
 * so the loss falls from step to step; the losses are printed so that a
 * run on the same inputs elsewhere (bench/train_torch_bench.py, given the
 * same .npy files) can be compared value by value. Output, machine-readable:
 *   train batch 32: 12.34 samples/s (2.5931 s/step, median of 3 steps, ...)
 *   losses: 3.46571 3.41022 ...          (warm-up steps first)
 * then, with profiling (default), kernel time per op kind split into
 * forward and backward nodes (a node is backward when g_backward made its
 * output), and the optimizer's wall time, averaged over the timed steps
 * (percentages of the mean step; GFLOP/s counts matmul both ways and the
 * forward conv2d and attention, 2 FLOP per multiply-add).
 * Exit status: 0, 1 on a runtime error, 2 on a usage error, 3 when the
 * training graph does not lower to OpenCL on this build (message says which
 * op), so a runner can tell "not supported yet" from a failure. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backends/backend.h"
#include "graph/op_table.h"
#include "io/npy.h"
#include "models/clip.h"
#include "models/clip_train.h"
#include "runtime/clock.h"
#include "runtime/rng.h"
#include "runtime/rt.h"
#include "runtime/status.h"

typedef struct tb_opts {
    const char *model, *device, *pixels, *ids;
    int batch, steps, warmup, ops, top;
    double lr, min_time;
} tb_opts;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* ---- inputs: the caller's .npy files, or seeded random ones ---- */
typedef struct tb_inputs {
    float *pixels;
    int32_t *ids;
    int batch;
} tb_inputs;

static int random_inputs(const clip_config *cfg, int batch, tb_inputs *in)
{
    const int64_t res = cfg->vision.resolution, ctx = cfg->text.context, vocab = cfg->text.vocab;
    int64_t np = (int64_t)batch * 3 * res * res;
    in->batch = batch;
    in->pixels = malloc((size_t)np * sizeof *in->pixels);
    in->ids = calloc((size_t)batch * (size_t)ctx, sizeof *in->ids);
    if (!in->pixels || !in->ids)
        return cc_fail(CC_ERR_NOMEM, "out of memory for the inputs of batch %d", batch);
    uint64_t s = 2024;
    for (int64_t i = 0; i < np; i++)
        in->pixels[i] = (float)(sqrt(-2.0 * log(cc_rng_uniform_open(&s))) * cos(6.283185307179586 * cc_rng_uniform_open(&s)));
    /* SOT, random tokens, EOT (the row's argmax) at a varying position */
    for (int b = 0; b < batch; b++) {
        int32_t *r = in->ids + (size_t)b * (size_t)ctx;
        int64_t eot = 5 + (int64_t)(cc_rng_next(&s) % (uint64_t)(ctx > 10 ? ctx - 6 : 1));
        if (eot >= ctx)
            eot = ctx - 1;
        r[0] = (int32_t)(vocab - 2);
        for (int64_t i = 1; i < eot; i++)
            r[i] = 1 + (int32_t)(cc_rng_next(&s) % (uint64_t)(vocab - 3));
        r[eot] = (int32_t)(vocab - 1);
    }
    return CC_OK;
}

static int file_inputs(const clip_config *cfg, const tb_opts *o, tb_inputs *in)
{
    npy_array px = {0}, ids = {0};
    int rc = npy_read(o->pixels, NPY_F32, &px);
    if (!rc)
        rc = npy_read(o->ids, NPY_I32, &ids);
    const int64_t res = cfg->vision.resolution;
    if (!rc && (px.ndim != 4 || px.shape[1] != 3 || px.shape[2] != res || px.shape[3] != res))
        rc = cc_fail(CC_ERR_SHAPE, "%s: expected pixels [B, 3, %lld, %lld], found %d dims [%lld, %lld, ...]",
                     o->pixels, (long long)res, (long long)res, px.ndim, (long long)px.shape[0],
                     (long long)px.shape[1]);
    if (!rc && (ids.ndim != 2 || ids.shape[0] != px.shape[0] || ids.shape[1] != cfg->text.context))
        rc = cc_fail(CC_ERR_SHAPE, "%s: expected ids [%lld, %d], found %d dims [%lld, %lld, ...]", o->ids,
                     (long long)px.shape[0], cfg->text.context, ids.ndim, (long long)ids.shape[0],
                     (long long)ids.shape[1]);
    if (rc) {
        npy_free(&px);
        npy_free(&ids);
        return rc;
    }
    in->batch = (int)px.shape[0];
    in->pixels = px.data;
    in->ids = ids.data;
    return CC_OK;
}

/* ---- the per-op table ---- */

static int is_backward(const graph *g, int node)
{
    return g->tensors[g->nodes[node].out].role == G_ROLE_GRAD;
}

typedef struct op_row {
    int calls[2];
    double seconds[2], flops;
} op_row;

static void print_ops(const graph *g, const double *node_s, double step_s, double optim_s, int top)
{
    op_row rows[G_OP_COUNT];
    memset(rows, 0, sizeof rows);
    double kernel_s[2] = {0, 0}, total_flops = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        if (node_s[i] < 0.0)
            continue;
        const g_node *n = &g->nodes[i];
        int b = is_backward(g, i);
        rows[n->op].calls[b]++;
        rows[n->op].seconds[b] += node_s[i];
        rows[n->op].flops += g_node_flops(g, i);
        kernel_s[b] += node_s[i];
        total_flops += g_node_flops(g, i);
    }
    printf("  %-22s %6s %9s %6s %9s %6s %8s\n", "op", "fwd", "fwd ms", "bwd", "bwd ms", "%", "GFLOP/s");
    for (;;) {
        int best = -1;
        double bs = -1;
        for (int op = 0; op < G_OP_COUNT; op++) {
            double s = rows[op].seconds[0] + rows[op].seconds[1];
            if ((rows[op].calls[0] || rows[op].calls[1]) && s > bs) {
                best = op;
                bs = s;
            }
        }
        if (best < 0)
            break;
        const op_row *r = &rows[best];
        char gf[32] = "";
        if (r->flops > 0.0 && bs > 0.0)
            snprintf(gf, sizeof gf, "%.1f", r->flops / bs * 1e-9);
        printf("  %-22s %6d %9.2f %6d %9.2f %6.1f %8s\n", g_op_name((g_op)best), r->calls[0],
               r->seconds[0] * 1e3, r->calls[1], r->seconds[1] * 1e3, 100.0 * bs / step_s, gf);
        rows[best].calls[0] = rows[best].calls[1] = 0;
    }
    double gaps = step_s - kernel_s[0] - kernel_s[1] - optim_s;
    printf("  %-22s %6s %9.2f %6s %9.2f %6.1f\n", "forward / backward", "", kernel_s[0] * 1e3, "",
           kernel_s[1] * 1e3, 100.0 * (kernel_s[0] + kernel_s[1]) / step_s);
    printf("  %-22s %6s %9s %6s %9.2f %6.1f   (wall time, all parameters)\n", "adamw", "", "", "", optim_s * 1e3,
           100.0 * optim_s / step_s);
    printf("  %-22s %6s %9s %6s %9.2f %6.1f\n", "host/gaps", "", "", "", gaps * 1e3, 100.0 * gaps / step_s);
    printf("  %-22s %6s %9s %6s %9.2f %6.1f %8.1f\n", "total (mean step)", "", "", "", step_s * 1e3, 100.0,
           total_flops / step_s * 1e-9);
    if (top <= 0)
        return;
    printf("  slowest nodes:\n");
    double *s = malloc((size_t)g->n_nodes * sizeof *s);
    if (!s)
        return;
    memcpy(s, node_s, (size_t)g->n_nodes * sizeof *s);
    for (int k = 0; k < top; k++) {
        int bi = -1;
        for (int i = 0; i < g->n_nodes; i++)
            if (s[i] >= 0.0 && (bi < 0 || s[i] > s[bi]))
                bi = i;
        if (bi < 0)
            break;
        const g_node *n = &g->nodes[bi];
        char shp[64];
        printf("  %8.3f ms  %-4s %-20s %-44.44s %s\n", s[bi] * 1e3, is_backward(g, bi) ? "bwd" : "fwd",
               g_op_name(n->op), n->name[0] ? n->name : g->tensors[n->out].name,
               g_shape_str(g, n->out, shp, sizeof shp));
        s[bi] = -1.0;
    }
    free(s);
}

/* ---- the step ---- */
typedef struct tb_run {
    clip_train_graph *tg;
    backend_plan *p;
    backend_optim *o;
    backend *be;
} tb_run;

/* Registers every graph param and its gradient with the optimizer, which
 * updates the plan's params in place. */
static int add_params(tb_run *r)
{
    const clip_tower *t = r->tg->t;
    for (int i = 0; i < t->n_params; i++) {
        const g_tensor *T = &r->tg->g->tensors[t->param_t[i]];
        int rc = backend_optim_add(r->o, t->param_t[i], r->tg->grad_t[i]);
        if (!rc && !strcmp(T->name, "logit_scale"))
            rc = backend_optim_set_clamp(r->o, i, CLIP_LOGIT_SCALE_MIN, CLIP_LOGIT_SCALE_MAX);
        if (rc)
            return rc;
    }
    return CC_OK;
}

/* One step; fb and opt receive the wall time of forward+backward (the plan
 * run ends with clFinish) and of the AdamW update (enqueued, then waited). */
static int one_step(tb_run *r, double lr, double *fb, double *opt, float *loss)
{
    double t0 = cc_now_s();
    int rc = backend_plan_run(r->p);
    double t1 = cc_now_s();
    if (!rc)
        rc = backend_optim_accumulate(r->o);
    if (!rc)
        rc = backend_optim_step(r->o, lr, NULL);
    if (!rc)
        rc = backend_finish(r->be);
    double t2 = cc_now_s();
    if (!rc)
        rc = backend_plan_read(r->p, r->tg->loss.loss, loss, sizeof *loss);
    *fb = t1 - t0;
    *opt = t2 - t1;
    return rc;
}

static void print_model(const clip_config *c, const clip_train_graph *tg, const backend *be)
{
    const clip_vision_cfg *v = &c->vision;
    if (v->is_vit)
        printf("model: ViT width %d, %d layers, %d heads, patch %d, %d px", v->width, v->layers, v->heads,
               v->patch, v->resolution);
    else
        printf("model: ModifiedResNet width %d, layers %d-%d-%d-%d, %d px", v->width, v->rn_layers[0],
               v->rn_layers[1], v->rn_layers[2], v->rn_layers[3], v->resolution);
    int64_t np = 0;
    for (int i = 0; i < tg->t->n_params; i++)
        np += g_numel(tg->g, tg->t->param_t[i]);
    int nb = 0, nf = 0;
    for (int i = 0; i < tg->g->n_nodes; i++)
        is_backward(tg->g, i) ? nb++ : nf++;
    printf("; text width %d, %d layers, %d heads, context %d, vocab %d; embed %d; %s\n", c->text.width,
           c->text.layers, c->text.heads, c->text.context, c->text.vocab, c->embed_dim, clip_act_name(v->act));
    printf("training graph: %d params (%.2f M values), %d forward + %d backward nodes\n", tg->t->n_params,
           (double)np * 1e-6, nf, nb);
    const rt_device_info *d = backend_device(be);
    if (d)
        printf("device: %s (%s, %s class)%s\n", d->device_name, d->platform_version,
               rt_device_class_name(d->device_class), backend_profiling(be) ? ", profiling on" : "");
    else
        printf("device: %s\n", backend_name(be));
}

/* Warm-up steps, then timed ones; prints the result line, losses, table. */
static int time_steps(tb_run *r, const tb_opts *o, double setup_s)
{
    const graph *g = r->tg->g;
    int cap = o->steps + o->warmup + 64, n = 0, nl = 0, rc = CC_OK;
    double *times = malloc((size_t)cap * sizeof *times), *opts = malloc((size_t)cap * sizeof *opts);
    float *losses = malloc((size_t)cap * sizeof *losses);
    double *node_s = malloc((size_t)g->n_nodes * sizeof *node_s), *one = malloc((size_t)g->n_nodes * sizeof *one);
    double first_s = 0, fb, op;
    if (!times || !opts || !losses || !node_s || !one) {
        rc = cc_fail(CC_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int w = 0; w < o->warmup; w++) {
        if ((rc = one_step(r, o->lr, &fb, &op, &losses[nl++])))
            goto done;
        if (w == 0)
            first_s = fb + op;
    }
    for (int i = 0; i < g->n_nodes; i++)
        node_s[i] = -1.0;
    double start = cc_now_s();
    while ((n < o->steps || cc_now_s() - start < o->min_time) && nl < cap) {
        if ((rc = one_step(r, o->lr, &fb, &op, &losses[nl++])))
            goto done;
        times[n] = fb + op;
        opts[n++] = op;
        if (backend_profiling(r->be)) {
            if ((rc = backend_plan_node_seconds(r->p, one)))
                goto done;
            for (int i = 0; i < g->n_nodes; i++)
                if (one[i] >= 0.0)
                    node_s[i] = (node_s[i] < 0.0 ? 0.0 : node_s[i]) + one[i];
        }
    }
    /* the table divides kernel times averaged over the timed steps, so it is
     * set against the mean step, not the median of the result line */
    double opt_mean = 0, step_mean = 0;
    for (int i = 0; i < n; i++) {
        opt_mean += opts[i] / n;
        step_mean += times[i] / n;
    }
    for (int i = 0; i < g->n_nodes; i++)
        if (node_s[i] >= 0.0)
            node_s[i] /= n;
    qsort(times, (size_t)n, sizeof *times, cmp_double);
    qsort(opts, (size_t)n, sizeof *opts, cmp_double);
    double med = n % 2 ? times[n / 2] : 0.5 * (times[n / 2 - 1] + times[n / 2]);
    printf("train batch %d: %.2f samples/s (%.4f s/step, median of %d steps, min %.4f max %.4f; "
           "AdamW %.4f s; setup %.2f s, first step %.2f s)\n",
           r->tg->batch, r->tg->batch / med, med, n, times[0], times[n - 1], opts[n / 2], setup_s, first_s);
    printf("losses:");
    for (int i = 0; i < nl; i++)
        printf(" %.6f", losses[i]);
    printf("\n");
    for (int i = 0; i < nl; i++)
        if (!isfinite(losses[i])) {
            rc = cc_fail(CC_ERR_INVALID, "loss of step %d is %g", i + 1, losses[i]);
            goto done;
        }
    if (backend_profiling(r->be))
        print_ops(g, node_s, step_mean, opt_mean, o->top);
    fflush(stdout);
done:
    free(times);
    free(opts);
    free(losses);
    free(node_s);
    free(one);
    return rc;
}

/* Returns the exit status. */
static int bench(const clip_model *m, const tb_inputs *in, const tb_opts *o)
{
    tb_run r = {0};
    void **slots = NULL;
    int rc = clip_train_build(m->w, &m->cfg, in->batch, CLIP_LOSS_CONTRASTIVE, &r.tg);
    if (!rc)
        rc = backend_open(o->device, o->ops, &r.be);
    if (rc)
        goto done;
    print_model(&m->cfg, r.tg, r.be);
    fflush(stdout);
    const graph *g = r.tg->g;
    slots = calloc((size_t)g->n_tensors, sizeof *slots);
    if (!slots) {
        rc = cc_fail(CC_ERR_NOMEM, "out of memory");
        goto done;
    }
    if ((rc = clip_train_bind(r.tg, slots, in->pixels, in->ids)))
        goto done;
    double t0 = cc_now_s();
    if ((rc = backend_plan_create(r.be, g, &r.p))) {
        fprintf(stderr, "bench_train: the training graph does not lower to OpenCL: %s\n", cc_last_error());
        rc = -3;
        goto done;
    }
    for (int t = 0; t < g->n_tensors; t++)
        if (slots[t] && (rc = backend_plan_write(r.p, t, slots[t], g_nbytes(g, t))))
            goto done;
    adamw_cfg cfg = adamw_defaults();
    cfg.track_grad_norm = 0; /* torch's AdamW.step() computes no norm either */
    if ((rc = backend_optim_create(r.p, &cfg, r.tg->t->n_params, &r.o)) || (rc = add_params(&r)) ||
        (rc = backend_finish(r.be)))
        goto done;
    int64_t np = 0;
    for (int i = 0; i < r.tg->t->n_params; i++)
        np += g_numel(g, r.tg->t->param_t[i]);
    printf("memory: plan arena %.1f MiB, AdamW state %.1f MiB; lr %g constant, AdamW b1 %g b2 %g eps %g wd %g\n",
           (double)backend_plan_arena_bytes(r.p) / 1048576.0, 2.0 * (double)np * 4 / 1048576.0, o->lr, cfg.beta1,
           cfg.beta2, cfg.eps, cfg.weight_decay);
    rc = time_steps(&r, o, cc_now_s() - t0);
    backend_plan_stats ps;
    if (!rc && backend_plan_stats_get(r.p, &ps) == CC_OK)
        printf("launches per step: %d (forward + backward plan; %d in all, %d static)\n", ps.n_last_run,
               ps.n_launches, ps.n_static);
done:
    if (rc > 0)
        fprintf(stderr, "bench_train: %s\n", cc_last_error());
    backend_optim_free(r.o);
    backend_plan_free(r.p);
    free(slots);
    clip_train_free(r.tg);
    backend_close(r.be);
    return rc == -3 ? 3 : rc ? 1 : 0;
}

static int usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s --model DIR [--batch 32 | --pixels P.npy --ids I.npy] [--steps 3] [--warmup 1]\n"
            "       [--min-time S] [--lr 1e-4] [--device D] [--no-ops] [--top K]\n",
            argv0);
    return 2;
}

int main(int argc, char **argv)
{
    tb_opts o = {.batch = 32, .steps = 3, .warmup = 1, .ops = 1, .lr = 1e-4};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--no-ops")) {
            o.ops = 0;
            continue;
        }
        if (!v)
            return usage(argv[0]);
        i++;
        if (!strcmp(a, "--model"))
            o.model = v;
        else if (!strcmp(a, "--device"))
            o.device = v;
        else if (!strcmp(a, "--pixels"))
            o.pixels = v;
        else if (!strcmp(a, "--ids"))
            o.ids = v;
        else if (!strcmp(a, "--batch"))
            o.batch = atoi(v);
        else if (!strcmp(a, "--steps"))
            o.steps = atoi(v);
        else if (!strcmp(a, "--warmup"))
            o.warmup = atoi(v);
        else if (!strcmp(a, "--top"))
            o.top = atoi(v);
        else if (!strcmp(a, "--lr"))
            o.lr = atof(v);
        else if (!strcmp(a, "--min-time"))
            o.min_time = atof(v);
        else
            return usage(argv[0]);
    }
    if (!o.model || o.batch < 2 || o.steps < 1 || o.steps > 10000 || o.warmup < 0 || o.warmup > 100 ||
        !(o.lr >= 0) || !(o.min_time >= 0 && o.min_time <= 3600) || !o.pixels != !o.ids)
        return usage(argv[0]);
    clip_model *m = NULL;
    if (clip_load(o.model, &m)) {
        fprintf(stderr, "bench_train: %s\n", cc_last_error());
        return 1;
    }
    tb_inputs in = {0};
    int rc = o.pixels ? file_inputs(&m->cfg, &o, &in) : random_inputs(&m->cfg, o.batch, &in);
    int status = 1;
    if (rc)
        fprintf(stderr, "bench_train: %s\n", cc_last_error());
    else if (in.batch < 2)
        fprintf(stderr, "bench_train: batch %d: the contrastive loss needs at least 2 pairs\n", in.batch);
    else
        status = bench(m, &in, &o);
    free(in.pixels);
    free(in.ids);
    clip_model_free(m);
    return status;
}
