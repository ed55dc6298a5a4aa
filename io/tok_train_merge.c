/* BPE training, part 2: learning the merges.
 *
 * Pair counts are kept up to date incrementally: each pair knows the words it occurs in
 * (a list that may hold stale or repeated entries; they are skipped), and merging a pair
 * only visits those words and adjusts the counts of the pairs around each occurrence.
 * An indexed max-heap orders the pairs by (count, then smallest left and right symbol
 * strings), so the choice is deterministic and independent of corpus order.
 *
 * A merge is applied to a word exactly as tok_bpe_word applies it (every non-overlapping
 * occurrence, left to right), and a pair's count can only rise through new symbols, so
 * the encoder, which applies the lowest-ranked merge first, reproduces the training-time
 * segmentation of every word. */
#include "io/tok_train_impl.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/grow.h"
#include "runtime/status.h"

typedef struct tt_pair {
    int32_t l, r;
    int64_t count;
    int32_t heap;     /* position in the heap, -1 when out of it */
    uint32_t head;    /* occurrence list: index + 1 into occ, 0 = empty */
    int banned;       /* its string is already a token: never merged */
} tt_pair;

typedef struct tt_occ { uint32_t word, next; } tt_occ;

typedef struct tt_learn {
    tok_trainer *tr;
    tok_pairmap map;  /* (l, r) -> pair index (in the rank field) */
    tt_pair *p;
    size_t np, pcap;
    int32_t *heap;
    size_t nh, hcap;
    tt_occ *occ;
    size_t nocc, occcap;
    uint32_t *stamp;  /* per word: the last merge step that visited it */
} tt_learn;

static int sym_cmp(const tok_trainer *tr, int32_t a, int32_t b)
{
    if (a == b)
        return 0;
    size_t na, nb;
    const char *sa = tt_sym(tr, a, &na), *sb = tt_sym(tr, b, &nb);
    int c = memcmp(sa, sb, na < nb ? na : nb);
    return c ? c : (na > nb) - (na < nb);
}

/* Pair a goes before pair b: more frequent, then smaller (left, right) strings. */
static int better(const tt_learn *L, int32_t a, int32_t b)
{
    const tt_pair *pa = &L->p[a], *pb = &L->p[b];
    if (pa->count != pb->count)
        return pa->count > pb->count;
    int c = sym_cmp(L->tr, pa->l, pb->l);
    if (c)
        return c < 0;
    return sym_cmp(L->tr, pa->r, pb->r) < 0;
}

static void heap_set(tt_learn *L, size_t i, int32_t pi)
{
    L->heap[i] = pi;
    L->p[pi].heap = (int32_t)i;
}

static void sift_up(tt_learn *L, size_t i)
{
    int32_t x = L->heap[i];
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!better(L, x, L->heap[up]))
            break;
        heap_set(L, i, L->heap[up]);
        i = up;
    }
    heap_set(L, i, x);
}

static void sift_down(tt_learn *L, size_t i)
{
    int32_t x = L->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= L->nh)
            break;
        if (c + 1 < L->nh && better(L, L->heap[c + 1], L->heap[c]))
            c++;
        if (!better(L, L->heap[c], x))
            break;
        heap_set(L, i, L->heap[c]);
        i = c;
    }
    heap_set(L, i, x);
}

static void heap_remove(tt_learn *L, int32_t pi)
{
    size_t i = (size_t)L->p[pi].heap;
    L->p[pi].heap = -1;
    int32_t last = L->heap[--L->nh];
    if (i == L->nh)
        return;
    heap_set(L, i, last);
    sift_up(L, i);
    sift_down(L, (size_t)L->p[last].heap);
}

