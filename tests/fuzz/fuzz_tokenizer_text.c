/* The tokenizer on arbitrary text: cleaning (ftfy subset, HTML entities,
 * Unicode), pre-split and BPE (io/tokenizer*.c, io/tok_*.c), then decoding. */
#include <stdio.h>
#include <stdlib.h>

#include "io/tokenizer.h"
#include "tests/fuzz/fuzz_util.h"

/* The merges of the tokenizer tests: enough for BPE to merge and for every
 * byte to have a symbol; the full vocabulary is not in the repository. */
static const char MERGES[] = "#version: 0.2\nl o\nlo w</w>\nh e\nhe l\nl l\ne l\nh el\n";
static tok_tokenizer *g_tok;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char path[512];
    fz_write(path, sizeof path, "merges.txt", MERGES, sizeof MERGES - 1);
    if (tok_load_openai(path, &g_tok) != 0) {
        fprintf(stderr, "fuzz: cannot load the harness tokenizer\n");
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096) /* captions; long inputs only slow the search */
        return 0;
    char *text = fz_strndup(data, size);
    char *clean = NULL;
    int rc = tok_clean(text, &clean);
    fz_check_error(rc, "tok_clean");
    free(clean);
    int32_t *ids = NULL;
    size_t n = 0;
    rc = tok_encode_ids(g_tok, text, &ids, &n);
    fz_check_error(rc, "tok_encode_ids");
    if (!rc && n) {
        char *back = NULL;
        fz_check_error(tok_decode(g_tok, ids, n, &back), "tok_decode");
        free(back);
    }
    free(ids);
    int32_t ctx[TOK_CONTEXT_LENGTH];
    int trunc = 0;
    fz_check_error(tok_encode(g_tok, text, ctx, &trunc), "tok_encode");
    free(text);
    return 0;
}
