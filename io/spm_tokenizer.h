/* SigLIP's SentencePiece tokenizer: transformers' SiglipTokenizer, and open_clip's
 * HFTokenizer around it, on a `spiece.model` (or a Unigram `tokenizer.json`).
 * The segmentation is libsentencepiece's (io/spm_model.h); this layer adds what the
 * references do around it, in their order (docs/tokenizer.md, "SentencePiece"):
 *
 *   1. open_clip's clean function, when asked for (SPM_CLEAN_CANONICALIZE is what
 *      open_clip's SigLIP configs name: ftfy subset + html.unescape twice, '_' to
 *      space, ASCII punctuation removed, lower case, whitespace collapsed);
 *   2. SiglipTokenizer.tokenize: U+2581 read as a space and one put in front, the
 *      text split around the special-token literals ("</s>", "<unk>"), each other
 *      piece canonicalised (lower case, ASCII punctuation removed, whitespace runs
 *      to one space, stripped) and encoded behind the unknown token's text, whose
 *      pieces are then dropped;
 *   3. at most context-1 ids, then </s> unless the ids already end with it, then
 *      padding with the pad token's id (</s> for SigLIP) to the context.
 *
 * A spm_tokenizer is not thread-safe only in that its options may be changed;
 * encoding itself keeps no state. Library code: returns a cc_code, never prints. */
#ifndef CLIPCL_IO_SPM_TOKENIZER_H
#define CLIPCL_IO_SPM_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

/* SigLIP's text context (open_clip's ViT-B-16-SigLIP, SiglipTextConfig). */
#define SPM_CONTEXT_LENGTH 64

/* What runs before SiglipTokenizer: open_clip's HFTokenizer clean= option. */
typedef enum spm_clean {
    SPM_CLEAN_NONE = 0,      /* transformers' SiglipTokenizer called directly */
    SPM_CLEAN_CANONICALIZE,  /* open_clip clean='canonicalize' (its SigLIP configs) */
    SPM_CLEAN_LOWER,         /* open_clip clean='lower' */
    SPM_CLEAN_WHITESPACE,    /* open_clip clean='whitespace' (its default) */
} spm_clean;

typedef struct spm_tokenizer spm_tokenizer;

/* Opens a SentencePiece tokenizer: `path` is a spiece.model (any serialized
 * ModelProto), a Hugging Face tokenizer.json holding a Unigram model, or a
 * directory holding one of them (spiece.model first). A tokenizer_config.json
 * beside it sets the eos/unk/pad tokens and do_lower_case as transformers reads
 * them; without one, SiglipTokenizer's defaults (</s>, <unk>, pad </s>, lower).
 * Its tokenizer_class must be SiglipTokenizer(Fast), or T5Tokenizer(Fast), whose
 * ids are SiglipTokenizer's on text open_clip canonicalised: encoding with such a
 * tokenizer and another clean function fails with CC_ERR_UNSUPPORTED. */
int spm_open(const char *path, spm_tokenizer **out);
void spm_free(spm_tokenizer *t);

/* spm_open for a model directory (or a weights file in one): the tokenizer file
 * there, and the clean function open_clip's HFTokenizer would use when the
 * directory has an open_clip_config.json naming an hf_tokenizer_name (its
 * text_cfg.tokenizer_kwargs.clean, open_clip's default "whitespace" without
 * one); SPM_CLEAN_NONE (SiglipTokenizer as transformers calls it) otherwise. */
int spm_open_model_dir(const char *dir, spm_tokenizer **out);

/* 1 when `path` names a SentencePiece tokenizer spm_open would take: a file
 * ending in .model, a tokenizer.json whose model is Unigram, or a directory with
 * spiece.model or such a tokenizer.json. No error is recorded. */
int spm_is_tokenizer(const char *path);

/* open_clip's clean names ("canonicalize", "lower", "whitespace") and "none". */
int spm_clean_from_name(const char *name, spm_clean *out);
const char *spm_clean_name(spm_clean c);
void spm_set_clean(spm_tokenizer *t, spm_clean c);
spm_clean spm_get_clean(const spm_tokenizer *t);

int32_t spm_vocab_size(const spm_tokenizer *t);
int32_t spm_eos_id(const spm_tokenizer *t);
int32_t spm_pad_id(const spm_tokenizer *t);
int32_t spm_unk_id(const spm_tokenizer *t);

/* Ids of a UTF-8 text without </s> and padding; *ids is malloc'd (NULL when *n == 0). */
int spm_encode_ids(const spm_tokenizer *t, const char *text, int32_t **ids, size_t *n);

/* The ids the text tower sees, written into ids[context_length] (>= 1): step 3
 * above. *truncated (may be NULL) is 1 when ids were cut, else 0. */
int spm_encode_ctx(const spm_tokenizer *t, const char *text, int32_t *ids, size_t context_length,
                   int *truncated);

/* Text of ids (malloc'd) for debugging: the library's decoding with </s>, <unk>
 * and the pad id left out, stripped, as SiglipTokenizer.decode(skip_special_tokens=True). */
int spm_decode(const spm_tokenizer *t, const int32_t *ids, size_t n, char **text);

#endif