/* Adds d occurrences of (l, r) found in word w. */
static int delta(tt_learn *L, int32_t l, int32_t r, int64_t d, uint32_t w)
{
    int32_t pi = tok_pairmap_get(&L->map, l, r, NULL);
    int rc;
    if (pi < 0) {
        if (L->np >= INT32_MAX)
            return cc_fail(CC_ERR_UNSUPPORTED, "tokenizer training: more than %d distinct pairs", INT32_MAX);
        if ((rc = cc_grow_size((void **)&L->p, &L->pcap, L->np + 1, sizeof *L->p, "pairs")) ||
            (rc = cc_grow_size((void **)&L->heap, &L->hcap, L->np + 1, sizeof *L->heap, "heap slots")))
            return rc;
        pi = (int32_t)L->np++;
        L->p[pi] = (tt_pair){l, r, 0, -1, 0, 0};
        if ((rc = tok_pairmap_put(&L->map, l, r, pi, 0)))
            return rc;
    }
    tt_pair *p = &L->p[pi];
    p->count += d;
    if (d > 0 && (!p->head || L->occ[p->head - 1].word != w)) {
        if (L->nocc >= UINT32_MAX - 1)
            return cc_fail(CC_ERR_UNSUPPORTED, "tokenizer training: more than %u pair occurrences", UINT32_MAX - 1);
        if ((rc = cc_grow_size((void **)&L->occ, &L->occcap, L->nocc + 1, sizeof *L->occ, "pair occurrences")))
            return rc;
        L->occ[L->nocc] = (tt_occ){w, p->head};
        p->head = (uint32_t)++L->nocc;
    }
    if (p->banned)
        return CC_OK;
    if (p->count <= 0) {
        if (p->heap >= 0)
            heap_remove(L, pi);
    } else if (p->heap >= 0) {
        sift_up(L, (size_t)p->heap);
        sift_down(L, (size_t)p->heap);
    } else {
        heap_set(L, L->nh++, pi);
        sift_up(L, L->nh - 1);
    }
    return CC_OK;
}

/* Replaces every non-overlapping (a, b) of word w by m, left to right, adjusting the
 * counts of the pairs each replacement destroys and creates. */
static int merge_word(tt_learn *L, uint32_t w, int32_t a, int32_t b, int32_t m)
{
    tok_trainer *tr = L->tr;
    int32_t *s = tr->syms + tr->woff[w];
    size_t n = tr->wlen[w], out = 0;
    int64_t c = tr->wcount[w];
    int rc = CC_OK;
    for (size_t i = 0; i < n && rc == CC_OK;) {
        if (i + 1 < n && s[i] == a && s[i + 1] == b) {
            rc = delta(L, a, b, -c, w);
            if (rc == CC_OK && out > 0 && (rc = delta(L, s[out - 1], a, -c, w)) == CC_OK)
                rc = delta(L, s[out - 1], m, c, w);
            if (rc == CC_OK && i + 2 < n && (rc = delta(L, b, s[i + 2], -c, w)) == CC_OK)
                rc = delta(L, m, s[i + 2], c, w);
            s[out++] = m;
            i += 2;
        } else {
            s[out++] = s[i++];
        }
    }
    tr->wlen[w] = (uint32_t)out;
    return rc;
}

static int grow_merges(tok_trainer *tr, int32_t n)
{
    tr->merge_l = malloc((size_t)n * sizeof *tr->merge_l);
    tr->merge_r = malloc((size_t)n * sizeof *tr->merge_r);
    if (n && (!tr->merge_l || !tr->merge_r))
        return cc_fail(CC_ERR_NOMEM, "tokenizer training: out of memory for %d merges", n);
    return CC_OK;
}

