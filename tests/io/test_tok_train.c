/* BPE training tests: merges hand-derived on small corpora (Sennrich's low/lower/newest/
 * widest example, a non-ASCII word), the written files loaded back by tok_load_hf and
 * tok_load_openai with hand-derived ids and round trips, the same merges from files
 * (CRLF, gzip, bad lines), a naive full-recount trainer written here as the independent
 * reference on random corpora, and the errors. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "io/tok_train.h"
#include "io/tokenizer.h"
#include "runtime/status.h"
#include "tests/io/io_test_util.h"

static int setup(void **state)
{
    (void)state;
    return iot_setup("G_toktrain");
}

/* Sennrich et al.'s example: low x5, lower x2, newest x6, widest x3. */
static const char *const SENNRICH[] = {
    "low low low low low", "Lower lower", "newest newest newest newest newest newest", "widest widest widest",
};

/* Hand-derived (docs/tokenizer.md, "Training"): pair counts e s 9, s t</w> 9 (tie: "e" < "s"),
 * then es t</w> 9, l o 7, three pairs at 6 (e w first: "e" < "n" < "w"), and so on. */
static const char *const SENNRICH_MERGES[] = {
    "e s", "es t</w>", "l o", "e w", "ew est</w>", "n ewest</w>", "lo w</w>",
    "d est</w>", "i dest</w>", "w idest</w>", "e r</w>", "lo w", "low er</w>",
};
enum { N_SENNRICH = 13 };

static tok_trainer *train_texts(const char *const *texts, size_t n, int32_t vocab, int64_t min_freq)
{
    tok_trainer *tr = NULL;
    assert_int_equal(tok_trainer_new(&tr), CC_OK);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(tok_trainer_add_text(tr, texts[i]), CC_OK);
    tok_train_opts o = {.vocab_size = vocab, .min_frequency = min_freq};
    assert_int_equal(tok_trainer_learn(tr, &o), CC_OK);
    return tr;
}

static void expect_merges(const tok_trainer *tr, const char *const *want, int n)
{
    tok_train_stats st;
    tok_trainer_stats(tr, &st);
    assert_int_equal(st.merges, n);
    for (int i = 0; i < n; i++) {
        const char *l, *r;
        size_t nl, nr;
        assert_int_equal(tok_trainer_merge(tr, i, &l, &nl, &r, &nr), CC_OK);
        char got[256];
        snprintf(got, sizeof got, "%.*s %.*s", (int)nl, l, (int)nr, r);
        assert_string_equal(got, want[i]);
    }
}

static void test_hand_merges(void **state)
{
    (void)state;
    tok_trainer *tr = train_texts(SENNRICH, 4, 600, 0);
    expect_merges(tr, SENNRICH_MERGES, N_SENNRICH);
    tok_train_stats st;
    tok_trainer_stats(tr, &st);
    assert_int_equal(st.words, 16);
    assert_int_equal(st.distinct_words, 4);
    assert_int_equal(st.vocab_size, 514 + N_SENNRICH); /* stopped early: nothing left to merge */
    assert_int_equal(st.last_count, 2);
    assert_int_equal(st.lines, 4);
    const char *l, *r;
    size_t nl, nr;
    assert_int_equal(tok_trainer_merge(tr, N_SENNRICH, &l, &nl, &r, &nr), CC_ERR_INVALID);
    tok_trainer_free(tr);

    /* Corpus order does not matter: ties are broken on the symbols, not on first sight. */
    const char *rev[] = {"widest widest widest", "newest newest newest newest newest newest", "lower lower",
                         "low low low low low"};
    tr = train_texts(rev, 4, 600, 0);
    expect_merges(tr, SENNRICH_MERGES, N_SENNRICH);
    tok_trainer_free(tr);

    /* Exactly vocab_size: 514 + 5 keeps the first five merges. */
    tr = train_texts(SENNRICH, 4, 519, 0);
    expect_merges(tr, SENNRICH_MERGES, 5);
    tok_trainer_free(tr);

    /* min_frequency 3: merges with counts 9 9 7 6 6 6 5 3 3 3 are learned, the 2s are not. */
    tr = train_texts(SENNRICH, 4, 600, 3);
    expect_merges(tr, SENNRICH_MERGES, 10);
    tok_trainer_free(tr);
}

/* "café" is c a f 0xC3 0xA9: symbols c a f Ã ©</w>, every pair seen once, so ties decide
 * everything and they compare the symbols' UTF-8 bytes ('a' < 'c' < 'f' < "Ã"). */
