/* The training loop (train/trainer.h): settings, model, data, backend,
 * then steps with a log line each and checkpoints every N steps and at
 * the end. */
#include "train/trainer_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "io/tok_files.h"
#include "runtime/clock.h"
#include "runtime/status.h"
#include "train/checkpoint.h"
#include "train/schedule.h"
#include "train/trainer_dist.h"
#include "train/trainer_log.h"

void train_opts_defaults(train_opts *o)
{
    memset(o, 0, sizeof *o);
    o->batch = o->accum = o->siglip = o->augment = o->image_size = o->workers = -1;
    o->steps = o->warmup = o->seed = o->checkpoint_every = o->dist_check_every = -1;
    o->lr = o->weight_decay = o->beta1 = o->beta2 = o->eps = o->clip_grad_norm = -1;
}

typedef struct run {
    const train_opts *o;
    train_ckpt ck;             /* the run's settings in ck.st; model/optim while saving */
    clip_loss_kind kind;
    clip_wmap *w;
    clip_train_graph *tg;
    train_exec *ex;
    train_accum_exec acc;      /* --accum K > 1: exact accumulation (train/accum.h) */
    train_data data;
    train_log log;
    train_schedule sched;
    char tok_dir[1100], log_path[1100];
    int64_t start;
    /* data-parallel (train/trainer_dist.h); ranks 1 without MPI */
    int rank, ranks;
    int private_tok;           /* tok_dir is this rank's temporary copy (rank > 0) */
    char device[160];
    train_dist_loss loss;
    train_dist_reducer red;
} run;

#define PICK_I(f, dflt) st->f = o->f >= 0 ? o->f : (resumed ? st->f : (dflt))
#define PICK_D(f, dflt) st->f = o->f >= 0 ? o->f : (resumed ? st->f : (dflt))
#define PICK_S(f, src, dflt)                                                                  \
    do {                                                                                      \
        const char *v_ = (src) ? (src) : (resumed ? st->f : (dflt));                           \
        if (v_ != st->f)                                                                      \
            snprintf(st->f, sizeof st->f, "%s", v_);                                          \
    } while (0)

/* Explicit options win, then the checkpoint's values, then the defaults. */
static int settings(run *r, int resumed)
{
    const train_opts *o = r->o;
    train_ckpt_state *st = &r->ck.st;
    /* Another rank count on resume: the global batch stays (train_dist_resume_batch). */
    int prev_ranks = resumed && st->ranks > 0 ? st->ranks : 1;
    if (resumed && prev_ranks != r->ranks) {
        int b = 0, k = 0;
        int rc = train_dist_resume_batch(st->batch, st->accum, prev_ranks, r->ranks, o->batch,
                                         o->accum, &b, &k);
        if (rc)
            return rc;
        st->batch = b;
        st->accum = k;
    }
    st->ranks = r->ranks;
    PICK_I(batch, 32);
    PICK_I(accum, 1);
    PICK_I(siglip, 0);
    PICK_I(augment, 0);
    PICK_I(image_size, 0);
    PICK_I(steps, 0);
    PICK_I(warmup, 0);
    PICK_I(seed, 0);
    PICK_D(lr, 5e-4);
    PICK_D(weight_decay, 0.2);
    PICK_D(beta1, 0.9);
    PICK_D(beta2, 0.98);
    PICK_D(eps, 1e-6);
    if (o->clip_grad_norm >= 0 || !resumed)
        st->clip_grad_norm = o->clip_grad_norm > 0 ? o->clip_grad_norm : 0;
    PICK_S(data, o->data, "");
    PICK_S(csv_img_key, o->csv_img_key, "filepath");
    PICK_S(csv_caption_key, o->csv_caption_key, "title");
    PICK_S(device, o->device, "");
    if (st->steps < 1)
        return cc_fail(CC_ERR_INVALID, "trainer: the number of steps must be given and >= 1");
    if (st->accum < 1)
        return cc_fail(CC_ERR_INVALID, "trainer: accum %d < 1", st->accum);
    /* the contrastive batch is K*B: --batch 1 --accum K is a batch of K */
    if (st->batch < 1 || (int64_t)st->batch * st->accum < 2)
        return cc_fail(CC_ERR_INVALID, "trainer: batch %d x accum %d: a contrastive batch needs >= 2 pairs",
                       st->batch, st->accum);
    r->kind = st->siglip ? CLIP_LOSS_SIGLIP : CLIP_LOSS_CONTRASTIVE;
    return train_schedule_init(&r->sched, TRAIN_SCHED_COSINE, st->lr, st->warmup, st->steps);
}

