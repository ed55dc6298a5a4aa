/* BPE training, part 3: the learned vocabulary as Hugging Face CLIP files. merges.txt
 * has the header line that both OpenAI's and HF's loaders skip and no final newline
 * (io/tok_files.h says why); vocab.json lists the
 * symbols in id order (byte symbols, the same with "</w>", merges, the two specials),
 * written by hand so "</w>" stays unescaped and non-ASCII symbols stay UTF-8, as in
 * the files HF ships. */
#include "io/atomic_file.h"
#include "io/tok_train_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runtime/status.h"
#include "runtime/fs.h"

static char *join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (p)
        snprintf(p, a + b + 2, "%s%s%s", dir, a && dir[a - 1] == '/' ? "" : "/", name);
    return p;
}

/* Buffered writes through the atomic file; the first error sticks. */
typedef struct out { io_atomic a; int rc; } out;

static void put(out *o, const char *s, size_t n)
{
    if (o->rc == CC_OK && n)
        o->rc = io_atomic_write(&o->a, s, n);
}

static void puts_(out *o, const char *s) { put(o, s, strlen(s)); }

static int finish(out *o)
{
    if (o->rc) {
        io_atomic_abort(&o->a);
        return o->rc;
    }
    return io_atomic_commit(&o->a);
}

static int write_merges(const tok_trainer *tr, const char *path)
{
    out o = {.rc = CC_OK};
    int rc = io_atomic_open(&o.a, path);
    if (rc)
        return rc;
    /* No newline after the last line: OpenAI's SimpleTokenizer (and open_clip's copy)
     * split the file on '\n' and slice lines [1, 48895), so a final newline becomes an
     * empty merge "" whose vocabulary slot pushes both special tokens one id up. */
    puts_(&o, "#version: 0.2");
    for (int32_t i = 0; i < tr->st.merges && o.rc == CC_OK; i++) {
        size_t nl, nr;
        put(&o, "\n", 1);
        const char *l = tt_sym(tr, tr->merge_l[i], &nl);
        put(&o, l, nl);
        put(&o, " ", 1);
        const char *r = tt_sym(tr, tr->merge_r[i], &nr);
        put(&o, r, nr);
    }
    return finish(&o);
}

/* A JSON string: symbols hold no control characters (bytes_to_unicode maps them away),
 * so only '"' and '\\' need escaping. */
static void put_json_str(out *o, const char *s, size_t n)
{
    put(o, "\"", 1);
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '"' && s[i] != '\\')
            continue;
        put(o, s + start, i - start);
        put(o, s[i] == '"' ? "\\\"" : "\\\\", 2);
        start = i + 1;
    }
    put(o, s + start, n - start);
    put(o, "\"", 1);
}

static int write_vocab(const tok_trainer *tr, const char *path)
{
    out o = {.rc = CC_OK};
    int rc = io_atomic_open(&o.a, path);
    if (rc)
        return rc;
    char num[32];
    puts_(&o, "{");
    for (int32_t id = 0; id < tr->n_sym && o.rc == CC_OK; id++) {
        size_t n;
        const char *s = tt_sym(tr, id, &n);
        puts_(&o, id ? ",\n  " : "\n  ");
        put_json_str(&o, s, n);
        snprintf(num, sizeof num, ": %d", id);
        puts_(&o, num);
    }
    snprintf(num, sizeof num, ": %d", tr->n_sym);
    puts_(&o, ",\n  \"<|startoftext|>\"");
    puts_(&o, num);
    snprintf(num, sizeof num, ": %d\n}\n", tr->n_sym + 1);
    puts_(&o, ",\n  \"<|endoftext|>\"");
    puts_(&o, num);
    return finish(&o);
}

int tok_trainer_write_hf(const tok_trainer *tr, const char *dir)
{
    if (!tr || !dir || !*dir)
        return cc_fail(CC_ERR_INVALID, "tok_trainer_write_hf: trainer or directory is missing");
    if (tr->learned != 1)
        return cc_fail(CC_ERR_INVALID, "tok_trainer_write_hf: no merges learned yet (call tok_trainer_learn first)");
    int rc = rt_make_dirs(dir);
    if (rc)
        return rc;
    char *merges = join(dir, "merges.txt"), *vocab = join(dir, "vocab.json");
    if (!merges || !vocab)
        rc = cc_fail(CC_ERR_NOMEM, "tokenizer training: out of memory");
    /* Each file is replaced atomically, the pair is not: a crash in between leaves the
     * new merges.txt beside the old vocab.json. */
    if (rc == CC_OK)
        rc = write_merges(tr, merges);
    if (rc == CC_OK)
        rc = write_vocab(tr, vocab);
    free(merges);
    free(vocab);
    return rc;
}
