/* Learning CLIP-style byte-level BPE merges from a corpus, and writing them as Hugging
 * Face's CLIP tokenizer files (vocab.json + merges.txt), which tok_load_hf,
 * tok_load_openai (merges.txt alone) and HF's CLIPTokenizer all load.
 *
 * Texts go through the encoder's own cleaning and pre-split regex; each pre-token is a
 * word of byte symbols whose last symbol carries "</w>". Merges are learned greedily:
 * the most frequent adjacent pair over all word occurrences, ties to the pair whose
 * (left, right) symbol strings are smallest (docs/tokenizer.md, "Training").
 *
 *   tok_trainer *tr;
 *   tok_trainer_new(&tr);
 *   tok_trainer_add_file(tr, "captions.txt");   (or tok_trainer_add_text)
 *   tok_train_opts o = {.vocab_size = 8192};
 *   tok_trainer_learn(tr, &o);
 *   tok_trainer_write_hf(tr, "out_dir");
 *   tok_trainer_free(tr);
 *
 * A trainer is not thread-safe. */
#ifndef CLIPCL_IO_TOK_TRAIN_H
#define CLIPCL_IO_TOK_TRAIN_H

#include <stddef.h>
#include <stdint.h>

/* 256 byte symbols + 256 with "</w>" + the two special tokens, and the most ids that
 * OpenAI's and HF's loaders read back (they keep at most TOK_MAX_MERGES merges). */
#define TOK_TRAIN_MIN_VOCAB 514
#define TOK_TRAIN_MAX_VOCAB 49408

typedef struct tok_trainer tok_trainer;

/* done out of total units: bytes of the corpus while reading, merges while learning. */
typedef void (*tok_train_progress_fn)(void *user, int64_t done, int64_t total);

typedef struct tok_train_opts {
    int32_t vocab_size;      /* final vocabulary: 512 + merges + 2, in [514, 49408] */
    int64_t min_frequency;   /* stop when the best pair occurs fewer times (0 or 1: never) */
} tok_train_opts;

typedef struct tok_train_stats {
    int64_t lines;           /* lines (or texts) read, empty ones included */
    int64_t skipped_lines;   /* not UTF-8 or holding a NUL byte: counted and skipped */
    int64_t first_skipped;   /* 1-based line of the first skipped one in the last file, 0 if none */
    int64_t words;           /* pre-tokens counted */
    int64_t distinct_words;
    int32_t merges;          /* learned so far */
    int32_t vocab_size;      /* 512 + merges + 2 once learned, else 0 */
    int64_t last_count;      /* occurrences of the last learned pair */
    int64_t skipped_pairs;   /* pairs not merged because their string was already a token */
} tok_train_stats;

int tok_trainer_new(tok_trainer **out);
void tok_trainer_free(tok_trainer *tr);

/* Called while reading files and learning; fn may be NULL. */
void tok_trainer_set_progress(tok_trainer *tr, tok_train_progress_fn fn, void *user);

/* Counts the words of one text (cleaned like tok_encode; "<|startoftext|>" and
 * "<|endoftext|>" are not words). Text that is not UTF-8 fails with CC_ERR_INVALID and
 * counts nothing. */
int tok_trainer_add_text(tok_trainer *tr, const char *text);

/* Counts a corpus file, one text per line ("\n" or "\r\n"; gzip is read too). Lines that
 * are not UTF-8 or hold a NUL byte are skipped and counted in the stats. Fails on a missing
 * or unreadable file, or one that holds no words. */
int tok_trainer_add_file(tok_trainer *tr, const char *path);

/* Learns merges from the words counted so far; once per trainer. Learning stops early,
 * with a smaller vocabulary (see the stats), when no pair is left (or none is frequent
 * enough). Fails on a vocab_size out of bounds or when no word was counted. */
int tok_trainer_learn(tok_trainer *tr, const tok_train_opts *o);

void tok_trainer_stats(const tok_trainer *tr, tok_train_stats *st);

/* Merge i (rank i, token id 512 + i) after learning, as its two symbol strings
 * (byte-mapped UTF-8, not NUL-terminated). */
int tok_trainer_merge(const tok_trainer *tr, int32_t i, const char **left, size_t *left_len,
                      const char **right, size_t *right_len);

/* Writes DIR/vocab.json (symbol -> id, in id order) and DIR/merges.txt ("#version: 0.2",
 * then "left right" per merge, no newline after the last line: io/tok_files.h), each
 * replaced atomically; DIR is created with its parents if missing. */
int tok_trainer_write_hf(const tok_trainer *tr, const char *dir);

#endif