static void warn_cb(void *user, const char *msg)
{
    const train_opts *o = user;
    if (o->on_warn && train_dist_size() > 1) {
        char line[1200];
        snprintf(line, sizeof line, "rank %d: %s", train_dist_rank(), msg);
        o->on_warn(o->user, line);
    } else if (o->on_warn) {
        o->on_warn(o->user, msg);
    }
}

/* The tokenizer files go to OUT/tokenizer, which each checkpoint copies. */
static int setup_tokenizer(run *r, int resumed)
{
    const train_opts *o = r->o;
    int rc = CC_OK;
    if (r->rank == 0) {
        snprintf(r->tok_dir, sizeof r->tok_dir, "%s/tokenizer", o->out_dir);
        rc = train_mkdir(r->tok_dir);
    } else {
        /* Other ranks never write into the run directory: each makes the
         * same tokenizer files (the learned merges are deterministic) in a
         * private temporary directory. */
        const char *tmp = getenv("TMPDIR");
        snprintf(r->tok_dir, sizeof r->tok_dir, "%s/clipcl-rank%d-XXXXXX", tmp && *tmp ? tmp : "/tmp",
                 r->rank);
        if (!mkdtemp(r->tok_dir))
            return cc_fail(CC_ERR_IO, "rank %d: cannot create a temporary directory '%s'", r->rank,
                           r->tok_dir);
        r->private_tok = 1;
    }
    char a[2300], b[2300];
    if (!rc && (resumed || o->tokenizer_dir)) {
        const char *src = resumed && !o->tokenizer_dir ? r->ck.dir : o->tokenizer_dir;
        for (int i = 0; !rc && train_tokenizer_files[i]; i++) {
            snprintf(a, sizeof a, "%s/%s", src, train_tokenizer_files[i]);
            snprintf(b, sizeof b, "%s/%s", r->tok_dir, train_tokenizer_files[i]);
            FILE *f = fopen(a, "rb");
            if (f) {
                fclose(f);
                if (strcmp(a, b) != 0) /* merges.txt: without an older file's final newline */
                    rc = strcmp(train_tokenizer_files[i], "merges.txt") == 0 ? tok_copy_merges(a, b)
                                                                            : train_copy_file(a, b);
            }
        }
    } else if (!rc && o->vocab_file) {
        size_t n = strlen(o->vocab_file);
        int gz = n > 3 && strcmp(o->vocab_file + n - 3, ".gz") == 0;
        snprintf(b, sizeof b, "%s/bpe_simple_vocab_16e6.txt%s", r->tok_dir, gz ? ".gz" : "");
        rc = train_copy_file(o->vocab_file, b);
    } else if (!rc) {
        rc = train_data_learn_tokenizer(&r->data, r->tok_dir, r->ck.cfg.text.vocab);
    }
    if (!rc)
        rc = train_data_tokenizer(&r->data, r->tok_dir, r->ck.cfg.text.vocab, r->ck.cfg.text.context);
    return rc;
}

/* Splits param i's optimizer-state block out of (or into) its checkpoint key's tensor. */
static int param_block(const run *r, int i, char *key, size_t len, int64_t *off, int64_t *n)
{
    int part = 0, nparts = 1;
    int rc = clip_param_key(r->tg->g->tensors[r->tg->t->param_t[i]].name, key, len, &part, &nparts);
    *n = g_numel(r->tg->g, r->tg->t->param_t[i]);
    *off = (int64_t)part * *n;
    return rc;
}

static int moments(run *r, int restore)
{
    int rc = CC_OK;
    char key[G_NAME_LEN], km[G_NAME_LEN + 16], kv[G_NAME_LEN + 16];
    for (int i = 0; i < r->tg->t->n_params && !rc; i++) {
        int64_t off, n;
        if ((rc = param_block(r, i, key, sizeof key, &off, &n)))
            break;
        snprintf(km, sizeof km, "exp_avg.%s", key);
        snprintf(kv, sizeof kv, "exp_avg_sq.%s", key);
        const clip_weight *m = clip_wmap_find(r->ck.optim, km), *v = clip_wmap_find(r->ck.optim, kv);
        if (!m || !v || off + n > m->numel)
            return cc_fail(CC_ERR_INVALID, "trainer: no optimizer state for '%s'", key);
        rc = restore ? train_exec_set_state(r->ex, i, m->data + off, v->data + off)
                     : train_exec_get_state(r->ex, i, m->data + off, v->data + off);
    }
    if (restore && !rc)
        train_exec_set_steps(r->ex, r->ck.st.step);
    return rc;
}

