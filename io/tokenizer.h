/* CLIP's byte-level BPE tokenizer, matching OpenAI's clip/simple_tokenizer.py and
 * open_clip's SimpleTokenizer (see docs/tokenizer.md for the exact pipeline and the
 * places where the C cleaning differs from ftfy).
 *
 * A tok_tokenizer is not thread-safe: encoding fills a per-tokenizer word cache.
 * Use one tokenizer per thread. */
#ifndef CLIPCL_IO_TOKENIZER_H
#define CLIPCL_IO_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#define TOK_CONTEXT_LENGTH 77
/* Merges OpenAI's and Hugging Face's loaders keep: lines [1, 49152-256-2+1). */
#define TOK_MAX_MERGES (49152 - 256 - 2)
/* Largest tokenizer file read (merges text after gunzip, vocab.json): CLIP's
 * bpe_simple_vocab_16e6.txt is 1.4 MB unpacked with 262k merges (only the
 * first TOK_MAX_MERGES are used), a Hugging Face vocab.json under 1 MB.
 * 64 MiB is far above any of them and stops a gzip bomb or a huge file from
 * taking memory without bound. */
#define TOK_MAX_FILE_BYTES (64 << 20)

typedef struct tok_tokenizer tok_tokenizer;

/* Loads OpenAI's bpe_simple_vocab_16e6.txt.gz (plain text is read too): line 0 is a
 * header, then one "left right" merge per line. The vocabulary is the 256 byte symbols,
 * the same with "</w>", one entry per merge, then <|startoftext|> and <|endoftext|>. */
int tok_load_openai(const char *path, tok_tokenizer **out);

/* Loads Hugging Face's vocab.json (symbol -> id) and merges.txt ("#version" line, then
 * merges). Both special tokens must be in vocab.json. */
int tok_load_hf(const char *vocab_json, const char *merges_txt, tok_tokenizer **out);

void tok_free(tok_tokenizer *t);

int32_t tok_sot_id(const tok_tokenizer *t);
int32_t tok_eot_id(const tok_tokenizer *t);
int32_t tok_vocab_size(const tok_tokenizer *t);

/* The cleaned text the BPE sees (malloc'd UTF-8): ftfy subset, html.unescape twice,
 * whitespace collapse, lower case. */
int tok_clean(const char *text, char **out);

/* BPE ids of a UTF-8 text, without SOT/EOT; *ids is malloc'd (NULL when *n == 0). */
int tok_encode_ids(tok_tokenizer *t, const char *text, int32_t **ids, size_t *n);

/* [SOT] + ids + [EOT] written into ids[context_length], padded with 0. A text that does
 * not fit is cut to context_length with EOT kept as the last id (open_clip's behaviour)
 * and *truncated (may be NULL) is set to 1; otherwise 0. */
int tok_encode_ctx(tok_tokenizer *t, const char *text, int32_t *ids, size_t context_length, int *truncated);

/* tok_encode_ctx with CLIP's context of 77. */
int tok_encode(tok_tokenizer *t, const char *text, int32_t ids[TOK_CONTEXT_LENGTH], int *truncated);

/* Text of ids (malloc'd) like SimpleTokenizer.decode: symbols joined, bytes restored,
 * "</w>" read as a space. Every id, padding included, is decoded. */
int tok_decode(const tok_tokenizer *t, const int32_t *ids, size_t n, char **text);

#endif