/* Learns merge number k from pair pi: a new symbol, then every word that holds the pair. */
static int apply(tt_learn *L, int32_t pi, int32_t k, char **buf, size_t *bcap, uint32_t step, int *learned)
{
    *learned = 0;
    tok_trainer *tr = L->tr;
    int32_t a = L->p[pi].l, b = L->p[pi].r;
    size_t na, nb;
    const char *sa = tt_sym(tr, a, &na), *sb = tt_sym(tr, b, &nb);
    int rc = cc_grow_size((void **)buf, bcap, na + nb, 1, "symbol bytes");
    if (rc)
        return rc;
    memcpy(*buf, sa, na);
    memcpy(*buf + na, sb, nb);
    int special = (na + nb == 15 && memcmp(*buf, "<|startoftext|>", 15) == 0) ||
                  (na + nb == 13 && memcmp(*buf, "<|endoftext|>", 13) == 0);
    if (special || tok_strmap_get(&tr->vocab, *buf, na + nb)) {
        /* Two ids for one string cannot live in vocab.json; the pair stays unmerged. With
         * merges applied as above a token's string has one merge history, so this is a
         * guard, not a path real corpora take (docs/tokenizer.md). */
        L->p[pi].banned = 1;
        heap_remove(L, pi);
        tr->st.skipped_pairs++;
        return CC_OK;
    }
    *learned = 1;
    if ((rc = tt_add_symbol(tr, *buf, na + nb)))
        return rc;
    int32_t m = tr->n_sym - 1;
    tr->merge_l[k] = a;
    tr->merge_r[k] = b;
    tr->st.last_count = L->p[pi].count;
    /* The list is read by index: merging appends to other pairs' lists (never to this one). */
    for (uint32_t o = L->p[pi].head; o && rc == CC_OK; o = L->occ[o - 1].next) {
        uint32_t w = L->occ[o - 1].word;
        if (L->stamp[w] == step)
            continue;
        L->stamp[w] = step;
        rc = merge_word(L, w, a, b, m);
    }
    if (rc == CC_OK && L->p[pi].count != 0)
        rc = cc_fail(CC_ERR_INVALID, "tokenizer training: internal error, %lld occurrences of a merged pair left",
                     (long long)L->p[pi].count);
    return rc;
}

static void learn_free(tt_learn *L)
{
    tok_pairmap_free(&L->map);
    free(L->p);
    free(L->heap);
    free(L->occ);
    free(L->stamp);
}

int tok_trainer_learn(tok_trainer *tr, const tok_train_opts *o)
{
    if (!tr || !o)
        return cc_fail(CC_ERR_INVALID, "tok_trainer_learn: trainer or options is NULL");
    if (tr->learned)
        return cc_fail(CC_ERR_INVALID, "tok_trainer_learn: called twice (merges are learned once per trainer)");
    if (o->vocab_size < TOK_TRAIN_MIN_VOCAB || o->vocab_size > TOK_TRAIN_MAX_VOCAB)
        return cc_fail(CC_ERR_INVALID,
                       "tokenizer training: vocab size %d, expected %d (512 byte symbols + 2 special tokens) to %d "
                       "(the most that CLIP's tokenizer loaders read)",
                       o->vocab_size, TOK_TRAIN_MIN_VOCAB, TOK_TRAIN_MAX_VOCAB);
    if (tr->nw == 0)
        return cc_fail(CC_ERR_INVALID, "tokenizer training: no words counted (empty corpus?)");
    int32_t target = o->vocab_size - TOK_TRAIN_MIN_VOCAB;
    int64_t min_freq = o->min_frequency > 1 ? o->min_frequency : 1;
    tt_learn L = {.tr = tr};
    L.stamp = calloc(tr->nw, sizeof *L.stamp);
    int rc = L.stamp ? grow_merges(tr, target) : cc_fail(CC_ERR_NOMEM, "tokenizer training: out of memory for %zu words", tr->nw);
    for (size_t w = 0; w < tr->nw && rc == CC_OK; w++) {
        const int32_t *s = tr->syms + tr->woff[w];
        for (uint32_t i = 0; i + 1 < tr->wlen[w] && rc == CC_OK; i++)
            rc = delta(&L, s[i], s[i + 1], tr->wcount[w], (uint32_t)w);
    }
    char *buf = NULL;
    size_t bcap = 0;
    int32_t k = 0;
    for (uint32_t step = 1; rc == CC_OK && k < target && L.nh > 0; step++) {
        int32_t best = L.heap[0];
        if (L.p[best].count < min_freq)
            break;
        int learned = 0;
        rc = apply(&L, best, k, &buf, &bcap, step, &learned);
        if (rc == CC_OK && learned) {
            k++;
            tr->st.merges = k;
            if (tr->progress && (k % 64 == 0 || k == target))
                tr->progress(tr->progress_user, k, target);
        }
    }
    free(buf);
    learn_free(&L);
    tr->learned = rc ? -1 : 1; /* the words are partly merged: no second try */
    if (rc)
        return rc;
    tr->st.merges = k;
    tr->st.vocab_size = TOK_TRAIN_MIN_VOCAB + k;
    return CC_OK;
}