/* A map of zeroed exp_avg/exp_avg_sq tensors for every trained key. */
static int optim_map(run *r)
{
    if (r->ck.optim)
        return CC_OK;
    r->ck.optim = clip_wmap_new();
    int rc = r->ck.optim ? CC_OK : cc_fail(CC_ERR_NOMEM, "trainer: out of memory");
    char k[G_NAME_LEN + 16];
    for (int i = 0; i < r->w->n && !rc; i++) {
        const clip_weight *w = &r->w->w[i];
        if (train_key_is_buffer(w->name))
            continue;
        for (int j = 0; j < 2 && !rc; j++) {
            float *d = calloc((size_t)(w->numel > 0 ? w->numel : 1), sizeof *d);
            snprintf(k, sizeof k, "%s.%s", j ? "exp_avg_sq" : "exp_avg", w->name);
            rc = d ? clip_wmap_add(r->ck.optim, k, w->ndim, w->shape, d, 1)
                   : cc_fail(CC_ERR_NOMEM, "trainer: out of memory");
            if (rc)
                free(d);
        }
    }
    return rc;
}

static int checkpoint(run *r, int64_t step)
{
    train_ckpt_state *st = &r->ck.st;
    st->step = step;
    st->epoch = r->data.epoch;
    st->epoch_batches = r->data.epoch_batches;
    st->samples = r->data.samples;
    st->skipped = train_data_skipped(&r->data);
    int rc = train_exec_sync(r->ex);
    if (!rc)
        rc = optim_map(r);
    if (!rc)
        rc = moments(r, 0);
    r->ck.model = r->w;
    char path[2300];
    if (!rc)
        rc = train_ckpt_save(r->o->out_dir, &r->ck, r->tok_dir, path, sizeof path);
    r->ck.model = NULL;
    if (!rc && r->o->on_checkpoint)
        r->o->on_checkpoint(r->o->user, path);
    return rc;
}

/* Steps through train/accum.h's engine: K > 1 micro-batches, or several
 * ranks with the loss over the global batch (features gathered there). */
static int train_exact_step(const run *r)
{
    return r->ck.st.accum > 1 || (r->ranks > 1 && r->loss == TRAIN_DIST_LOSS_GLOBAL);
}

static int one_step(run *r, int64_t step)
{
    double t0 = cc_now_s(), loss_sum = 0;
    int rc = CC_OK;
    const int exact = train_exact_step(r);
    for (int k = 0; k < r->ck.st.accum && !rc; k++) {
        float loss = 0;
        rc = train_data_next(&r->data);
        if (!rc && exact)
            train_accum_exec_take(&r->acc, k, r->data.batch.pixels, r->data.ids);
        else if (!rc)
            rc = train_exec_micro(r->ex, r->data.batch.pixels, r->data.ids, &loss);
        loss_sum += loss;
    }
    /* With ranks, every rank is here (or the lost one is named) before the
     * features are gathered or the gradients summed. */
    if (!rc && r->ranks > 1)
        rc = train_dist_roll_call(step + 1, train_dist_timeout());
    if (!rc && exact) { /* the loss of the whole batch, counted K times for the mean below */
        double loss = 0;
        rc = train_accum_exec_run(&r->acc, &loss);
        loss_sum = loss * r->ck.st.accum;
    }
    if (!rc && r->ranks > 1) {
        /* The step's gradients and losses summed over the ranks (the global
         * loss is the same on every rank: the mean keeps it). */
        float extra[1] = {(float)loss_sum};
        rc = train_dist_reduce(&r->red, r->ex, train_dist_grad_scale(r->loss, r->ranks), extra, 1);
        loss_sum = (double)extra[0] / r->ranks;
    }
    double lr = train_schedule_lr(&r->sched, step);
    float gn = 0;
    if (!rc)
        rc = train_exec_step(r->ex, lr, &gn);
    if (rc)
        return rc;
    train_step_info s = {0};
    s.step = step + 1;
    s.steps = r->ck.st.steps;
    s.epoch = r->data.epoch;
    s.loss = loss_sum / r->ck.st.accum;
    s.lr = lr;
    s.logit_scale = train_exec_logit_scale(r->ex);
    s.temperature = exp(s.logit_scale);
    s.grad_norm = gn;
    double dt = cc_now_s() - t0;
    s.samples_per_s = dt > 0 ? (double)r->ck.st.batch * r->ck.st.accum * r->ranks / dt : 0;
    s.skipped = train_data_skipped(&r->data);
    s.elapsed_s = dt;
    if (!isfinite(s.loss))
        return cc_fail(CC_ERR_INVALID, "trainer: loss is %g at step %lld (diverged; lower --lr?)",
                       s.loss, (long long)s.step);
    if (r->rank != 0)
        return CC_OK;
    if ((rc = train_log_step(&r->log, &s)))
        return rc;
    if (r->o->on_step)
        r->o->on_step(r->o->user, &s);
    return CC_OK;
}

