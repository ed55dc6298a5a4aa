/* The trainer's data side: the dataset named by --data, the seeded loader
 * (full batches only, so the graph's batch is fixed), the loader position
 * kept for checkpoints, and captions tokenized to the model's context. */
#include "train/trainer_internal.h"

#include "runtime/fs.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/atomic_file.h"
#include "io/synth.h"
#include "io/tok_train.h"
#include "runtime/status.h"

const char *const train_tokenizer_files[] = {"vocab.json", "merges.txt",
                                             "bpe_simple_vocab_16e6.txt.gz",
                                             "bpe_simple_vocab_16e6.txt", NULL};

static int open_dataset(train_data *d, const train_data_opts *o)
{
    ds_open_opts oo = {o->csv_img_key, o->csv_caption_key, 0, o->warn, o->warn_user};
    const char *s = o->data;
    if (strncmp(s, "synth:", 6) == 0) {
        long long n = 0;
        unsigned long long seed = 0;
        char tail = 0;
        int k = sscanf(s + 6, "%lld:%llu%c", &n, &seed, &tail);
        if (k < 1 || k > 2 || n < 1)
            return cc_fail(CC_ERR_INVALID, "--data \"%s\": expected synth:N or synth:N:SEED", s);
        int size = o->image_size > 0 ? o->image_size : o->resolution;
        return ds_open_synth(&d->ds, SYNTH_TRAIN, n, size, seed);
    }
    if (strstr(s, ".tar")) {
        char **shards = NULL;
        int n = 0;
        int rc = ds_brace_expand(s, &shards, &n);
        if (!rc)
            rc = ds_open_tar(&d->ds, (const char *const *)shards, n, &oo);
        ds_strings_free(shards, n);
        return rc;
    }
    return ds_open_csv(&d->ds, s, &oo);
}

int train_data_open(train_data *d, const train_data_opts *o)
{
    memset(d, 0, sizeof *d);
    if (!o->data || !*o->data)
        return cc_fail(CC_ERR_INVALID, "trainer: no data given (--data)");
    int rc = open_dataset(d, o);
    if (rc)
        return rc;
    if (ds_count(d->ds) < o->batch)
        return cc_fail(CC_ERR_INVALID, "trainer: dataset '%s' has %lld samples, fewer than one "
                       "batch of %d", o->data, (long long)ds_count(d->ds), o->batch);
    ds_loader_opts lo = {0};
    lo.batch = o->batch;
    lo.size = o->resolution;
    lo.seed = o->seed;
    lo.workers = o->workers;
    lo.drop_last = 1;
    lo.part = o->part;
    lo.parts = o->parts;
    lo.warn = o->warn;
    lo.warn_user = o->warn_user;
    if (o->augment)
        lo.rrc = (ds_rrc){1, 0.9, 1.0, 3.0 / 4.0, 4.0 / 3.0};
    if ((rc = ds_batch_init(&d->batch, o->batch, o->resolution)))
        return rc;
    return ds_loader_open(&d->loader, d->ds, &lo);
}

static int is_file(const char *p)
{
    struct stat s;
    return stat(p, &s) == 0 && S_ISREG(s.st_mode);
}

int train_data_tokenizer(train_data *d, const char *dir, int vocab, int context)
{
    char a[1100], b[1100];
    int rc;
    snprintf(a, sizeof a, "%s/vocab.json", dir);
    snprintf(b, sizeof b, "%s/merges.txt", dir);
    if (is_file(a) && is_file(b)) {
        rc = tok_load_hf(a, b, &d->tok);
    } else {
        snprintf(a, sizeof a, "%s/bpe_simple_vocab_16e6.txt.gz", dir);
        if (!is_file(a))
            snprintf(a, sizeof a, "%s/bpe_simple_vocab_16e6.txt", dir);
        if (!is_file(a))
            return cc_fail(CC_ERR_IO, "tokenizer in '%s': expected vocab.json + merges.txt or "
                           "bpe_simple_vocab_16e6.txt[.gz]", dir);
        rc = tok_load_openai(a, &d->tok);
    }
    if (rc)
        return rc;
    if (tok_vocab_size(d->tok) > vocab)
        return cc_fail(CC_ERR_SHAPE, "tokenizer in '%s' has %d ids, but the model's text "
                       "vocab_size is %d", dir, (int)tok_vocab_size(d->tok), vocab);
    d->context = context;
    d->ids = calloc((size_t)d->batch.cap * (size_t)context, sizeof *d->ids);
    return d->ids ? CC_OK : cc_fail(CC_ERR_NOMEM, "trainer: out of memory for token ids");
}