/* Writes tr's HF files into folder dir, frees tr, and loads the files back. */
static tok_tokenizer *write_and_load(tok_trainer *tr, const char *dir)
{
    assert_int_equal(tok_trainer_write_hf(tr, iot_path(dir)), CC_OK);
    tok_trainer_free(tr);
    char vj[1200], mt[1200];
    snprintf(vj, sizeof vj, "%s/vocab.json", iot_path(dir));
    snprintf(mt, sizeof mt, "%s/merges.txt", iot_path(dir));
    tok_tokenizer *t;
    assert_int_equal(tok_load_hf(vj, mt, &t), CC_OK);
    return t;
}

static void test_non_ascii(void **state)
{
    (void)state;
    const char *texts[] = {"Café"};
    tok_trainer *tr = train_texts(texts, 1, 1000, 0);
    const char *want[] = {"a f", "af \xC3\x83", "af\xC3\x83 \xC2\xA9</w>", "c af\xC3\x83\xC2\xA9</w>"};
    expect_merges(tr, want, 4);
    tok_tokenizer *t = write_and_load(tr, "cafe");
    int32_t *ids;
    size_t n;
    assert_int_equal(tok_encode_ids(t, "CAFÉ café", &ids, &n), CC_OK);
    assert_int_equal(n, 2);
    assert_int_equal(ids[0], 515);
    assert_int_equal(ids[1], 515);
    char *text;
    assert_int_equal(tok_decode(t, ids, n, &text), CC_OK);
    assert_string_equal(text, "café café ");
    free(text);
    free(ids);
    tok_free(t);
}

static void check_sennrich_tokenizer(tok_tokenizer *t)
{
    assert_int_equal(tok_vocab_size(t), 527);
    assert_int_equal(tok_sot_id(t), 525);
    assert_int_equal(tok_eot_id(t), 526);
    int32_t ids[TOK_CONTEXT_LENGTH];
    int truncated = 1;
    /* Each corpus word is one token: newest = merge 5, widest 9, low 6, lower 12. */
    assert_int_equal(tok_encode(t, "Newest widest low lower", ids, &truncated), CC_OK);
    const int32_t want[] = {525, 517, 521, 518, 524, 526, 0};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        assert_int_equal(ids[i], want[i]);
    assert_int_equal(truncated, 0);
    /* Unseen words: lowest = low (11) + est</w> (1); newer = n (byte 'n': 110 - 33) ew (3) er</w> (10). */
    int32_t *v;
    size_t n;
    assert_int_equal(tok_encode_ids(t, "lowest newer", &v, &n), CC_OK);
    const int32_t want2[] = {523, 513, 77, 515, 522};
    assert_int_equal(n, 5);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(v[i], want2[i]);
    char *text;
    assert_int_equal(tok_decode(t, v, n, &text), CC_OK);
    assert_string_equal(text, "lowest newer ");
    free(text);
    free(v);
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

static void test_write_and_load(void **state)
{
    (void)state;
    tok_trainer *tr = train_texts(SENNRICH, 4, 600, 0);
    const char *dir = iot_path("a/b/tok"); /* missing parents are created */
    assert_int_equal(tok_trainer_write_hf(tr, dir), CC_OK);
    assert_int_equal(tok_trainer_write_hf(tr, dir), CC_OK); /* replaces */
    tok_trainer_free(tr);
    assert_int_equal(count_entries(dir), 2); /* no temporary left behind */

    char vj[1200], mt[1200];
    snprintf(vj, sizeof vj, "%s/vocab.json", dir);
    snprintf(mt, sizeof mt, "%s/merges.txt", dir);
    tok_tokenizer *t;
    assert_int_equal(tok_load_hf(vj, mt, &t), CC_OK);
    check_sennrich_tokenizer(t);
    tok_free(t);
    /* merges.txt alone is an OpenAI merges file with the same ids. */
    assert_int_equal(tok_load_openai(mt, &t), CC_OK);
    check_sennrich_tokenizer(t);
    tok_free(t);

    json_object *root = json_object_from_file(vj);
    assert_non_null(root);
    assert_int_equal(json_object_object_length(root), 527);
    const struct { const char *sym; int id; } spot[] = {
        {"!", 0}, {"\"", 1}, {"\\", 59}, {"a", 64}, {"\xC4\x80", 188}, {"!</w>", 256},
        {"es", 512}, {"lower</w>", 524}, {"<|startoftext|>", 525}, {"<|endoftext|>", 526},
    };
    for (size_t i = 0; i < sizeof spot / sizeof spot[0]; i++) {
        json_object *v;
        assert_true(json_object_object_get_ex(root, spot[i].sym, &v));
        assert_int_equal(json_object_get_int(v), spot[i].id);
    }
    json_object_put(root);
    FILE *f = fopen(mt, "rb");
    char line[64];
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "#version: 0.2\n");
    fclose(f);
}