/* Seconds the ranks wait for each other around setup and checkpoints,
 * which take longer than a step and differ between ranks. */
static double setup_wait(void)
{
    double t = 30 * train_dist_timeout();
    return t > 600 ? t : 600;
}

/* Every rank must build the same model with the same settings before the
 * weights are broadcast (a mismatch would scramble them). */
static int dist_agree(run *r)
{
    const train_ckpt_state *st = &r->ck.st;
    char line[512];
    snprintf(line, sizeof line, "%d %d %d %d %lld %lld|", st->batch, st->accum, st->siglip,
             st->image_size, (long long)st->steps, (long long)st->seed);
    uint64_t h = train_dist_weights_hash(r->w) ^ XXH64(line, strlen(line), 0);
    if (r->ck.model_cfg_text)
        h ^= XXH64(r->ck.model_cfg_text, strlen(r->ck.model_cfg_text), 1);
    return train_dist_check_equal(h, "the model config, settings or starting weights");
}

/* The weights of every rank are the same bits: the BatchNorm running
 * buffers (updated from each rank's own batches) are first made rank 0's,
 * then a hash of everything is compared. */
static int dist_check(run *r)
{
    int rc = train_exec_sync(r->ex);
    if (!rc)
        rc = train_dist_bcast_weights(r->w, 1);
    /* Test hook (tests/train/test_dist.py): this rank's copy made to differ,
     * so the check must fire. */
    const char *hook = getenv("CLIPCL_DIST_TEST_DIVERGE");
    if (!rc && hook && atoi(hook) == r->rank && r->rank > 0 && r->w->n > 0)
        r->w->w[0].data[0] += 1.0f;
    if (!rc)
        rc = train_dist_check_equal(train_dist_weights_hash(r->w), "the weights");
    return rc;
}

