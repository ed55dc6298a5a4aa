/* clipcl synth: writes the procedural shapes dataset (io/synth.h) as PNGs +
 * CSVs that `clipcl train --data DIR/train.csv` and zero-shot evaluation
 * read. */
#include "io/synth.h"
#include "tools/cmd.h"
#include "tools/cmd_progress.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Declared here until tools/cmd.h lists them (the dispatcher's owner adds). */

const char cmd_synth_usage[] =
    "usage: clipcl synth --out DIR --n N [--size S] [--seed K] [--holdout] [--n-holdout M]\n"
    "                    [--wds [--shard-size N]]\n\n"
    "Generates a procedural image-caption dataset: one shape (circle, square,\n"
    "triangle, star, hexagon, diamond, cross, heart) per image, in one of eight\n"
    "colours, three sizes and nine positions, on gradient or noise backgrounds,\n"
    "with captions such as \"a photo of a small red circle\" or \"a red circle on\n"
    "the left\". The same seed always gives the same bytes.\n\n"
    "Writes DIR/train/*.png and DIR/train.csv (columns filepath,title,shape,colour,\n"
    "size,position,class_shape,class_pair; paths relative to DIR), plus\n"
    "DIR/classes_shape.txt, DIR/classes_pair.txt and DIR/heldout_pairs.txt.\n"
    "Eight (shape, colour) pairs (DIR/heldout_pairs.txt, e.g. green circle) never\n"
    "appear in train; with --holdout, DIR/heldout_seen.csv holds new images of\n"
    "training pairs and DIR/heldout_unseen.csv images of the held-out pairs.\n"
    "Every file is written atomically.\n\n"
    "  --out DIR        output directory (created with its parents if missing)\n"
    "  --n N            number of training images (>= 1)\n"
    "  --size S         image side in pixels, 8 to 4096 (default 64)\n"
    "  --seed K         random seed, a non-negative integer (default 0)\n"
    "  --holdout        also write the two held-out splits\n"
    "  --n-holdout M    images per held-out split (default max(1, N/5))\n"
    "  --wds            write the training split as webdataset shards instead of\n"
    "                   train/*.png + train.csv: DIR/shards/shard-000000.tar, ...\n"
    "                   with KEY.png + KEY.txt per sample (KEY the 7-digit index),\n"
    "                   as `clipcl train --data` and `clipcl embed-image --data` read\n"
    "  --shard-size N   samples per shard with --wds (default 10000)\n";

static int parse_int(const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi)
        return cmd_usage_error("synth", "%s \"%s\": expected an integer from %" PRId64 " to %" PRId64,
                               opt, s, lo, hi);
    *out = v;
    return 0;
}

static int parse_seed(const char *s, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *end || errno || s[0] == '-')
        return cmd_usage_error("synth", "--seed \"%s\": expected a non-negative integer", s);
    *out = v;
    return 0;
}

static void on_progress(void *user, int64_t done, int64_t total)
{
    (void)total;
    progress_update(user, done);
}

int cmd_synth(int argc, char **argv)
{
    const char *out = NULL, *n_s = NULL, *size_s = NULL, *seed_s = NULL, *nh_s = NULL;
    const char *ss_s = NULL;
    int holdout = 0, wds = 0, rc = 0;
    for (int i = 1; i < argc && rc == 0; i++) {
        const char *v = NULL;
        int r = 0;
        const char **slot = NULL;
        static const char *const opts[] = {"--out", "--n", "--size", "--seed", "--n-holdout",
                                           "--shard-size"};
        const char **slots[] = {&out, &n_s, &size_s, &seed_s, &nh_s, &ss_s};
        if (strcmp(argv[i], "--holdout") == 0) {
            holdout = 1;
            continue;
        }
        if (strcmp(argv[i], "--wds") == 0) {
            wds = 1;
            continue;
        }
        for (int k = 0; k < 6 && r == 0; k++)
            if ((r = cmd_option_value(argc, argv, &i, opts[k], &v)) != 0)
                slot = slots[k];
        if (r < 0)
            rc = 2;
        else if (r == 0)
            rc = cmd_usage_error("synth", "unknown argument \"%s\"", argv[i]);
        else if (*slot)
            rc = cmd_usage_error("synth", "option given twice (\"%s\")", argv[i]);
        else
            *slot = v;
    }
    if (rc)
        return rc;
    if (!out)
        return cmd_usage_error("synth", "--out DIR is required");
    if (!*out)
        return cmd_usage_error("synth", "--out \"\": expected a directory path");
    if (!n_s)
        return cmd_usage_error("synth", "--n N is required (number of training images)");
    int64_t n = 0, size = 64, nh = 0;
    uint64_t seed = 0;
    if ((rc = parse_int("--n", n_s, 1, 100000000, &n)) != 0)
        return rc;
    if (size_s && (rc = parse_int("--size", size_s, 8, 4096, &size)) != 0)
        return rc;
    if (seed_s && (rc = parse_seed(seed_s, &seed)) != 0)
        return rc;
    nh = n / 5 > 0 ? n / 5 : 1;
    if (nh_s && (rc = parse_int("--n-holdout", nh_s, 1, 100000000, &nh)) != 0)
        return rc;
    if (nh_s && !holdout)
        return cmd_usage_error("synth", "--n-holdout needs --holdout");
    int64_t shard_size = 10000;
    if (ss_s && !wds)
        return cmd_usage_error("synth", "--shard-size needs --wds");
    if (ss_s && (rc = parse_int("--shard-size", ss_s, 1, 100000000, &shard_size)) != 0)
        return rc;

    progress bar;
    int64_t total = n + (holdout ? 2 * nh : 0);
    cmd_progress_start(&bar, "synth", "img", total);
    synth_write_opts o = {out, n, nh, (int)size, seed, holdout, on_progress, &bar};
    if ((wds ? synth_write_dataset_wds(&o, shard_size) : synth_write_dataset(&o)) != CC_OK) {
        progress_abort(&bar);
        return cmd_lib_error(1);
    }
    progress_finish(&bar);
    if (wds)
        fprintf(stderr, "wrote %" PRId64 " images to %s (shards/shard-000000.tar .. shard-%06" PRId64
                        ".tar%s)\n", total, out, (n - 1) / shard_size,
                holdout ? ", heldout_seen.csv, heldout_unseen.csv" : "");
    else
        fprintf(stderr, "wrote %" PRId64 " images to %s (train.csv%s)\n", total, out,
                holdout ? ", heldout_seen.csv, heldout_unseen.csv" : "");
    return 0;
}
