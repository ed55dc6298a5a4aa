/* Exact gradient accumulation (train/accum.h, train/global_loss.h,
 * clip_train_build_feature_grad): K = 4 micro-batches of B = 8 pairs give
 * the gradient of ONE batch of 32, per parameter tensor within rel 1e-5
 * (tensors whose exact gradient is zero, e.g. an attention key bias, must
 * stay at rounding level instead), logit_scale and logit_bias included, and
 * the loss of the batch of 32; for the contrastive and the SigLIP loss, a
 * ViT and a ResNet model (tests/data/train_step_{vit,rn}, tiny), on the ref
 * backend. The batch of 32 is the plain training graph (the loss inside the
 * graph, clip_train_build), an independent path.
 *
 * BatchNorm: a ResNet tower normalises each micro-batch with that
 * micro-batch's statistics, as open_clip's --accum-freq does (and
 * open_clip's DDP without SyncBatchNorm, per rank). So for the ResNet the
 * 32 pairs are 4 copies of 8 distinct pairs, which makes every micro-batch's
 * statistics those of the 32 and the two gradients equal; with 32 distinct
 * pairs the test checks that they differ (the statistics are the micro-
 * batch's, not the batch's) while the ViT's stay equal, and that they equal
 * PyTorch's gradient of the batch of 32 whose image tower runs in 4 chunks
 * of 8 (tests/reference/make_accum_goldens.py, float64; rel 1e-5 per
 * checkpoint tensor).
 *
 * Two ranks in one process (train_accum_init_ranks, an in-place gather of
 * the other rank's features): the ranks' gradients summed are the batch of
 * 32's too.
 *
 * The old accumulation (the mean of K independent micro-batch losses, each
 * image contrasted with its own micro-batch only) is also computed and must
 * differ from the batch of 32: the defect exact accumulation removes. */
/* the shared helpers this test does not use are fine */
#pragma GCC diagnostic ignored "-Wunused-function"
#include "train_step_util.h"

#include "backends/ref/ref.h"
#include "train/accum.h"

enum { K = 4, B = 8, N = K * B };



typedef struct pairs {
    float *px;    /* [N, 3, R, R] */
    int32_t *ids; /* [N, T] */
    size_t px_pair, ctx;
} pairs;