static void test_file_corpus(void **state)
{
    (void)state;
    /* CRLF, a line that is not UTF-8 (line 3), one with a NUL (line 5), an empty line and
     * a last line without a newline: the same words as SENNRICH. */
    static const char data[] = "low low low low low\r\nlower lower\r\n\xFF\xFE bad\n"
                               "newest newest newest newest newest newest\nx\0y\n\n"
                               "widest widest widest";
    const char *plain = iot_path("corpus.txt");
    iot_write(plain, data, sizeof data - 1);
    tok_trainer *tr;
    assert_int_equal(tok_trainer_new(&tr), CC_OK);
    assert_int_equal(tok_trainer_add_file(tr, plain), CC_OK);
    tok_train_stats st;
    tok_trainer_stats(tr, &st);
    assert_int_equal(st.lines, 7);
    assert_int_equal(st.skipped_lines, 2);
    assert_int_equal(st.first_skipped, 3);
    assert_int_equal(st.words, 16);
    tok_train_opts o = {.vocab_size = 600};
    assert_int_equal(tok_trainer_learn(tr, &o), CC_OK);
    expect_merges(tr, SENNRICH_MERGES, N_SENNRICH);
    tok_trainer_free(tr);

    const char *gz = iot_path("corpus.txt.gz");
    gzFile g = gzopen(gz, "wb");
    assert_non_null(g);
    assert_int_equal(gzwrite(g, data, sizeof data - 1), (int)(sizeof data - 1));
    gzclose(g);
    assert_int_equal(tok_trainer_new(&tr), CC_OK);
    assert_int_equal(tok_trainer_add_file(tr, gz), CC_OK);
    assert_int_equal(tok_trainer_learn(tr, &o), CC_OK);
    expect_merges(tr, SENNRICH_MERGES, N_SENNRICH);
    tok_trainer_free(tr);
}

/* The reference: words as arrays of symbol strings, every pair recounted before each merge. */
typedef struct nword { char **s; int n; int64_t count; } nword;

static int naive_merge(nword *w, int nw, char *out_l, char *out_r)
{
    int best_w = -1, best_i = -1;
    int64_t best_c = 0;
    for (int a = 0; a < nw; a++)
        for (int i = 0; i + 1 < w[a].n; i++) {
            int64_t c = 0;
            for (int b = 0; b < nw; b++)
                for (int j = 0; j + 1 < w[b].n; j++)
                    c += w[b].count * (!strcmp(w[b].s[j], w[a].s[i]) && !strcmp(w[b].s[j + 1], w[a].s[i + 1]));
            int d = best_w < 0 ? -1 : strcmp(w[a].s[i], w[best_w].s[best_i]);
            if (best_w >= 0 && !d)
                d = strcmp(w[a].s[i + 1], w[best_w].s[best_i + 1]);
            if (best_w < 0 || c > best_c || (c == best_c && d < 0)) {
                best_w = a;
                best_i = i;
                best_c = c;
            }
        }
    if (best_w < 0)
        return 0;
    strcpy(out_l, w[best_w].s[best_i]);
    strcpy(out_r, w[best_w].s[best_i + 1]);
    for (int a = 0; a < nw; a++) {
        int o = 0;
        for (int i = 0; i < w[a].n;) {
            if (i + 1 < w[a].n && !strcmp(w[a].s[i], out_l) && !strcmp(w[a].s[i + 1], out_r)) {
                char *m = malloc(strlen(out_l) + strlen(out_r) + 1);
                strcpy(m, out_l);
                strcat(m, out_r);
                free(w[a].s[i]);
                free(w[a].s[i + 1]);
                w[a].s[o++] = m;
                i += 2;
            } else {
                w[a].s[o++] = w[a].s[i++];
            }
        }
        w[a].n = o;
    }
    return 1;
}