static int setup(run *r)
{
    const train_opts *o = r->o;
    int resumed = o->resume != NULL, rc;
    r->rank = train_dist_rank();
    r->ranks = train_dist_size();
    if (o->dist_timeout > 0)
        train_dist_set_timeout(o->dist_timeout);
    if ((rc = train_dist_loss_choose(!o->local_loss, &r->loss)))
        return rc;
    if (!o->out_dir)
        return cc_fail(CC_ERR_INVALID, "trainer: no output directory given (--out)");
    if (r->rank == 0 && (rc = train_mkdir(o->out_dir)))
        return rc;
    if (resumed) {
        if ((rc = train_ckpt_load(o->resume, &r->ck)))
            return rc;
        r->w = r->ck.model;
        r->ck.model = NULL;
        r->start = r->ck.st.step;
    } else {
        if (!o->model_config)
            return cc_fail(CC_ERR_INVALID, "trainer: no model config given (--model-config)");
        if ((rc = train_config_model_text(o->model_config, &r->ck.model_cfg_text)) ||
            (rc = train_config_read(o->model_config, &r->ck.cfg)))
            return rc;
    }
    if ((rc = settings(r, resumed)))
        return rc;
    train_ckpt_state *st = &r->ck.st;
    if (!resumed && r->ck.cfg.siglip && !st->siglip)
        return cc_fail(CC_ERR_INVALID, "trainer: model config '%s' is SigLIP's architecture, "
                       "which trains with the sigmoid loss: pass --siglip", o->model_config);
    if (!resumed && st->siglip && (rc = train_config_add_siglip(&r->ck.model_cfg_text)))
        return rc;
    if (!resumed && (rc = train_init_weights(&r->ck.cfg, r->kind, (uint64_t)st->seed, &r->w)))
        return rc;
    if (r->ranks > 1 && ((rc = dist_agree(r)) || (rc = train_dist_bcast_weights(r->w, 0))))
        return rc;
    train_data_opts dopt = {.data = st->data, .csv_img_key = st->csv_img_key,
                            .csv_caption_key = st->csv_caption_key, .batch = st->batch,
                            .resolution = r->ck.cfg.vision.resolution, .image_size = st->image_size,
                            .augment = st->augment, .workers = o->workers >= 0 ? o->workers : 0,
                            .seed = (uint64_t)st->seed, .part = r->rank, .parts = r->ranks,
                            .warn = warn_cb, .warn_user = (void *)o};
    if ((rc = train_data_open(&r->data, &dopt)) || (rc = setup_tokenizer(r, resumed)))
        return rc;
    if (resumed && (rc = train_data_seek(&r->data, st->epoch, st->epoch_batches)))
        return rc;
    /* --accum K > 1: micro-batch graphs that take the gradient of the loss
     * over all K*B features from outside (train/accum.h); their seed K
     * undoes the optimizer's mean over the K micro-batches, whose
     * gradients are already slices of one big batch's and must add up. */
    if ((rc = train_exact_step(r) ? clip_train_build_feature_grad(r->w, &r->ck.cfg, st->batch, r->kind, &r->tg)
                            : clip_train_build(r->w, &r->ck.cfg, st->batch, r->kind, &r->tg)))
        return rc;
    r->tg->seed_value = (float)st->accum;
    adamw_cfg ac = adamw_defaults();
    ac.beta1 = st->beta1;
    ac.beta2 = st->beta2;
    ac.eps = st->eps;
    ac.weight_decay = st->weight_decay;
    ac.clip_norm = st->clip_grad_norm;
    ac.accum_steps = st->accum;
    if ((rc = train_dist_device(st->device, r->device, sizeof r->device)) ||
        (rc = train_exec_create(r->device, r->tg, r->w, &ac, &r->ex)))
        return rc;
    const size_t px_pair = (size_t)3 * (size_t)r->ck.cfg.vision.resolution * (size_t)r->ck.cfg.vision.resolution;
    if (train_exact_step(r) &&
        (rc = train_accum_exec_init(&r->acc, r->ex, r->tg, st->accum, px_pair, r->data.context,
                                    r->ranks, r->rank)))
        return rc;
    if (resumed && (rc = moments(r, 1)))
        return rc;
    if (r->ranks > 1 && (rc = train_dist_reducer_init(&r->red, 16)))
        return rc;
    /* Devices compile their kernels at their own pace: a generous wait. */
    if ((rc = train_dist_barrier(setup_wait(), "the start (every rank set up)")))
        return rc;
    if (r->rank != 0)
        return CC_OK;
    if (o->on_start) {
        int64_t grad_floats = 0;
        for (int i = 0; i < r->tg->t->n_params; i++)
            grad_floats += g_numel(r->tg->g, r->tg->t->param_t[i]);
        train_start_info si = {r->ranks, st->batch, st->accum,
                               (int64_t)r->ranks * st->batch * st->accum, r->start, st->steps,
                               train_exec_device(r->ex),
                               r->ranks > 1 ? (grad_floats + 1) * (int64_t)sizeof(float) : 0,
                               r->ranks > 1 && r->loss == TRAIN_DIST_LOSS_GLOBAL};
        o->on_start(o->user, &si);
    }
    snprintf(r->log_path, sizeof r->log_path, "%s/log.jsonl", o->out_dir);
    return train_log_open(&r->log, r->log_path, r->start);
}

int train_run(const train_opts *o)
{
    if (!o)
        return cc_fail(CC_ERR_INVALID, "train_run: NULL options");
    run r;
    memset(&r, 0, sizeof r);
    r.o = o;
    int rc = setup(&r);
    int64_t every = o->checkpoint_every > 0 ? o->checkpoint_every : 0;
    int64_t check = o->dist_check_every >= 0 ? o->dist_check_every : 50;
    for (int64_t s = r.start; !rc && s < r.ck.st.steps; s++) {
        rc = one_step(&r, s);
        int64_t done = s + 1;
        int ck = (every && done % every == 0) || done == r.ck.st.steps;
        if (!rc && r.ranks > 1 && (ck || (check && done % check == 0)))
            rc = dist_check(&r);
        if (!rc && ck && r.rank == 0)
            rc = checkpoint(&r, done);
        /* The others wait as long as rank 0 may take to write; rank 0 comes
         * last, so the others are already there: a rank missing then is
         * lost, and the usual timeout names it. */
        if (!rc && ck)
            rc = train_dist_barrier(r.rank == 0 ? train_dist_timeout() : setup_wait(), "the checkpoint");
    }
    if (r.private_tok) {
        char f[1200];
        for (int i = 0; train_tokenizer_files[i]; i++) {
            snprintf(f, sizeof f, "%s/%s", r.tok_dir, train_tokenizer_files[i]);
            remove(f);
        }
        rmdir(r.tok_dir);
    }
    train_dist_reducer_free(&r.red);
    train_log_close(&r.log);
    train_accum_exec_free(&r.acc);
    train_exec_free(r.ex);
    clip_train_free(r.tg);
    train_data_close(&r.data);
    clip_wmap_free(r.w);
    train_ckpt_free(&r.ck);
    return rc;
}
