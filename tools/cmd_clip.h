/* Helpers shared by the CLIP subcommands (embed-image, embed-text, zeroshot,
 * info), which use only the public API (include/clipcl.h) for the model. */
#ifndef CLIPCL_TOOLS_CMD_CLIP_H
#define CLIPCL_TOOLS_CMD_CLIP_H

#include <stddef.h>

#include "clipcl.h"

/* Options every CLIP command takes. */
typedef struct cmd_model_opts {
    const char *model;
    const char *device;
    const char *vocab;
    int batch; /* 0: the API's default */
    int allow_unused; /* --allow-unused: CLIPCL_LOAD_ALLOW_UNUSED */
    int dtype_flag;   /* --dtype f16|bf16: CLIPCL_LOAD_F16 / CLIPCL_LOAD_BF16 (0: f32) */
    const char *dtype; /* as given, NULL when absent */
} cmd_model_opts;

/* Matches --model, --device, --vocab, --batch, --dtype or --allow-unused at argv[*i]. Returns 1 when
 * consumed, 0 when argv[*i] is something else, 2 after a usage error. */
int cmd_model_option(int argc, char **argv, int *i, cmd_model_opts *o);
/* Loads o->model and prints the load's notes (no config file, unused
 * tensors) on stderr; on failure prints the one-line error and returns 1. */
int cmd_model_open(const cmd_model_opts *o, clipcl_model **out);

/* 0 when the model's tower (CLIPCL_TOWER_*) can be used; else prints why
 * not and returns 1. */
int cmd_model_tower_check(const clipcl_model *m, int tower);

/* A growable list of strings (owned copies). */
typedef struct cmd_strings {
    char **v;
    int n, cap;
} cmd_strings;

int cmd_strings_push(cmd_strings *l, const char *s, size_t len);
void cmd_strings_free(cmd_strings *l);
/* One text per line of path ("-": stdin); "\r\n" accepted, a final newline
 * does not start another text. Prints the error and returns 1 on failure. */
int cmd_strings_read_lines(const char *opt, const char *path, cmd_strings *l);

/* Writes rows x cols float32 as .npy (atomically); prints the error. */
int cmd_write_features(const char *path, const float *x, int rows, int cols);

#endif
