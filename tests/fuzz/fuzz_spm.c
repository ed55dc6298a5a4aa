/* SigLIP's SentencePiece tokenizer (io/spm_*.c) on arbitrary input. An input
 * starting with '{' is a tokenizer.json (the JSON -> ModelProto conversion,
 * base64, libsentencepiece's loader); any other is a text for the committed
 * test model (canonicalisation, special-token split, encoding, decoding). */
#include <stdio.h>
#include <stdlib.h>

#include "io/spm_tokenizer.h"
#include "tests/fuzz/fuzz_util.h"

#ifndef CLIPCL_SPM_TEST_MODEL
#error "meson passes the committed model's path (tests/data/spm/spiece.model)"
#endif

static spm_tokenizer *g_tok;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (spm_open(CLIPCL_SPM_TEST_MODEL, &g_tok) != 0) {
        fprintf(stderr, "fuzz: cannot load %s\n", CLIPCL_SPM_TEST_MODEL);
        abort();
    }
    return 0;
}

static void one_text(spm_tokenizer *t, const char *text)
{
    static const spm_clean cleans[] = {SPM_CLEAN_NONE, SPM_CLEAN_CANONICALIZE};
    for (size_t c = 0; c < sizeof cleans / sizeof cleans[0]; c++) {
        spm_set_clean(t, cleans[c]);
        int32_t ids[SPM_CONTEXT_LENGTH];
        int trunc = 0;
        int rc = spm_encode_ctx(t, text, ids, SPM_CONTEXT_LENGTH, &trunc);
        fz_check_error(rc, "spm_encode_ctx");
        if (!rc) {
            char *back = NULL;
            fz_check_error(spm_decode(t, ids, SPM_CONTEXT_LENGTH, &back), "spm_decode");
            free(back);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 16)
        return 0;
    if (size > 0 && data[0] == '{') {
        char path[512];
        fz_write(path, sizeof path, "tokenizer.json", data, size);
        spm_tokenizer *t = NULL;
        int rc = spm_open(path, &t);
        fz_check_error(rc, "spm_open tokenizer.json");
        if (!rc)
            one_text(t, "a Photo of 2 cats, </s> caf\xc3\xa9 \xe4\xbd\xa0\xe5\xa5\xbd");
        spm_free(t);
        fz_remove("tokenizer.json");
        return 0;
    }
    if (size > 4096) /* captions; long inputs only slow the search */
        return 0;
    char *text = fz_strndup(data, size);
    one_text(g_tok, text);
    free(text);
    return 0;
}