static uint32_t lcg(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

/* distinct = 0: micro-batch k is a copy of micro-batch 0. */
static void make_pairs(const clip_model *m, int distinct, pairs *p)
{
    const int r = m->cfg.vision.resolution, t = m->cfg.text.context, vocab = m->cfg.text.vocab;
    p->px_pair = (size_t)3 * r * r;
    p->ctx = (size_t)t;
    p->px = malloc(N * p->px_pair * sizeof *p->px);
    p->ids = calloc(N * p->ctx, sizeof *p->ids);
    assert_true(p->px && p->ids);
    uint32_t s = 12345;
    for (int i = 0; i < N; i++) {
        int src = distinct ? i : i % B;
        float *dst = p->px + (size_t)i * p->px_pair;
        if (src != i) {
            memcpy(dst, p->px + (size_t)src * p->px_pair, p->px_pair * sizeof *dst);
            memcpy(p->ids + (size_t)i * t, p->ids + (size_t)src * t, (size_t)t * sizeof *p->ids);
            continue;
        }
        for (size_t j = 0; j < p->px_pair; j++)
            dst[j] = (float)(lcg(&s) * (4.0 / 16777216.0) - 2.0);
        /* start token vocab-2, text tokens below it, end token vocab-1 (the argmax pool) */
        int32_t *row = p->ids + (size_t)i * t;
        int len = 1 + (int)(lcg(&s) % (unsigned)(t - 2));
        row[0] = vocab - 2;
        for (int j = 1; j <= len; j++)
            row[j] = 1 + (int32_t)(lcg(&s) % (unsigned)(vocab - 3));
        row[len + 1] = vocab - 1;
    }
}

static void free_pairs(pairs *p)
{
    free(p->px);
    free(p->ids);
}

/* Per-param gradient arrays (n_params of them, malloc'd, zeroed). */
static float **grads_new(const clip_train_graph *tg)
{
    float **g = calloc((size_t)tg->t->n_params, sizeof *g);
    assert_non_null(g);
    for (int i = 0; i < tg->t->n_params; i++)
        assert_non_null(g[i] = calloc((size_t)g_numel(tg->g, tg->t->param_t[i]), sizeof *g[i]));
    return g;
}

static void grads_free(float **g, int n)
{
    for (int i = 0; i < n; i++)
        free(g[i]);
    free(g);
}

/* Runs tg on the ref backend over pairs [first, first + tg->batch), adds
 * `weight` times every param gradient into acc (if not NULL); the loss and
 * the features (if asked) come back. */
static void run_ref(clip_train_graph *tg, const pairs *p, int first, float **acc, double weight, float *loss,
                    float *img, float *txt)
{
    void **slots = calloc((size_t)tg->g->n_tensors, sizeof *slots);
    assert_non_null(slots);
    ts_ok(clip_train_bind(tg, slots, p->px + (size_t)first * p->px_pair, p->ids + (size_t)first * p->ctx),
          "clip_train_bind");
    ts_ok(ref_eval(tg->g, slots), "ref_eval");
    if (loss)
        *loss = ((float *)slots[tg->loss.loss])[0];
    const size_t be = (size_t)tg->batch * (size_t)tg->dim;
    if (img)
        memcpy(img, slots[tg->img], be * sizeof *img);
    if (txt)
        memcpy(txt, slots[tg->txt], be * sizeof *txt);
    for (int i = 0; acc && i < tg->t->n_params; i++) {
        const float *g = slots[tg->grad_t[i]];
        for (int64_t j = 0; j < g_numel(tg->g, tg->t->param_t[i]); j++)
            acc[i][j] += (float)(weight * g[j]);
    }
    ref_free_acts(tg->g, slots);
    free(slots);
}

/* ---- the accumulation ops on the ref backend ---- */
typedef struct ref_ops {
    clip_train_graph *tg;
    const pairs *p;
    float **acc;
    int features_runs, backward_runs;
    int first;                        /* this rank's first pair */
    const float *all_img, *all_txt;   /* every rank's features, for the gather */
    int gathers;
} ref_ops;

static int ops_features(void *user, int k, float *img, float *txt)
{
    ref_ops *o = user;
    memset(o->tg->d_host, 0, (size_t)(2 * B * o->tg->dim + 2) * sizeof(float));
    run_ref(o->tg, o->p, o->first + k * B, NULL, 0, NULL, img, txt);
    o->features_runs++;
    return CC_OK;
}

static int ops_backward(void *user, int k, const float *d_img, const float *d_txt, float d_scale, float d_bias)
{
    ref_ops *o = user;
    const size_t be = (size_t)B * (size_t)o->tg->dim;
    memcpy(o->tg->d_host, d_img, be * sizeof(float));
    memcpy(o->tg->d_host + be, d_txt, be * sizeof(float));
    o->tg->d_host[2 * be] = d_scale;
    o->tg->d_host[2 * be + 1] = d_bias;
    run_ref(o->tg, o->p, o->first + k * B, o->acc, 1.0, NULL, NULL, NULL);
    o->backward_runs++;
    return CC_OK;
}

/* In-place all-gather of two ranks in one process: the other rank's rows
 * from features computed beforehand; this rank's must be those. */
static int ops_gather(void *user, float *img, float *txt, int rows, int e)
{
    ref_ops *o = user;
    const size_t mine = (size_t)o->first * e, n = (size_t)rows * e;
    assert_memory_equal(img + mine, o->all_img + mine, n * sizeof *img);
    assert_memory_equal(txt + mine, o->all_txt + mine, n * sizeof *txt);
    for (size_t r0 = 0; r0 < 2 * n; r0 += n)
        if (r0 != mine) {
            memcpy(img + r0, o->all_img + r0, n * sizeof *img);
            memcpy(txt + r0, o->all_txt + r0, n * sizeof *txt);
        }
    o->gathers++;
    return CC_OK;
}

/* rel err of a vs b over all params (global), for the "differs" checks */
static double global_rel(const clip_train_graph *tg, float *const *a, float *const *b)
{
    double d2 = 0, r2 = 0;
    for (int i = 0; i < tg->t->n_params; i++)
        for (int64_t j = 0; j < g_numel(tg->g, tg->t->param_t[i]); j++) {
            d2 += ((double)a[i][j] - b[i][j]) * ((double)a[i][j] - b[i][j]);
            r2 += (double)b[i][j] * b[i][j];
        }
    return sqrt(d2 / r2);
}

/* Per-tensor comparison (params taken as they are, not re-assembled into
 * checkpoint keys: a packed in_proj's three blocks are checked apart). */
static double compare(const clip_train_graph *tg, float *const *got, float *const *want, const char *what,
                      double rtol)
{
    double all2 = 0, worst = 0;
    for (int i = 0; i < tg->t->n_params; i++)
        for (int64_t j = 0; j < g_numel(tg->g, tg->t->param_t[i]); j++)
            all2 += (double)want[i][j] * want[i][j];
    const double all = sqrt(all2);
    const char *worst_name = "";
    for (int i = 0; i < tg->t->n_params; i++) {
        double d2 = 0, r2 = 0, m2 = 0;
        for (int64_t j = 0; j < g_numel(tg->g, tg->t->param_t[i]); j++) {
            double d = (double)got[i][j] - want[i][j];
            d2 += d * d;
            r2 += (double)want[i][j] * want[i][j];
            m2 += (double)got[i][j] * got[i][j];
        }
        const char *name = tg->g->tensors[tg->t->param_t[i]].name;
        int zero = sqrt(r2) <= 1e-6 * all; /* exact gradient 0: both sides rounding noise */
        double err = zero ? sqrt(m2) / all : sqrt(d2 / r2);
        double lim = zero ? 1e-6 : rtol;
        if (!(err <= lim)) {
            print_error("%s '%s': %s %.3e > %.1e\n", what, name, zero ? "||got||/||all||" : "rel err", err, lim);
            fail();
        }
        if (!zero && err > worst) {
            worst = err;
            worst_name = name;
        }
    }
    printf("  %-44s %d tensors, worst rel err %.2e (%s)\n", what, tg->t->n_params, worst, worst_name);
    return worst;
}

static float scalar_value(const clip_wmap *w, const char *name, float dflt)
{
    const clip_weight *x = clip_wmap_find(w, name);
    return x ? x->data[0] : dflt;
}

static void check_model(const char *dir, clip_loss_kind kind, int distinct, int expect_equal)
{
    clip_model *m = NULL;
    ts_ok(clip_load(ts_path(dir, ""), &m), "clip_load");
    pairs p;
    make_pairs(m, distinct, &p);
    char what[160];
    const char *kn = kind == CLIP_LOSS_SIGLIP ? "siglip" : "clip";

    /* the batch of 32, loss in the graph */
    clip_train_graph *big = NULL;
    ts_ok(clip_train_build(m->w, &m->cfg, N, kind, &big), "clip_train_build 32");
    float **want = grads_new(big);
    float big_loss = 0;
    run_ref(big, &p, 0, want, 1.0, &big_loss, NULL, NULL);

    /* K micro-batches of B, exactly accumulated */
    clip_train_graph *mb = NULL;
    ts_ok(clip_train_build_feature_grad(m->w, &m->cfg, B, kind, &mb), "clip_train_build_feature_grad");
    assert_int_equal(mb->t->n_params, big->t->n_params);
    for (int i = 0; i < big->t->n_params; i++)
        assert_string_equal(mb->g->tensors[mb->t->param_t[i]].name, big->g->tensors[big->t->param_t[i]].name);
    ref_ops ops = {.tg = mb, .p = &p, .acc = grads_new(mb)};
    train_accum acc;
    ts_ok(train_accum_init(&acc, kind, K, B, mb->dim), "train_accum_init");
    train_accum_ops aops = {.user = &ops, .features = ops_features, .backward = ops_backward};
    double loss = 0;
    ts_ok(train_accum_run(&acc, scalar_value(m->w, "logit_scale", mb->scalars[0]),
                          scalar_value(m->w, "logit_bias", mb->scalars[1]), &aops, &loss),
          "train_accum_run");
    assert_int_equal(ops.features_runs, K);
    assert_int_equal(ops.backward_runs, K);
    printf("  %s %s%s: loss %.9g accumulated, %.9g batch of %d\n", dir, kn, distinct ? "" : " (4 copies)",
           loss, big_loss, N);
    snprintf(what, sizeof what, "%s %s%s accum %dx%d vs %d", dir, kn, distinct ? "" : " copies", K, B, N);
    if (expect_equal) {
        assert_true(fabs(loss - big_loss) <= 1e-5 * fabs(big_loss));
        compare(big, ops.acc, want, what, 1e-5);
    } else {
        double rel = global_rel(big, ops.acc, want);
        printf("  %-44s differs by %.2e (BatchNorm statistics per micro-batch)\n", what, rel);
        assert_true(rel > 1e-3);
        /* PyTorch's batch of 32 with the image tower run as 4 chunks of 8
         * (tests/reference/make_accum_goldens.py, float64) */
        st_file *gold = NULL;
        npy_array gl;
        ts_ok(st_open(ts_path("train_accum_rn", "grads.safetensors"), &gold), "grads.safetensors");
        ts_ok(npy_read(ts_path("train_accum_rn", "loss.npy"), NPY_F32, &gl), "loss.npy");
        double ref_loss = ((const float *)gl.data)[0];
        printf("  %-44s loss %.9g vs %.9g PyTorch f64, 4 BatchNorm chunks of 8\n", what, loss, ref_loss);
        assert_true(fabs(loss - ref_loss) <= 1e-5 * ref_loss);
        ts_compare_params(mb, ops.acc, gold, "vs PyTorch, BatchNorm per 8", 1e-5, 1e-6);
        npy_free(&gl);
        st_close(gold);
    }

    /* the old accumulation: mean of K independent micro-batch losses */
    if (distinct) {
        clip_train_graph *small = NULL;
        ts_ok(clip_train_build(m->w, &m->cfg, B, kind, &small), "clip_train_build 8");
        float **old = grads_new(small);
        for (int k = 0; k < K; k++)
            run_ref(small, &p, k * B, old, 1.0 / K, NULL, NULL, NULL);
        double rel = global_rel(big, old, want);
        printf("  %-44s mean of micro-batch losses differs by %.2e\n", what, rel);
        assert_true(rel > 1e-2);
        grads_free(old, small->t->n_params);
        clip_train_free(small);
    }
    train_accum_free(&acc);
    grads_free(ops.acc, mb->t->n_params);
    grads_free(want, big->t->n_params);
    clip_train_free(mb);
    clip_train_free(big);
    free_pairs(&p);
    clip_model_free(m);
}

static void test_vit_clip(void **state)
{
    (void)state;
    check_model("train_step_vit", CLIP_LOSS_CONTRASTIVE, 1, 1);
}

static void test_vit_siglip(void **state)
{
    (void)state;
    check_model("train_step_vit", CLIP_LOSS_SIGLIP, 1, 1);
}

static void test_rn_clip_copies(void **state)
{
    (void)state;
    check_model("train_step_rn", CLIP_LOSS_CONTRASTIVE, 0, 1);
}

static void test_rn_siglip_copies(void **state)
{
    (void)state;
    check_model("train_step_rn", CLIP_LOSS_SIGLIP, 0, 1);
}

static void test_rn_batchnorm_per_micro_batch(void **state)
{
    (void)state;
    check_model("train_step_rn", CLIP_LOSS_CONTRASTIVE, 1, 0);
}

/* Two ranks in one process, each with 2 micro-batches of 8: the all-gather
 * between the feature pass and the loss, each rank's backward over its own
 * rows; the two ranks' gradients summed (an all-reduce SUM) must be the
 * batch of 32's, and both ranks report its loss. */
static void check_ranks(const char *dir, clip_loss_kind kind)
{
    enum { RANKS = 2, KR = K / RANKS };
    clip_model *m = NULL;
    ts_ok(clip_load(ts_path(dir, ""), &m), "clip_load");
    pairs p;
    make_pairs(m, 1, &p);
    clip_train_graph *big = NULL, *mb = NULL;
    ts_ok(clip_train_build(m->w, &m->cfg, N, kind, &big), "clip_train_build 32");
    ts_ok(clip_train_build_feature_grad(m->w, &m->cfg, B, kind, &mb), "clip_train_build_feature_grad");
    float **want = grads_new(big), **sum = grads_new(mb);
    float big_loss = 0;
    run_ref(big, &p, 0, want, 1.0, &big_loss, NULL, NULL);
    /* every rank's features, as the other rank computes them */
    const size_t be = (size_t)B * (size_t)mb->dim;
    float *all_img = malloc(K * be * sizeof *all_img), *all_txt = malloc(K * be * sizeof *all_txt);
    assert_true(all_img && all_txt);
    ref_ops pre = {.tg = mb, .p = &p};
    for (int k = 0; k < K; k++)
        ops_features(&pre, k, all_img + k * be, all_txt + k * be);
    const float t = scalar_value(m->w, "logit_scale", mb->scalars[0]);
    const float bias = scalar_value(m->w, "logit_bias", mb->scalars[1]);
    for (int r = 0; r < RANKS; r++) {
        ref_ops ops = {.tg = mb, .p = &p, .acc = sum, .first = r * KR * B, .all_img = all_img, .all_txt = all_txt};
        train_accum acc;
        ts_ok(train_accum_init_ranks(&acc, kind, KR, B, mb->dim, RANKS, r), "train_accum_init_ranks");
        train_accum_ops aops = {.user = &ops, .features = ops_features, .backward = ops_backward, .gather = ops_gather};
        double loss = 0;
        ts_ok(train_accum_run(&acc, t, bias, &aops, &loss), "train_accum_run");
        assert_int_equal(ops.gathers, 1);
        assert_int_equal(ops.backward_runs, KR);
        printf("  %s rank %d of %d: loss %.9g, batch of %d %.9g\n", dir, r, RANKS, loss, N, big_loss);
        assert_true(fabs(loss - big_loss) <= 1e-5 * fabs(big_loss));
        train_accum_free(&acc);
    }
    char what[128];
    snprintf(what, sizeof what, "%s %s 2 ranks x 2x%d vs %d", dir, kind == CLIP_LOSS_SIGLIP ? "siglip" : "clip", B, N);
    compare(big, sum, want, what, 1e-5);
    /* a rank count without a gather is refused */
    train_accum acc;
    ts_ok(train_accum_init_ranks(&acc, kind, KR, B, mb->dim, RANKS, 1), "train_accum_init_ranks");
    ref_ops ops = {.tg = mb, .p = &p, .acc = sum};
    train_accum_ops nogather = {.user = &ops, .features = ops_features, .backward = ops_backward};
    assert_int_equal(train_accum_run(&acc, t, bias, &nogather, NULL), CC_ERR_INVALID);
    train_accum_free(&acc);
    assert_int_equal(train_accum_init_ranks(&acc, kind, KR, B, mb->dim, RANKS, RANKS), CC_ERR_INVALID);
    free(all_img);
    free(all_txt);
    grads_free(sum, mb->t->n_params);
    grads_free(want, big->t->n_params);
    clip_train_free(mb);
    clip_train_free(big);
    free_pairs(&p);
    clip_model_free(m);
}

static void test_vit_two_ranks(void **state)
{
    (void)state;
    check_ranks("train_step_vit", CLIP_LOSS_CONTRASTIVE);
    check_ranks("train_step_vit", CLIP_LOSS_SIGLIP);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vit_clip),
        cmocka_unit_test(test_vit_siglip),
        cmocka_unit_test(test_rn_clip_copies),
        cmocka_unit_test(test_rn_siglip_copies),
        cmocka_unit_test(test_rn_batchnorm_per_micro_batch),
        cmocka_unit_test(test_vit_two_ranks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
