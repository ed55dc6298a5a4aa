/* The files a SentencePiece tokenizer comes in (io/spm_tokenizer.h): spiece.model
 * (a serialized ModelProto), a Hugging Face tokenizer.json holding a Unigram model
 * (turned into a ModelProto in io/spm_json.c), and tokenizer_config.json beside
 * either for the special tokens and do_lower_case. */
#ifndef CLIPCL_IO_SPM_FILES_H
#define CLIPCL_IO_SPM_FILES_H

#include "io/spm_model.h"

#define SPM_FILES_TOKEN_BYTES 64
/* Largest spiece.model / tokenizer.json read: SigLIP's spiece.model is ~0.8 MB,
 * a 256k-piece Gemma tokenizer.json (SigLIP 2) ~34 MB; the bound stops a wrong
 * or hostile file from taking memory without limit (both are read whole). */
#define SPM_MAX_FILE_BYTES (256 << 20)

typedef struct spm_special_tokens {
    char eos[SPM_FILES_TOKEN_BYTES];
    char unk[SPM_FILES_TOKEN_BYTES];
    char pad[SPM_FILES_TOKEN_BYTES];
    int do_lower_case;
    /* tokenizer_config.json's tokenizer_class ("" when none). */
    char tokenizer_class[SPM_FILES_TOKEN_BYTES];
} spm_special_tokens;

/* Loads the model `path` names (a file or a directory: spiece.model first, then
 * tokenizer.json) and the special tokens: tokenizer_config.json's eos_token,
 * unk_token, pad_token, do_lower_case where it has them, SiglipTokenizer's
 * defaults (</s>, <unk>, </s>, true) otherwise. */
int spm_files_load(const char *path, spm_model **model, spm_special_tokens *sp);

/* tokenizer.json (Unigram) to a serialized ModelProto (malloc'd). */
int spm_json_to_proto(const char *path, unsigned char **proto, size_t *n);
/* 1 when the file is a tokenizer.json whose model is Unigram (no error recorded). */
int spm_json_is_unigram(const char *path);

#endif
