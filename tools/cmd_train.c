/* clipcl train: trains (or resumes) a CLIP from an open_clip model config on
 * an image-caption dataset (train/trainer.h). */
#include "runtime/dtype.h"
#include "train/dist.h"
#include "train/trainer.h"
#include "tools/cmd.h"
#include "tools/cmd_progress.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char cmd_train_usage[] =
    "usage: clipcl train --data DATA --model-config CFG.json --out DIR --steps S\n"
    "                    [--batch B] [--lr LR] [--warmup W] [options]\n"
    "       clipcl train --resume RUN_OR_CKPT --out DIR [options]\n\n"
    "Trains a CLIP from scratch with the symmetric contrastive loss (or SigLIP's),\n"
    "AdamW and a cosine schedule with linear warm-up, writing open_clip-style\n"
    "checkpoints (DIR/ckpt-NNNNNN, DIR/latest) that `clipcl zeroshot --model\n"
    "DIR/latest` and open_clip load, and a per-step log DIR/log.jsonl\n"
    "(`clipcl plot DIR/log.jsonl --out curves.png`). See docs/training.md.\n\n"
    "data and model:\n"
    "  --data DATA            a CSV/TSV (image path + caption), webdataset shards\n"
    "                         (shards-{000..009}.tar, several joined by ::), or\n"
    "                         synth:N[:SEED] (the procedural set, `clipcl synth`)\n"
    "  --csv-img-key K        CSV column of image paths (default filepath)\n"
    "  --csv-caption-key K    CSV column of captions (default title)\n"
    "  --model-config F       open_clip model config JSON (embed_dim, vision_cfg,\n"
    "                         text_cfg, quick_gelu)\n"
    "  --tokenizer DIR        vocab.json + merges.txt (e.g. from tokenizer-train)\n"
    "  --vocab FILE           OpenAI's bpe_simple_vocab_16e6.txt.gz\n"
    "                         (neither: BPE merges are learned from the captions,\n"
    "                         up to the config's text vocab_size)\n"
    "  --image-size S         draw synth images at S px (default: the model's)\n"
    "  --augment              random resized crop (scale 0.9-1, open_clip's)\n"
    "optimisation:\n"
    "  --steps S              optimizer steps in the whole run (required)\n"
    "  --batch B              pairs per micro-batch (default 32; B x K >= 2)\n"
    "  --accum K              micro-batches per step, exactly one batch of K*B:\n"
    "                         every pair against all K*B (default 1)\n"
    "  --lr LR                peak learning rate (default 5e-4)\n"
    "  --warmup W             linear warm-up steps, then cosine (default 0)\n"
    "  --wd X                 weight decay, not on gains/biases/embeddings/\n"
    "                         temperature (default 0.2)\n"
    "  --beta1 X --beta2 X --eps X   AdamW (default 0.9, 0.98, 1e-6)\n"
    "  --clip-grad-norm X     clip the global gradient norm (default off)\n"
    "  --siglip               sigmoid loss with learnable bias\n"
    "  --local-loss           with several ranks: each rank's loss over its own pairs only\n"
    "                         (cheaper; default: the loss over the global batch)\n"
    "  --seed N               init, shuffle, augmentation (default 0)\n"
    "run:\n"
    "  --out DIR              run directory (created if missing)\n"
    "  --resume P             continue from a checkpoint or a run's latest; its\n"
    "                         settings apply unless given again here\n"
    "  --checkpoint-every N   also checkpoint every N steps (default: end only)\n"
    "  --log-every N          print a line every N steps when stderr is not a\n"
    "                         terminal (default 10; 0: never)\n"
    "  --workers N            image decoding threads (default 2)\n"
    "  --dtype f32            weight storage: training is f32 only (f16 and bf16 are\n"
    "                         for inference commands; docs/cli.md)\n"
    "  --device D             \"ref\" (plain C) or an OpenCL device (gpu, cpu, P:D,\n"
    "                         part of a name; default $CLIPCL_DEVICE or the first);\n"
    "                         under MPI a list D0,D1,... gives rank r entry r mod n\n"
    "data-parallel (mpirun -np N clipcl train ..., srun; docs/distributed.md):\n"
    "                         --batch is per rank; the global batch is ranks x batch\n"
    "                         x accum; rank 0 logs, checkpoints and shows progress\n"
    "  --dist-check-every N   compare a hash of the weights across ranks every N\n"
    "                         steps (default 50; also before each checkpoint)\n"
    "  --dist-timeout S       seconds a rank waits for the others before naming the\n"
    "                         lost one and stopping (default $CLIPCL_DIST_TIMEOUT or 15)\n";

