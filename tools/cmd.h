/* Subcommands of the `clipcl` tool. To add one: write tools/cmd_NAME.c with
 * `int cmd_NAME(int argc, char **argv)` and `const char cmd_NAME_usage[]`,
 * declare both here, add one line to the table in tools/clipcl.c and the
 * file to tools/meson.build.
 *
 * Conventions: argv[0] is the subcommand name; `--help`/`-h` is handled by
 * the dispatcher (it prints the usage text), so commands never see it.
 * Return 0 on success, 1 on a runtime error (after cmd_error), 2 on a usage
 * error (after cmd_usage_error). Commands that use a device take
 * `--device D` (see cmd_option_value) and pass it to the runtime. */
#ifndef CLIPCL_TOOLS_CMD_H
#define CLIPCL_TOOLS_CMD_H

#include <stddef.h>

#include "runtime/status.h"

typedef int (*cmd_fn)(int argc, char **argv);

typedef struct cmd_entry {
    const char *name;
    const char *summary; /* one line for `clipcl help` */
    const char *usage;   /* full text for `clipcl NAME --help` */
    cmd_fn fn;
} cmd_entry;

/* --- subcommands (one pair per tools/cmd_NAME.c) --- */
int cmd_devices(int argc, char **argv);
extern const char cmd_devices_usage[];
int cmd_selftest(int argc, char **argv);
extern const char cmd_selftest_usage[];
int cmd_tokenize(int argc, char **argv);
extern const char cmd_tokenize_usage[];
int cmd_preprocess(int argc, char **argv);
extern const char cmd_preprocess_usage[];
/* CLIP commands (tools/cmd_embed.c, cmd_zeroshot.c, cmd_info.c). */
int cmd_embed_image(int argc, char **argv);
extern const char cmd_embed_image_usage[];
int cmd_embed_text(int argc, char **argv);
extern const char cmd_embed_text_usage[];
int cmd_zeroshot(int argc, char **argv);
extern const char cmd_zeroshot_usage[];
int cmd_info(int argc, char **argv);
extern const char cmd_info_usage[];
int cmd_tokenizer_train(int argc, char **argv);
extern const char cmd_tokenizer_train_usage[];
int cmd_bench(int argc, char **argv);
extern const char cmd_bench_usage[];
int cmd_synth(int argc, char **argv);
extern const char cmd_synth_usage[];
/* Training (tools/cmd_train.c) and its curves (tools/cmd_plot.c, PLplot). */
int cmd_train(int argc, char **argv);
extern const char cmd_train_usage[];
int cmd_plot(int argc, char **argv);
extern const char cmd_plot_usage[];
/* Zero-shot, retrieval, linear probe, few-shot (tools/cmd_eval.c). */
int cmd_eval(int argc, char **argv);
extern const char cmd_eval_usage[];
/* Exact search over an embedding folder (tools/cmd_search.c). */
int cmd_search(int argc, char **argv);
extern const char cmd_search_usage[];

/* GEMM tuning into the per-device cache (tools/cmd_tune.c). */
int cmd_tune(int argc, char **argv);
extern const char cmd_tune_usage[];

/* --- helpers shared by subcommands (tools/cmd_util.c) --- */
/* Prints "clipcl: <message>" to stderr; returns 1. */
int cmd_error(const char *fmt, ...) CC_PRINTF(1, 2);
/* Prints "clipcl: <cc_last_error()>" (or the code if empty); returns 1. */
int cmd_lib_error(int code);
/* Prints "clipcl NAME: <message>" and a pointer to --help; returns 2. */
int cmd_usage_error(const char *name, const char *fmt, ...) CC_PRINTF(2, 3);
/* Matches "--opt VALUE" (consuming argv[*i + 1]) or "--opt=VALUE" at argv[*i].
 * Returns 1 and sets *value on a match, 0 if argv[*i] is another argument,
 * -1 if the value is missing (after printing a usage error). */
int cmd_option_value(int argc, char **argv, int *i, const char *opt, const char **value);
/* Before any work: path must not be a directory and its folder must exist
 * and be writable. Prints "OPT PATH: ..." and returns 1 otherwise. */
int cmd_check_out(const char *opt, const char *path);
/* Near-miss hints. The dispatcher sets the running command's usage text,
 * from which cmd_usage_error takes the candidates when its message is
 * 'unknown option "X"' (or 'unknown/unexpected argument "X"') and X starts
 * with '-'. */
void cmd_set_usage(const char *usage);
/* CLIPCL_TIMINGS=1 (tools/cmd_timings.c): note main's start; print the
 * phases on stderr at the end. No-ops otherwise. */
void cmd_timings_start(void);
void cmd_timings_print(void);
/* Writes " (did you mean A or B?)" to buf (or "" if none is near): the
 * names[0..n) closest to word, leading dashes ignored, within 2 edits (at
 * most half the name) or, failing that, that word begins (3+ chars). */
void cmd_suggest(const char *word, const char *const *names, int n, char *buf, size_t size);

#endif