static void test_against_naive(void **state)
{
    (void)state;
    srand(12345);
    for (int trial = 0; trial < 12; trial++) {
        enum { NW = 40 };
        nword w[NW];
        char words[NW][12];
        int nw = 0;
        tok_trainer *tr;
        assert_int_equal(tok_trainer_new(&tr), CC_OK);
        const char *alpha = trial % 2 ? "ab" : "abcd"; /* runs like "aaaa" test overlaps */
        int na = (int)strlen(alpha);
        while (nw < NW) {
            int len = 1 + rand() % 9;
            for (int i = 0; i < len; i++)
                words[nw][i] = alpha[rand() % na];
            words[nw][len] = 0;
            int dup = 0;
            for (int k = 0; k < nw; k++)
                dup |= !strcmp(words[k], words[nw]);
            if (dup)
                continue;
            w[nw].count = 1 + rand() % 7;
            w[nw].n = len;
            w[nw].s = malloc((size_t)len * sizeof *w[nw].s);
            for (int i = 0; i < len; i++) {
                w[nw].s[i] = calloc(8, 1);
                w[nw].s[i][0] = words[nw][i];
                if (i == len - 1)
                    strcat(w[nw].s[i], "</w>");
            }
            char line[200] = "";
            for (int c = 0; c < w[nw].count; c++)
                snprintf(line + strlen(line), sizeof line - strlen(line), "%s ", words[nw]);
            assert_int_equal(tok_trainer_add_text(tr, line), CC_OK);
            nw++;
        }
        tok_train_opts o = {.vocab_size = 49408};
        assert_int_equal(tok_trainer_learn(tr, &o), CC_OK);
        tok_train_stats st;
        tok_trainer_stats(tr, &st);
        char l[128], r[128];
        int k = 0;
        for (; naive_merge(w, nw, l, r); k++) {
            assert_true(k < st.merges);
            const char *gl, *gr;
            size_t nl, nr;
            assert_int_equal(tok_trainer_merge(tr, k, &gl, &nl, &gr, &nr), CC_OK);
            assert_int_equal(nl, strlen(l));
            assert_memory_equal(gl, l, nl);
            assert_int_equal(nr, strlen(r));
            assert_memory_equal(gr, r, nr);
        }
        assert_int_equal(k, st.merges);

        /* Trained to the end, every corpus word is one token, and the encoder finds it. */
        tok_tokenizer *t = write_and_load(tr, "naive");
        for (int a = 0; a < nw; a++) {
            int32_t *ids;
            size_t n;
            assert_int_equal(tok_encode_ids(t, words[a], &ids, &n), CC_OK);
            assert_int_equal(n, 1);
            char *text;
            assert_int_equal(tok_decode(t, ids, n, &text), CC_OK);
            char want[16];
            snprintf(want, sizeof want, "%.11s ", words[a]);
            assert_string_equal(text, want);
            free(text);
            free(ids);
            assert_int_equal(w[a].n, 1);
            free(w[a].s[0]);
            free(w[a].s);
        }
        tok_free(t);
    }
}

