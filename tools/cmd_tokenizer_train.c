/* clipcl tokenizer-train: learns CLIP-style BPE merges from a caption corpus and
 * writes vocab.json + merges.txt, so a model can be trained without OpenAI's vocabulary. */
#include "io/tok_files.h"
#include "io/tok_train.h"
#include "io/tokenizer.h"
#include "runtime/clock.h"
#include "tools/cmd.h"
#include "tools/cmd_progress.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char cmd_tokenizer_train_usage[] =
    "usage: clipcl tokenizer-train --corpus FILE [--corpus FILE...] --vocab-size N --out DIR\n"
    "                              [--min-frequency K]\n\n"
    "Learns byte-level BPE merges the way CLIP's tokenizer uses them and writes\n"
    "DIR/vocab.json, DIR/merges.txt and DIR/tokenizer_config.json (Hugging Face\n"
    "CLIP format: `clipcl tokenize --model DIR`, CLIPTokenizer.from_pretrained(DIR)\n"
    "and OpenAI's/open_clip's SimpleTokenizer on merges.txt read the same ids).\n"
    "Each line of a corpus is one text (gzip is read too); it is cleaned and split\n"
    "exactly as CLIP's tokenizer does before encoding. Lines that are not UTF-8\n"
    "are skipped with a warning.\n\n"
    "  --corpus FILE        text file, one caption per line (may be repeated)\n"
    "  --vocab-size N       final vocabulary: 256 byte symbols + 256 with </w> +\n"
    "                       N-514 merges + <|startoftext|> + <|endoftext|>;\n"
    "                       514 <= N <= 49408 (49408 is CLIP's own size)\n"
    "  --out DIR            output directory (created if missing; files are\n"
    "                       replaced atomically)\n"
    "  --min-frequency K    stop once the most frequent pair occurs fewer than K\n"
    "                       times (default 1: learn until N or no pair is left)\n\n"
    "Merges are chosen greedily by pair count over all word occurrences; ties go\n"
    "to the pair whose (left, right) symbols sort first (see docs/tokenizer.md).\n";

typedef struct bar_ctx { progress bar; int64_t scale; } bar_ctx;

static void on_progress(void *user, int64_t done, int64_t total)
{
    bar_ctx *b = user;
    b->bar.total = (total + b->scale - 1) / b->scale;
    progress_update(&b->bar, done / b->scale);
}

/* A strict positive integer: no sign, no trailing text, no overflow. */
static int parse_int(const char *s, long long max, long long *v)
{
    if (!*s || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end;
    long long x = strtoll(s, &end, 10);
    if (errno || *end || x > max)
        return -1;
    *v = x;
    return 0;
}

static int parse_args(int argc, char **argv, const char **corpus, int *n_corpus, long long *vocab,
                      long long *min_freq, const char **out)
{
    const char *vs = NULL, *mf = NULL;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int r;
        if ((r = cmd_option_value(argc, argv, &i, "--corpus", &v)) != 0) {
            if (r < 0)
                return 2;
            if (*n_corpus == 16)
                return cmd_usage_error("tokenizer-train", "more than 16 --corpus files");
            corpus[(*n_corpus)++] = v;
        } else if ((r = cmd_option_value(argc, argv, &i, "--vocab-size", &v)) != 0) {
            if (r < 0)
                return 2;
            vs = v;
        } else if ((r = cmd_option_value(argc, argv, &i, "--min-frequency", &v)) != 0) {
            if (r < 0)
                return 2;
            mf = v;
        } else if ((r = cmd_option_value(argc, argv, &i, "--out", &v)) != 0) {
            if (r < 0)
                return 2;
            *out = v;
        } else {
            return cmd_usage_error("tokenizer-train", "unknown argument \"%s\"", argv[i]);
        }
    }
    if (*n_corpus == 0)
        return cmd_usage_error("tokenizer-train", "give --corpus FILE (one caption per line)");
    if (!vs)
        return cmd_usage_error("tokenizer-train", "give --vocab-size N (%d to %d)", TOK_TRAIN_MIN_VOCAB, TOK_TRAIN_MAX_VOCAB);
    if (!*out || !**out)
        return cmd_usage_error("tokenizer-train", "give --out DIR (where vocab.json and merges.txt go)");
    if (parse_int(vs, 1LL << 40, vocab) != 0)
        return cmd_usage_error("tokenizer-train", "--vocab-size \"%s\" is not a whole number", vs);
    if (*vocab < TOK_TRAIN_MIN_VOCAB || *vocab > TOK_TRAIN_MAX_VOCAB)
        return cmd_usage_error("tokenizer-train",
                               "--vocab-size %lld is out of range: at least %d (512 byte symbols + 2 special tokens), "
                               "at most %d (what CLIP's tokenizer loaders read)",
                               *vocab, TOK_TRAIN_MIN_VOCAB, TOK_TRAIN_MAX_VOCAB);
    if (mf && parse_int(mf, 1LL << 62, min_freq) != 0)
        return cmd_usage_error("tokenizer-train", "--min-frequency \"%s\" is not a whole number", mf);
    return 0;
}

