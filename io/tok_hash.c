/* Hash maps of io/tok_hash.h: linear probing, load factor kept under one half. */
#include "io/tok_hash.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "runtime/grow.h"
#include "runtime/status.h"

static int strmap_grow(tok_strmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 1024;
    uint32_t *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return cc_fail(CC_ERR_NOMEM, "tokenizer: out of memory for a %zu-slot hash table", cap);
    for (size_t i = 0; i < m->n; i++) {
        size_t s = (size_t)m->ent[i].hash & (cap - 1);
        while (slots[s])
            s = (s + 1) & (cap - 1);
        slots[s] = (uint32_t)(i + 1);
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return CC_OK;
}

static size_t find_slot(const tok_strmap *m, const char *key, size_t len, uint64_t h)
{
    size_t s = (size_t)h & (m->cap - 1);
    while (m->slots[s]) {
        const tok_strmap_entry *e = &m->ent[m->slots[s] - 1];
        if (e->hash == h && e->len == len && memcmp(m->pool + e->off, key, len) == 0)
            break;
        s = (s + 1) & (m->cap - 1);
    }
    return s;
}

int tok_strmap_put(tok_strmap *m, const char *key, size_t len, int32_t a, int32_t b)
{
    int rc;
    if ((m->n + 1) * 2 > m->cap && (rc = strmap_grow(m)))
        return rc;
    uint64_t h = XXH3_64bits(key, len);
    size_t s = find_slot(m, key, len, h);
    if (m->slots[s]) {
        tok_strmap_entry *e = &m->ent[m->slots[s] - 1];
        e->a = a;
        e->b = b;
        return CC_OK;
    }
    if ((rc = cc_grow_size((void **)&m->ent, &m->ent_cap, m->n + 1, sizeof *m->ent, "vocabulary entries")) ||
        (rc = cc_grow_size((void **)&m->pool, &m->pool_cap, m->pool_n + len + 1, 1, "key bytes")))
        return rc;
    memcpy(m->pool + m->pool_n, key, len);
    m->pool[m->pool_n + len] = 0;
    m->ent[m->n] = (tok_strmap_entry){h, (uint32_t)m->pool_n, (uint32_t)len, a, b};
    m->pool_n += len + 1;
    m->slots[s] = (uint32_t)(++m->n);
    return CC_OK;
}

const tok_strmap_entry *tok_strmap_get(const tok_strmap *m, const char *key, size_t len)
{
    if (!m->cap)
        return NULL;
    size_t s = find_slot(m, key, len, XXH3_64bits(key, len));
    return m->slots[s] ? &m->ent[m->slots[s] - 1] : NULL;
}

const char *tok_strmap_key(const tok_strmap *m, const tok_strmap_entry *e) { return m->pool + e->off; }

void tok_strmap_clear(tok_strmap *m)
{
    if (m->slots)
        memset(m->slots, 0, m->cap * sizeof *m->slots);
    m->n = 0;
    m->pool_n = 0;
}

void tok_strmap_free(tok_strmap *m)
{
    free(m->slots);
    free(m->ent);
    free(m->pool);
    memset(m, 0, sizeof *m);
}

static uint64_t pair_key(int32_t l, int32_t r) { return (((uint64_t)(uint32_t)l << 32) | (uint32_t)r) + 1; }

static size_t pair_slot(const tok_pairmap *m, uint64_t k)
{
    size_t s = (size_t)(XXH3_64bits(&k, sizeof k) & (m->cap - 1));
    while (m->keys[s] && m->keys[s] != k)
        s = (s + 1) & (m->cap - 1);
    return s;
}

int tok_pairmap_put(tok_pairmap *m, int32_t left, int32_t right, int32_t rank, int32_t merged)
{
    if ((m->n + 1) * 2 > m->cap) {
        tok_pairmap g = {0};
        g.cap = m->cap ? m->cap * 2 : 1024;
        g.keys = calloc(g.cap, sizeof *g.keys);
        g.rank = malloc(g.cap * sizeof *g.rank);
        g.merged = malloc(g.cap * sizeof *g.merged);
        if (!g.keys || !g.rank || !g.merged) {
            tok_pairmap_free(&g);
            return cc_fail(CC_ERR_NOMEM, "tokenizer: out of memory for %zu merge slots", g.cap);
        }
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->keys[i])
                continue;
            size_t s = pair_slot(&g, m->keys[i]);
            g.keys[s] = m->keys[i];
            g.rank[s] = m->rank[i];
            g.merged[s] = m->merged[i];
        }
        g.n = m->n;
        tok_pairmap_free(m);
        *m = g;
    }
    uint64_t k = pair_key(left, right);
    size_t s = pair_slot(m, k);
    if (!m->keys[s]) {
        m->keys[s] = k;
        m->n++;
    }
    m->rank[s] = rank;
    m->merged[s] = merged;
    return CC_OK;
}

int32_t tok_pairmap_get(const tok_pairmap *m, int32_t left, int32_t right, int32_t *merged)
{
    if (!m->cap)
        return -1;
    size_t s = pair_slot(m, pair_key(left, right));
    if (!m->keys[s])
        return -1;
    if (merged)
        *merged = m->merged[s];
    return m->rank[s];
}

void tok_pairmap_free(tok_pairmap *m)
{
    free(m->keys);
    free(m->rank);
    free(m->merged);
    memset(m, 0, sizeof *m);
}