typedef struct ui {
    progress bar;
    int64_t log_every;
    int started;
} ui;

static void on_step(void *user, const train_step_info *s)
{
    ui *u = user;
    if (!u->started) {
        cmd_progress_start(&u->bar, "train", "step", s->steps);
        u->started = 1;
    }
    if (u->log_every > 0 && (s->step % u->log_every == 0 || s->step == s->steps) && !u->bar.enabled)
        fprintf(stderr, "step %lld/%lld  loss %.4f  lr %.3g  temp %.2f  |g| %.3g  %.1f samples/s\n",
                (long long)s->step, (long long)s->steps, s->loss, s->lr, s->temperature,
                s->grad_norm, s->samples_per_s);
    char label[64];
    snprintf(label, sizeof label, "train loss %.3f", s->loss);
    /* the bar keeps a pointer: a static buffer outlives the call */
    static char shown[64];
    memcpy(shown, label, sizeof shown);
    u->bar.label = shown;
    progress_update(&u->bar, s->step);
}

static void on_warn(void *user, const char *msg)
{
    ui *u = user;
    progress_clear(&u->bar);
    fprintf(stderr, "clipcl train: warning: %s\n", msg);
}

static void on_checkpoint(void *user, const char *path)
{
    ui *u = user;
    progress_clear(&u->bar);
    fprintf(stderr, "clipcl train: checkpoint %s\n", path);
}

static void on_start(void *user, const train_start_info *s)
{
    (void)user;
    if (s->ranks > 1)
        fprintf(stderr, "clipcl train: %d ranks x batch %d x accum %d = global batch %lld (rank 0: %s); "
                "%s; gradients summed across ranks: %.2f MB per step\n", s->ranks, s->batch, s->accum,
                (long long)s->global_batch, s->device,
                s->global_loss ? "loss over the global batch" : "loss per rank (each rank's own pairs)",
                (double)s->allreduce_bytes / 1e6);
    else if (s->accum > 1)
        fprintf(stderr, "clipcl train: 1 rank x batch %d x accum %d = global batch %lld (%s)\n",
                s->batch, s->accum, (long long)s->global_batch, s->device);
    else
        fprintf(stderr, "clipcl train: global batch %lld on %s\n", (long long)s->global_batch, s->device);
}

/* A failed rank ends the whole job: MPI_Finalize would wait for the others. */
static int fail(int rc)
{
    int code = cmd_lib_error(rc);
    if (train_dist_size() > 1) {
        fflush(stderr);
        train_dist_abort(code);
    }
    train_dist_finalize();
    return code;
}

static int num(const char *opt, const char *v, double lo, double *out)
{
    char *end = NULL;
    errno = 0;
    double x = strtod(v, &end);
    if (!*v || *end || errno || !isfinite(x) || x < lo)
        return cmd_usage_error("train", "%s \"%s\": expected a number >= %g", opt, v, lo);
    *out = x;
    return 0;
}

static int integer(const char *opt, const char *v, long long lo, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (!*v || *end || errno || x < lo || x > 2000000000LL)
        return cmd_usage_error("train", "%s \"%s\": expected an integer >= %lld", opt, v, lo);
    *out = x;
    return 0;
}