static void test_errors(void **state)
{
    (void)state;
    tok_trainer *tr;
    assert_int_equal(tok_trainer_new(&tr), CC_OK);
    tok_train_opts o = {.vocab_size = 600};
    assert_int_equal(tok_trainer_learn(tr, &o), CC_ERR_INVALID); /* no words */
    assert_non_null(strstr(cc_last_error(), "no words"));
    assert_int_equal(tok_trainer_write_hf(tr, iot_path("never")), CC_ERR_INVALID);
    assert_int_equal(tok_trainer_add_file(tr, iot_path("missing.txt")), CC_ERR_IO);
    assert_non_null(strstr(cc_last_error(), "missing.txt"));
    assert_int_equal(tok_trainer_add_file(tr, iot_root()), CC_ERR_IO);
    assert_non_null(strstr(cc_last_error(), "is a directory"));
    iot_write(iot_path("empty.txt"), "", 0);
    assert_int_equal(tok_trainer_add_file(tr, iot_path("empty.txt")), CC_ERR_INVALID);
    assert_non_null(strstr(cc_last_error(), "holds no words"));
    iot_write(iot_path("blank.txt"), "  \n\t\n<|startoftext|> <|endoftext|>\n", 36);
    assert_int_equal(tok_trainer_add_file(tr, iot_path("blank.txt")), CC_ERR_INVALID);
    assert_int_equal(tok_trainer_add_text(tr, "bad \xC3("), CC_ERR_INVALID);

    assert_int_equal(tok_trainer_add_text(tr, "hello hello"), CC_OK);
    o.vocab_size = 513;
    assert_int_equal(tok_trainer_learn(tr, &o), CC_ERR_INVALID);
    assert_non_null(strstr(cc_last_error(), "514"));
    o.vocab_size = 49409;
    assert_int_equal(tok_trainer_learn(tr, &o), CC_ERR_INVALID);
    assert_non_null(strstr(cc_last_error(), "49408"));
    o.vocab_size = 514; /* the smallest: no merges, bytes and specials only */
    assert_int_equal(tok_trainer_learn(tr, &o), CC_OK);
    tok_train_stats st;
    tok_trainer_stats(tr, &st);
    assert_int_equal(st.merges, 0);
    assert_int_equal(st.vocab_size, 514);
    assert_int_equal(tok_trainer_learn(tr, &o), CC_ERR_INVALID); /* once */
    assert_int_equal(tok_trainer_add_text(tr, "more"), CC_ERR_INVALID);
    iot_write(iot_path("plainfile"), "x", 1);
    assert_int_equal(tok_trainer_write_hf(tr, iot_path("plainfile")), CC_ERR_IO);
    assert_non_null(strstr(cc_last_error(), "not a directory"));
    assert_int_equal(tok_trainer_write_hf(tr, iot_path("min")), CC_OK);
    tok_trainer_free(tr);
    /* No merges: a byte-level tokenizer, "hello" as its five byte symbols. */
    char vj[1200], mt[1200];
    snprintf(vj, sizeof vj, "%s", iot_path("min/vocab.json"));
    snprintf(mt, sizeof mt, "%s", iot_path("min/merges.txt"));
    tok_tokenizer *t = NULL;
    assert_int_equal(tok_load_hf(vj, mt, &t), CC_OK);
    assert_int_equal(tok_vocab_size(t), 514);
    assert_int_equal(tok_eot_id(t), 513);
    int32_t *ids;
    size_t n;
    assert_int_equal(tok_encode_ids(t, "hello", &ids, &n), CC_OK);
    const int32_t want[] = {'h' - 33, 'e' - 33, 'l' - 33, 'l' - 33, 256 + 'o' - 33};
    assert_int_equal(n, 5);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ids[i], want[i]);
    free(ids);
    tok_free(t);
}

/* OpenAI's SimpleTokenizer reads merges as text.split("\n")[1:48895]: with a final
 * newline the last "line" is an empty merge and both special tokens move one id up.
 * The written file must give exactly one line per merge under that rule. */
static size_t openai_rule_merge_lines(const char *text)
{
    size_t lines = 1;
    for (const char *p = text; *p; p++)
        lines += *p == '\n';
    return lines - 1; /* line 0 is the header */
}

static void test_merges_no_final_newline(void **state)
{
    (void)state;
    tok_trainer *tr = train_texts(SENNRICH, 4, 600, 0);
    const char *dir = iot_path("nl/tok");
    assert_int_equal(tok_trainer_write_hf(tr, dir), CC_OK);
    tok_trainer_free(tr);
    size_t n;
    char *text = (char *)iot_slurp(iot_path("nl/tok/merges.txt"), &n);
    assert_true(n > 0);
    assert_int_not_equal(text[n - 1], '\n');
    assert_int_equal(openai_rule_merge_lines(text), N_SENNRICH);
    free(text);

    /* no merges at all: the header alone, still without a newline */
    static const char *const one[] = {"a"};
    tr = train_texts(one, 1, 514, 0);
    assert_int_equal(tok_trainer_write_hf(tr, iot_path("nl/empty")), CC_OK);
    tok_trainer_free(tr);
    text = (char *)iot_slurp(iot_path("nl/empty/merges.txt"), &n);
    assert_string_equal(text, "#version: 0.2");
    assert_int_equal(openai_rule_merge_lines(text), 0);
    free(text);
    tok_tokenizer *t;
    assert_int_equal(tok_load_openai(iot_path("nl/empty/merges.txt"), &t), CC_OK);
    assert_int_equal(tok_vocab_size(t), 514);
    tok_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_merges),
        cmocka_unit_test(test_non_ascii),
        cmocka_unit_test(test_write_and_load),
        cmocka_unit_test(test_merges_no_final_newline),
        cmocka_unit_test(test_file_corpus),
        cmocka_unit_test(test_against_naive),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, iot_teardown);
}
