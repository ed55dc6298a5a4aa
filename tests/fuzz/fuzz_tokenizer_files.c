/* Tokenizer files: OpenAI's merges list (plain or gzip) and Hugging Face's
 * vocab.json + merges.txt (io/tokenizer.c, io/tokenizer_bpe.c). The input is
 * the merges file for the OpenAI loader, and vocab.json FZ_SEP merges.txt for
 * the HF loader; a tokenizer that loads encodes and decodes a fixed text. */
#include <stdlib.h>

#include "io/tokenizer.h"
#include "tests/fuzz/fuzz_util.h"

static void exercise(tok_tokenizer *t)
{
    int32_t ids[TOK_CONTEXT_LENGTH];
    int rc = tok_encode(t, "Low hello, lol ll helo elo &amp; caf\xc3\xa9 1234", ids, NULL);
    fz_check_error(rc, "tok_encode");
    if (!rc) {
        char *text = NULL;
        fz_check_error(tok_decode(t, ids, TOK_CONTEXT_LENGTH, &text), "tok_decode");
        free(text);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (1u << 18))
        return 0;
    char a[512], b[512];
    tok_tokenizer *t = NULL;
    int rc = tok_load_openai(fz_write(a, sizeof a, "bpe.txt", data, size), &t);
    fz_check_error(rc, "tok_load_openai");
    if (!rc)
        exercise(t);
    tok_free(t);
    t = NULL;
    const uint8_t *part[2];
    size_t len[2];
    if (fz_split(data, size, part, len, 2) == 2) {
        fz_write(a, sizeof a, "vocab.json", part[0], len[0]);
        fz_write(b, sizeof b, "merges.txt", part[1], len[1]);
        rc = tok_load_hf(a, b, &t);
        fz_check_error(rc, "tok_load_hf");
        if (!rc)
            exercise(t);
        tok_free(t);
    }
    return 0;
}
