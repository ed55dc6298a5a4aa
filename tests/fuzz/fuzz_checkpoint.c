/* Training checkpoint directories (train/checkpoint_load.c): trainer_state.json,
 * the open_clip config, the model and optimizer safetensors against the
 * schema the config implies, the step agreeing across files, a tokenizer.
 *
 * The input is the directory's files joined by FZ_SEP, in the order of
 * FILES; a missing part leaves that file out of the directory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "models/clip.h"
#include "runtime/status.h"
#include "tests/fuzz/fuzz_util.h"
#include "train/checkpoint.h"
#include "train/trainer.h"

static const char *const FILES[] = {"trainer_state.json", "open_clip_config.json",
                                    "open_clip_model.safetensors", "optimizer.safetensors",
                                    "merges.txt", "vocab.json"};
#define N_FILES (int)(sizeof FILES / sizeof FILES[0])
#define CKPT "ckpt"

/* Bounds the model the config describes (the loader builds its schema in
 * memory before it reads a tensor): about 16 M parameters at most. */
static int small_model(const uint8_t *cfg, size_t n)
{
    char *text = fz_strndup(cfg, n);
    clip_config c;
    memset(&c, 0, sizeof c);
    int rc = train_config_from_json_text(text, "fuzz input", &c);
    free(text);
    cc_clear_error();
    if (rc)
        return 1; /* refused before any allocation */
    const double v = c.vision.width, t = c.text.width;
    double params = 12.0 * v * v * c.vision.layers + 12.0 * t * t * c.text.layers +
                    (double)c.text.vocab * t + (double)c.text.context * t +
                    3.0 * c.vision.patch * c.vision.patch * v +
                    (double)c.vision.resolution * c.vision.resolution * v / 4 +
                    (double)c.embed_dim * (v + t);
    return params < 16e6 && c.vision.layers <= 64 && c.text.layers <= 64 &&
           c.vision.resolution <= 1024 && c.text.context <= 1024;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (4u << 20))
        return 0;
    const uint8_t *part[N_FILES];
    size_t len[N_FILES];
    int n = fz_split(data, size, part, len, N_FILES);
    if (n >= 2 && !small_model(part[1], len[1]))
        return 0;
    char dir[512], p[600], name[128];
    fz_path(dir, sizeof dir, CKPT);
    mkdir(dir, 0700);
    for (int i = 0; i < N_FILES; i++) {
        snprintf(name, sizeof name, CKPT "/%s", FILES[i]);
        if (i < n)
            fz_write(p, sizeof p, name, part[i], len[i]);
        else
            fz_remove(name);
    }
    train_ckpt c;
    int rc = train_ckpt_load(dir, &c);
    fz_check_error(rc, "train_ckpt_load");
    if (!rc)
        train_ckpt_free(&c);
    return 0;
}
