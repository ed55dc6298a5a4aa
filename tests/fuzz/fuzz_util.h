/* Shared helpers of the libFuzzer harnesses (docs/fuzzing.md).
 *
 * Most readers take a path, so a harness writes its input into a private
 * temporary folder made once per process (mkdtemp) under fixed names, which
 * keeps runs deterministic. Inputs that stand for several files (a checkpoint
 * directory, vocab.json + merges.txt) are split on FZ_SEP, which every such
 * harness's dictionary holds so that mutations keep the parts apart.
 *
 * The same sources build twice: with -fsanitize=fuzzer in the fuzz build, and
 * with replay_main.c in the normal build, where meson's tests replay the seed
 * corpus and the committed regression inputs through the same entry point. */
#ifndef CLIPCL_TESTS_FUZZ_UTIL_H
#define CLIPCL_TESTS_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define FZ_SEP "\n--clipcl-fuzz-part--\n"
#define FZ_MAX_PARTS 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* The process's temporary folder (made on first use; aborts when it cannot be,
 * since no harness can run without it). */
const char *fz_dir(void);
/* fz_dir()/name into buf (static storage per call site is the caller's). */
void fz_path(char *buf, size_t len, const char *name);
/* Writes data to fz_dir()/name and returns the full path in buf. */
const char *fz_write(char *buf, size_t len, const char *name, const void *data, size_t n);
/* Removes fz_dir()/name (and an empty folder of that name). */
void fz_remove(const char *name);
/* Splits data on FZ_SEP into at most max parts; returns the count. */
int fz_split(const uint8_t *data, size_t size, const uint8_t **part, size_t *len, int max);
/* A malloc'd NUL-terminated copy (aborts on out of memory). */
char *fz_strndup(const uint8_t *data, size_t n);
/* rc != 0 must come with one non-empty line from cc_fail(): aborts otherwise,
 * so that libFuzzer reports a failure that says nothing (or several lines). */
void fz_check_error(int rc, const char *what);

#endif
