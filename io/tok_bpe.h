/* The tokenizer's state, shared by io/tokenizer_bpe.c (loading, BPE) and
 * io/tokenizer.c (pre-split, packing, decoding). Internal to io/tok*. */
#ifndef CLIPCL_IO_TOK_BPE_H
#define CLIPCL_IO_TOK_BPE_H

#include "io/tok_hash.h"
#include "io/tokenizer.h"

struct tok_tokenizer {
    tok_strmap vocab;          /* symbol (byte-mapped UTF-8) -> id in .a */
    int32_t n_vocab;
    uint32_t *sym_ent;         /* id -> index of its entry in vocab (for decoding) */
    tok_pairmap merges;        /* (left id, right id) -> rank, merged id */
    int32_t byte_id[256];      /* the symbol of one byte */
    int32_t byte_end_id[256];  /* the same followed by "</w>" */
    int32_t sot, eot;
    tok_strmap cache;          /* pre-token bytes -> (.a offset, .b count) in cache_ids */
    int32_t *cache_ids;
    size_t cache_n, cache_cap;
    void *re, *md;             /* pcre2_code_8 *, pcre2_match_data_8 * */
};

/* byte -> code point of OpenAI's bytes_to_unicode, and the 256 bytes in vocabulary order. */
void tok_bytes_to_unicode(uint32_t cp_of_byte[256], uint8_t byte_order[256]);

/* BPE ids of one pre-token's raw bytes; *ids points into the cache (valid until the next call). */
int tok_bpe_word(tok_tokenizer *t, const unsigned char *bytes, size_t n, const int32_t **ids, size_t *nids);

/* Compiles the pre-split regex (io/tokenizer.c). */
int tok_regex_init(tok_tokenizer *t);
void tok_regex_free(tok_tokenizer *t);

#endif
