/* Shared by tests/train/test_trainer*.c and test_checkpoint*.c: a scratch
 * directory, tiny open_clip model configs, and a train_run wrapper that
 * records every step's loss. Static functions: included once per test. */
#ifndef CLIPCL_TEST_TRAINER_UTIL_H
#define CLIPCL_TEST_TRAINER_UTIL_H

/* nftw(), to remove the scratch tree; before any system header */
#define _XOPEN_SOURCE 700

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/status.h"
#include "train/trainer.h"
#include "runtime/settings.h"

#define TT_MAX_STEPS 64

static char tt_root[256];

static void tt_ok(int rc, const char *what)
{
    if (rc)
        print_error("%s: %s\n", what, cc_last_error());
    assert_int_equal(rc, CC_OK);
}

static const char *tt_path(const char *name)
{
    static char buf[8][512];
    static int next;
    char *b = buf[next++ & 7];
    snprintf(b, sizeof buf[0], "%s/%s", tt_root, name);
    return b;
}

static void tt_write(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    fclose(f);
}

/* A ViT and a ResNet small enough for the ref backend to take steps in
 * well under a second. */
static const char tt_vit_cfg[] =
    "{\"embed_dim\": 16, \"quick_gelu\": true,\n"
    " \"vision_cfg\": {\"image_size\": 16, \"layers\": 1, \"width\": 32, \"patch_size\": 8, \"head_width\": 16},\n"
    " \"text_cfg\": {\"context_length\": 12, \"vocab_size\": 600, \"width\": 32, \"heads\": 2, \"layers\": 1}}\n";
static const char tt_rn_cfg[] =
    "{\"embed_dim\": 16,\n"
    " \"vision_cfg\": {\"image_size\": 32, \"layers\": [1, 1, 1, 1], \"width\": 4, \"head_width\": 32},\n"
    " \"text_cfg\": {\"context_length\": 12, \"vocab_size\": 600, \"width\": 32, \"heads\": 2, \"layers\": 1}}\n";

static int tt_rm(const char *p, const struct stat *s, int flag, struct FTW *f)
{
    (void)s;
    (void)flag;
    (void)f;
    return remove(p);
}

static int tt_setup(void **state)
{
    (void)state;
    snprintf(tt_root, sizeof tt_root, "/tmp/clipcl-train-test-XXXXXX");
    if (!mkdtemp(tt_root))
        return -1;
    tt_write(tt_path("vit.json"), tt_vit_cfg);
    tt_write(tt_path("rn.json"), tt_rn_cfg);
    return 0;
}

static int tt_teardown(void **state)
{
    (void)state;
    if (!rt_setting_value(RT_SET_KEEP_TEST_DIR))
        nftw(tt_root, tt_rm, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

typedef struct tt_losses {
    int64_t first, n;       /* steps first .. first + n - 1 */
    float loss[TT_MAX_STEPS];
    float scale[TT_MAX_STEPS];
    float grad_norm[TT_MAX_STEPS];
} tt_losses;

static void tt_on_step(void *user, const train_step_info *s)
{
    tt_losses *l = user;
    if (l->n == 0)
        l->first = s->step;
    if (l->n < TT_MAX_STEPS) {
        l->loss[l->n] = (float)s->loss;
        l->scale[l->n] = (float)s->logit_scale;
        l->grad_norm[l->n] = (float)s->grad_norm;
        l->n++;
    }
}

/* Options for a run on the synth set with the test's defaults. */
static void tt_opts(train_opts *o, const char *cfg, const char *out, const char *device, tt_losses *l)
{
    train_opts_defaults(o);
    o->data = "synth:24:7";
    o->model_config = cfg ? tt_path(cfg) : NULL;
    o->out_dir = tt_path(out);
    o->device = device;
    o->batch = 8;
    o->lr = 2e-3;
    o->warmup = 1;
    o->workers = 1;
    o->on_step = tt_on_step;
    o->user = l;
    memset(l, 0, sizeof *l);
}

#endif
