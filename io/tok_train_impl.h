/* The BPE trainer's state, shared by io/tok_train.c (corpus counting, API),
 * io/tok_train_merge.c (learning) and io/tok_train_write.c (output files).
 * Internal to io/tok_train*. */
#ifndef CLIPCL_IO_TOK_TRAIN_IMPL_H
#define CLIPCL_IO_TOK_TRAIN_IMPL_H

#include "io/tok_bpe.h"
#include "io/tok_train.h"

struct tok_trainer {
    /* Distinct pre-tokens: raw bytes -> word index in .a. Each word's symbols live in
     * syms[woff[w] .. woff[w] + wlen[w]) and shrink in place as merges are applied. */
    tok_strmap words;
    int64_t *wcount;
    size_t *woff;
    uint32_t *wlen;
    size_t nw, wcap;
    int32_t *syms;
    size_t syms_n, syms_cap;

    /* Symbols by id: 0..511 the byte symbols (bytes_to_unicode order, then with "</w>"),
     * then one per learned merge. String -> id in .a; sym_ent[id] = its entry. */
    tok_strmap vocab;
    uint32_t *sym_ent;
    int32_t n_sym, sym_cap;
    int32_t byte_id[256], byte_end_id[256];
    int32_t *merge_l, *merge_r; /* merge i made symbol 512 + i */

    tok_tokenizer *rx;          /* only its pre-split regex is used */
    tok_train_progress_fn progress;
    void *progress_user;
    tok_train_stats st;
    int learned;
};

/* The symbol string of id (pointer into vocab's pool: valid until the next symbol is added). */
static inline const char *tt_sym(const tok_trainer *tr, int32_t id, size_t *len)
{
    const tok_strmap_entry *e = &tr->vocab.ent[tr->sym_ent[id]];
    *len = e->len;
    return tok_strmap_key(&tr->vocab, e);
}

/* Appends a symbol string with the next id. */
int tt_add_symbol(tok_trainer *tr, const char *s, size_t n);

#endif