static int read_corpora(tok_trainer *tr, const char *const *corpus, int n)
{
    bar_ctx b = {.scale = 1024};
    tok_trainer_set_progress(tr, on_progress, &b);
    int64_t skipped = 0;
    for (int i = 0; i < n; i++) {
        cmd_progress_start(&b.bar, "reading", "KiB", 0);
        if (tok_trainer_add_file(tr, corpus[i]) != CC_OK) {
            progress_abort(&b.bar);
            return cmd_lib_error(1);
        }
        progress_update(&b.bar, b.bar.total);
        progress_finish(&b.bar);
        tok_train_stats st;
        tok_trainer_stats(tr, &st);
        if (st.skipped_lines > skipped)
            fprintf(stderr, "clipcl tokenizer-train: warning: %s: skipped %lld line(s) that are not UTF-8 text (first: line %lld)\n",
                    corpus[i], (long long)(st.skipped_lines - skipped), (long long)st.first_skipped);
        skipped = st.skipped_lines;
    }
    tok_trainer_set_progress(tr, NULL, NULL);
    return 0;
}

static int learn(tok_trainer *tr, long long vocab, long long min_freq)
{
    bar_ctx b = {.scale = 1};
    cmd_progress_start(&b.bar, "merges", "merge", vocab - TOK_TRAIN_MIN_VOCAB);
    tok_trainer_set_progress(tr, on_progress, &b);
    tok_train_opts o = {.vocab_size = (int32_t)vocab, .min_frequency = min_freq};
    int rc = tok_trainer_learn(tr, &o);
    tok_trainer_set_progress(tr, NULL, NULL);
    if (rc != CC_OK) {
        progress_abort(&b.bar);
        return cmd_lib_error(rc);
    }
    tok_train_stats st;
    tok_trainer_stats(tr, &st);
    b.bar.total = st.merges; /* an early stop ends the bar where it stopped */
    progress_update(&b.bar, st.merges);
    progress_finish(&b.bar);
    return 0;
}

int cmd_tokenizer_train(int argc, char **argv)
{
    const char *corpus[16], *out = NULL;
    int n_corpus = 0;
    long long vocab = 0, min_freq = 1;
    int rc = parse_args(argc, argv, corpus, &n_corpus, &vocab, &min_freq, &out);
    if (rc)
        return rc;
    double t0 = cc_now_s();
    tok_trainer *tr = NULL;
    if (tok_trainer_new(&tr) != CC_OK)
        return cmd_lib_error(1);
    rc = read_corpora(tr, corpus, n_corpus);
    double t1 = cc_now_s();
    if (rc == 0)
        rc = learn(tr, vocab, min_freq);
    double t2 = cc_now_s();
    /* tokenizer_config.json with CLIP's context: transformers' AutoTokenizer needs the
     * class; a checkpoint rewrites it with its model's context. */
    if (rc == 0 && (tok_trainer_write_hf(tr, out) != CC_OK ||
                    tok_write_hf_config(out, TOK_CONTEXT_LENGTH) != CC_OK))
        rc = cmd_lib_error(1);
    if (rc == 0) {
        tok_train_stats st;
        tok_trainer_stats(tr, &st);
        if (st.vocab_size < vocab)
            fprintf(stderr, "clipcl tokenizer-train: warning: stopped at %d merges (vocab size %d, not %lld): %s\n",
                    st.merges, st.vocab_size, vocab,
                    min_freq > 1 ? "no pair left that occurs --min-frequency times" : "no pair left to merge in the corpus");
        printf("%lld lines, %lld words (%lld distinct) read in %.2f s; %d merges learned in %.2f s "
               "(last pair seen %lld times)\nwrote %s/vocab.json (%d tokens), merges.txt and tokenizer_config.json\n",
               (long long)st.lines, (long long)st.words, (long long)st.distinct_words, t1 - t0, st.merges, t2 - t1,
               (long long)st.last_count, out, st.vocab_size);
        if (fflush(stdout) != 0)
            rc = cmd_error("cannot write to stdout: %s", strerror(errno));
    }
    tok_trainer_free(tr);
    return rc;
}