int train_data_learn_tokenizer(const train_data *d, const char *dir, int vocab)
{
    if (vocab < TOK_TRAIN_MIN_VOCAB)
        return cc_fail(CC_ERR_INVALID, "trainer: text vocab_size %d is below %d, too small to "
                       "learn a BPE tokenizer; give --tokenizer DIR or --vocab FILE",
                       vocab, TOK_TRAIN_MIN_VOCAB);
    tok_trainer *tr = NULL;
    int rc = tok_trainer_new(&tr);
    for (int64_t i = 0; !rc && i < ds_count(d->ds); i++)
        rc = tok_trainer_add_text(tr, ds_caption(d->ds, i));
    tok_train_opts to = {vocab < TOK_TRAIN_MAX_VOCAB ? vocab : TOK_TRAIN_MAX_VOCAB, 0};
    if (!rc)
        rc = tok_trainer_learn(tr, &to);
    if (!rc)
        rc = tok_trainer_write_hf(tr, dir);
    tok_trainer_free(tr);
    return rc;
}

int train_data_next(train_data *d)
{
    for (int tries = 0; tries < 2; tries++) {
        int got = 0;
        int rc = ds_loader_next(d->loader, &d->batch, &got);
        if (rc)
            return rc;
        if (!got)
            continue; /* end of an epoch: the next call starts the next one */
        if (d->batch.epoch != d->epoch) {
            d->epoch = d->batch.epoch;
            d->epoch_batches = 0;
        }
        d->epoch_batches++;
        d->samples += d->batch.n;
        for (int i = 0; d->tok && i < d->batch.n; i++) {
            rc = tok_encode_ctx(d->tok, d->batch.captions[i], d->ids + (size_t)i * d->context,
                                (size_t)d->context, NULL);
            if (rc)
                return rc;
        }
        return CC_OK;
    }
    return cc_fail(CC_ERR_IO, "trainer: the loader gave no batch in a whole epoch");
}

int train_data_seek(train_data *d, int64_t epoch, int64_t epoch_batches)
{
    /* The loader has no seek: replay it. Its order and augmentation are pure
     * functions of (seed, epoch, position), so this lands on the same state. */
    tok_tokenizer *tok = d->tok;
    d->tok = NULL; /* no need to tokenize what is thrown away */
    int rc = CC_OK;
    while (!rc && (d->epoch < epoch || (d->epoch == epoch && d->epoch_batches < epoch_batches)))
        rc = train_data_next(d);
    d->tok = tok;
    if (!rc && (d->epoch != epoch || d->epoch_batches != epoch_batches))
        rc = cc_fail(CC_ERR_INVALID, "trainer: cannot reach data position epoch %" PRId64
                     " batch %" PRId64 " (the dataset changed since the checkpoint?)",
                     epoch, epoch_batches);
    return rc;
}

int64_t train_data_skipped(const train_data *d)
{
    return ds_open_skipped(d->ds) + ds_loader_skipped(d->loader);
}

void train_data_close(train_data *d)
{
    ds_loader_close(d->loader);
    ds_batch_free(&d->batch);
    ds_close(d->ds);
    tok_free(d->tok);
    free(d->ids);
    memset(d, 0, sizeof *d);
}

/* With its parents: `--out runs/tiny` must not need runs/ to exist. */
int train_mkdir(const char *dir) { return rt_make_dirs(dir); }

int train_copy_file(const char *src, const char *dst)
{
    FILE *f = fopen(src, "rb");
    if (!f)
        return cc_fail(CC_ERR_IO, "cannot read '%s': %s", src, strerror(errno));
    io_atomic a;
    int rc = io_atomic_open(&a, dst);
    if (rc) {
        fclose(f);
        return rc;
    }
    char buf[65536];
    size_t n;
    while (!rc && (n = fread(buf, 1, sizeof buf, f)) > 0)
        rc = io_atomic_write(&a, buf, n);
    if (!rc && ferror(f))
        rc = cc_fail(CC_ERR_IO, "error reading '%s'", src);
    fclose(f);
    if (rc) {
        io_atomic_abort(&a);
        return rc;
    }
    return io_atomic_commit(&a);
}
