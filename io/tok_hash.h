/* Open-addressing hash maps for the tokenizer: byte string -> two ints (vocabulary,
 * word cache) and id pair -> (rank, merged id) (BPE merges). Internal to io/tok*. */
#ifndef CLIPCL_IO_TOK_HASH_H
#define CLIPCL_IO_TOK_HASH_H

#include <stddef.h>
#include <stdint.h>

typedef struct tok_strmap_entry { uint64_t hash; uint32_t off, len; int32_t a, b; } tok_strmap_entry;

typedef struct tok_strmap {
    uint32_t *slots;          /* entry index + 1, 0 = empty */
    size_t cap;               /* power of two */
    tok_strmap_entry *ent;
    size_t n, ent_cap;
    char *pool;               /* keys, back to back */
    size_t pool_n, pool_cap;
} tok_strmap;

/* Inserts or overwrites (later wins, like a Python dict built in order). */
int tok_strmap_put(tok_strmap *m, const char *key, size_t len, int32_t a, int32_t b);
const tok_strmap_entry *tok_strmap_get(const tok_strmap *m, const char *key, size_t len);
const char *tok_strmap_key(const tok_strmap *m, const tok_strmap_entry *e);
void tok_strmap_clear(tok_strmap *m);
void tok_strmap_free(tok_strmap *m);

typedef struct tok_pairmap {
    uint64_t *keys;           /* (left << 32 | right) + 1, 0 = empty */
    int32_t *rank, *merged;
    size_t cap, n;
} tok_pairmap;

int tok_pairmap_put(tok_pairmap *m, int32_t left, int32_t right, int32_t rank, int32_t merged);
/* Returns the rank, or -1 when the pair is not a merge. */
int32_t tok_pairmap_get(const tok_pairmap *m, int32_t left, int32_t right, int32_t *merged);
void tok_pairmap_free(tok_pairmap *m);

#endif