int cmd_train(int argc, char **argv)
{
    train_opts o;
    train_opts_defaults(&o);
    ui u = {0};
    u.log_every = 10;
    static const char *const str_opts[] = {"--data", "--model-config", "--out", "--resume", "--device",
                                           "--tokenizer", "--vocab", "--csv-img-key",
                                           "--csv-caption-key"};
    const char **str_dst[] = {&o.data, &o.model_config, &o.out_dir, &o.resume, &o.device,
                              &o.tokenizer_dir, &o.vocab_file, &o.csv_img_key, &o.csv_caption_key};
    static const char *const dbl_opts[] = {"--lr", "--wd", "--beta1", "--beta2", "--eps", "--clip-grad-norm",
                                           "--dist-timeout"};
    double *dbl_dst[] = {&o.lr, &o.weight_decay, &o.beta1, &o.beta2, &o.eps, &o.clip_grad_norm,
                         &o.dist_timeout};
    static const char *const int_opts[] = {"--batch", "--steps", "--warmup", "--accum", "--seed",
                                           "--image-size", "--checkpoint-every", "--log-every",
                                           "--workers", "--dist-check-every"};
    int64_t iv[10];
    for (int k = 0; k < 10; k++)
        iv[k] = -1;
    static const long long int_lo[] = {1, 1, 0, 1, 0, 8, 0, 0, 1, 0}; /* batch x accum >= 2: the trainer checks */
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int r = 0, matched = 0;
        if (strcmp(argv[i], "--local-loss") == 0) {
            o.local_loss = 1;
            continue;
        }
        if (strcmp(argv[i], "--siglip") == 0) {
            o.siglip = 1;
            continue;
        }
        if (strcmp(argv[i], "--augment") == 0) {
            o.augment = 1;
            continue;
        }
        if ((r = cmd_option_value(argc, argv, &i, "--dtype", &v)) != 0) {
            rt_dtype dt;
            if (r < 0)
                return 2;
            if (rt_dtype_parse(v, &dt))
                return cmd_usage_error(argv[0], "--dtype \"%s\": expected " RT_DTYPE_CHOICES, v);
            if (dt != RT_DTYPE_F32)
                return cmd_usage_error(argv[0], "--dtype %s: training keeps its weights in f32 (16-bit "
                                                "storage is for inference: embed-image, zeroshot, bench)", v);
            continue;
        }
        for (int k = 0; k < 9 && !matched; k++)
            if ((r = cmd_option_value(argc, argv, &i, str_opts[k], &v)) != 0) {
                if (r < 0)
                    return 2;
                *str_dst[k] = v;
                matched = 1;
            }
        for (int k = 0; k < 7 && !matched; k++)
            if ((r = cmd_option_value(argc, argv, &i, dbl_opts[k], &v)) != 0) {
                if (r < 0 || num(dbl_opts[k], v, 0, dbl_dst[k]))
                    return 2;
                matched = 1;
            }
        for (int k = 0; k < 10 && !matched; k++)
            if ((r = cmd_option_value(argc, argv, &i, int_opts[k], &v)) != 0) {
                if (r < 0 || integer(int_opts[k], v, int_lo[k], &iv[k]))
                    return 2;
                matched = 1;
            }
        if (!matched)
            return cmd_usage_error("train", "unexpected argument \"%s\"", argv[i]);
    }
    o.batch = (int)iv[0];
    o.steps = iv[1];
    o.warmup = iv[2];
    o.accum = (int)iv[3];
    o.seed = iv[4];
    o.image_size = (int)iv[5];
    o.checkpoint_every = iv[6];
    if (iv[7] >= 0)
        u.log_every = iv[7];
    o.workers = (int)iv[8];
    o.dist_check_every = iv[9];
    if (!o.out_dir)
        return cmd_usage_error("train", "--out DIR is required");
    if (!o.resume && (!o.data || !o.model_config || o.steps < 0))
        return cmd_usage_error("train", "a new run needs --data, --model-config and --steps");
    if (o.tokenizer_dir && o.vocab_file)
        return cmd_usage_error("train", "give --tokenizer or --vocab, not both");
    o.on_step = on_step;
    o.on_warn = on_warn;
    o.on_checkpoint = on_checkpoint;
    o.on_start = on_start;
    o.user = &u;
    int rc = train_dist_init();
    if (!rc)
        rc = train_run(&o);
    if (rc) {
        progress_abort(&u.bar);
        return fail(rc);
    }
    progress_finish(&u.bar);
    train_dist_finalize();
    return 0;
}
