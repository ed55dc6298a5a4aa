/* clipcl tokenize: token ids of texts, one line per text holding as many ids as
 * the model's text context (77 without a model, 64 for a SentencePiece
 * vocabulary), so a user can diff them against another tokenizer's and feed them
 * to `embed-text --ids`. CLIP's BPE (io/tokenizer.h) or SigLIP's SentencePiece
 * (io/spm_tokenizer.h), whichever the files are. */
#include "io/safetensors.h"
#include "io/spm_tokenizer.h"
#include "io/tokenizer.h"
#include "runtime/grow.h"
#include "tools/cmd.h"
#include "tools/cmd_progress.h"

#include "runtime/fs.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char cmd_tokenize_usage[] =
    "usage: clipcl tokenize (--model MODEL | --vocab FILE) [--clean HOW] [--texts FILE] [--] TEXT...\n\n"
    "Prints one line per text: the token ids CLIP's text tower sees\n"
    "(<|startoftext|>, the BPE ids, <|endoftext|>, zero padding), separated by\n"
    "spaces, as many as the model's context length (its positional embedding's\n"
    "rows; 77, CLIP's, with --vocab or a directory without weights), so the\n"
    "lines are what `embed-text --ids` takes. A longer text is cut with\n"
    "<|endoftext|> kept last, and a warning on stderr names it.\n\n"
    "  --model MODEL  a directory holding bpe_simple_vocab_16e6.txt.gz (OpenAI)\n"
    "                 or vocab.json + merges.txt (Hugging Face), or a .safetensors\n"
    "                 file in such a directory\n"
    "  --vocab FILE   bpe_simple_vocab_16e6.txt.gz (or .txt), or a vocab.json with\n"
    "                 merges.txt beside it\n\n"
    "SigLIP's SentencePiece tokenizer is used for a spiece.model or a Unigram\n"
    "tokenizer.json (--vocab FILE, or in a --model directory without CLIP's BPE\n"
    "files): ids as transformers' SiglipTokenizer gives them (lower case,\n"
    "punctuation removed, </s> last, padded with the pad token's id), 64 of them\n"
    "without a model; a longer text is cut with </s> kept last.\n"
    "  --clean HOW    open_clip's cleaning before it: canonicalize, lower,\n"
    "                 whitespace or none (default: the model directory's\n"
    "                 open_clip_config.json tokenizer_kwargs, else none)\n"
    "  --texts FILE   read texts from FILE, one per line (\"-\" reads stdin); they\n"
    "                 come before the TEXT arguments. Empty lines are empty texts.\n"
    "  --             every later argument is a text, even one starting with -\n";

#define OPENAI_VOCAB "bpe_simple_vocab_16e6.txt.gz"
#define OPENAI_VOCAB_PLAIN "bpe_simple_vocab_16e6.txt"

typedef struct text_item {
    char *text;        /* owned */
    const char *file;  /* NULL for a command-line argument */
    long line;
} text_item;

typedef struct text_list {
    text_item *v;
    size_t n, cap;
} text_list;

static void texts_free(text_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].text);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int texts_push(text_list *l, const char *s, size_t len, const char *file, long line)
{
    if (cc_grow_size((void **)&l->v, &l->cap, l->n + 1, sizeof *l->v, "the texts"))
        return cmd_lib_error(CC_ERR_NOMEM);
    char *t = malloc(len + 1);
    if (!t)
        return cmd_error("out of memory for a text of %zu bytes", len);
    memcpy(t, s, len);
    t[len] = '\0';
    l->v[l->n++] = (text_item){t, file, line};
    return 0;
}

static int read_stream(FILE *f, const char *name, char **buf, size_t *len)
{
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    while (b) {
        n += fread(b + n, 1, cap - n, f);
        if (n < cap)
            break;
        char *nb = realloc(b, cap * 2);
        if (!nb) {
            free(b);
            b = NULL;
            break;
        }
        b = nb;
        cap *= 2;
    }
    if (!b)
        return cmd_error("out of memory reading %s", name);
    if (ferror(f)) {
        free(b);
        return cmd_error("cannot read %s", name);
    }
    *buf = b;
    *len = n;
    return 0;
}

/* One text per line; "\r\n" endings are accepted and a final newline does not
 * start another text. */
static int read_texts(const char *path, text_list *l)
{
    int is_stdin = strcmp(path, "-") == 0;
    const char *name = is_stdin ? "stdin" : path;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (!f)
        return cmd_error("--texts %s: cannot open: %s", path, strerror(errno));
    char *buf = NULL;
    size_t len = 0;
    int rc = read_stream(f, name, &buf, &len);
    if (!is_stdin)
        fclose(f);
    if (rc)
        return rc;
    if (memchr(buf, '\0', len)) {
        long line = 1;
        for (const char *p = buf; *p; p++)
            line += *p == '\n';
        free(buf);
        return cmd_error("--texts %s: line %ld holds a NUL byte (expected UTF-8 text)", name, line);
    }
    if (len == 0) {
        free(buf);
        return cmd_error("--texts %s: no texts (the file is empty)", name);
    }
    size_t start = 0;
    long line = 1;
    for (size_t i = 0; i <= len && rc == 0; i++) {
        if (i < len && buf[i] != '\n')
            continue;
        if (i == len && start == len)
            break; /* after the final newline */
        size_t e = i;
        if (e > start && buf[e - 1] == '\r')
            e--;
        rc = texts_push(l, buf + start, e - start, name, line++);
        start = i + 1;
    }
    free(buf);
    return rc;
}

static int is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The tokenizer of the command: CLIP's BPE or SigLIP's SentencePiece. */
typedef struct any_tokenizer {
    tok_tokenizer *bpe;
    spm_tokenizer *spm;
} any_tokenizer;

static void any_free(any_tokenizer *t)
{
    tok_free(t->bpe);
    spm_free(t->spm);
    memset(t, 0, sizeof *t);
}

static int load_hf(const char *vocab_json, const char *dir, tok_tokenizer **t)
{
    char *merges = rt_path_join(dir, "merges.txt");
    if (!merges)
        return cmd_error("out of memory");
    int rc = 0;
    if (!is_file(merges))
        rc = cmd_error("%s needs merges.txt beside it: %s not found", vocab_json, merges);
    else if (tok_load_hf(vocab_json, merges, t) != CC_OK)
        rc = cmd_lib_error(1);
    free(merges);
    return rc;
}

/* A model directory: OpenAI's merges file first (it is what OpenAI and
 * open_clip ship), else Hugging Face's pair, else SentencePiece's files. */
static int load_from_dir(const char *dir, const char *opt, const char *arg, tok_tokenizer **t,
                         spm_tokenizer **spm)
{
    const char *names[] = {OPENAI_VOCAB, OPENAI_VOCAB_PLAIN};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char *p = rt_path_join(dir, names[i]);
        if (!p)
            return cmd_error("out of memory");
        int found = is_file(p);
        int rc = found && tok_load_openai(p, t) != CC_OK ? cmd_lib_error(1) : 0;
        free(p);
        if (found)
            return rc;
    }
    char *vj = rt_path_join(dir, "vocab.json");
    if (!vj)
        return cmd_error("out of memory");
    int rc;
    if (is_file(vj))
        rc = load_hf(vj, dir, t);
    else if (spm && spm_is_tokenizer(dir))
        rc = spm_open_model_dir(dir, spm) != CC_OK ? cmd_lib_error(1) : 0;
    else
        rc = cmd_error("%s %s: no tokenizer files in %s (expected " OPENAI_VOCAB
                       ", vocab.json + merges.txt, or SentencePiece's spiece.model or tokenizer.json)",
                       opt, arg, dir);
    free(vj);
    return rc;
}

static int load_tokenizer(const char *model, const char *vocab, any_tokenizer *any)
{
    tok_tokenizer **t = &any->bpe;
    spm_tokenizer **spm = &any->spm;
    const char *opt = model ? "--model" : "--vocab";
    const char *arg = model ? model : vocab;
    if (is_dir(arg))
        return load_from_dir(arg, opt, arg, t, spm);
    if (!is_file(arg))
        return cmd_error("%s %s: no such file or directory", opt, arg);
    char *dir = rt_path_dir(arg);
    if (!dir)
        return cmd_error("out of memory");
    int rc;
    size_t n = strlen(arg);
    if (model)
        rc = load_from_dir(dir, opt, arg, t, spm);
    else if (spm_is_tokenizer(arg))
        rc = spm_open(arg, spm) != CC_OK ? cmd_lib_error(1) : 0;
    else if (n >= 5 && strcmp(arg + n - 5, ".json") == 0)
        rc = load_hf(arg, dir, t);
    else
        rc = tok_load_openai(arg, t) != CC_OK ? cmd_lib_error(1) : 0;
    free(dir);
    return rc;
}

/* The weights file a model path names: the path itself when it is a file, else
 * open_clip's or Hugging Face's file name in the directory, else the first
 * .safetensors there (what clipcl_load reads). NULL when there is none. */
static char *weights_of(const char *model)
{
    if (is_file(model))
        return strdup(model);
    static const char *const preferred[] = {"open_clip_model.safetensors",
                                            "open_clip_pytorch_model.safetensors",
                                            "model.safetensors"};
    for (size_t i = 0; i < sizeof preferred / sizeof preferred[0]; i++) {
        char *p = rt_path_join(model, preferred[i]);
        if (!p || is_file(p))
            return p;
        free(p);
    }
    char *found = NULL;
    DIR *d = opendir(model);
    struct dirent *e;
    while (d && !found && (e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n > 12 && strcmp(e->d_name + n - 12, ".safetensors") == 0)
            found = rt_path_join(model, e->d_name);
    }
    if (d)
        closedir(d);
    return found;
}

/* The model's text context: rows of the text tower's positional embedding
 * (open_clip/OpenAI or Hugging Face names), read from the safetensors header
 * alone. CLIP's 77 when there are no weights or no text tower in them, and, with
 * a warning, when the weights cannot be read (the tokenizer alone is asked for). */
static int model_context(const char *model, size_t fallback, size_t *context)
{
    /* OpenAI/open_clip, open_clip's custom text tower (SigLIP), Hugging Face. */
    static const char *const keys[] = {"positional_embedding", "text.positional_embedding",
                                       "text_model.embeddings.position_embedding.weight"};
    *context = fallback;
    char *w = model ? weights_of(model) : NULL;
    if (!w)
        return 0;
    st_file *f = NULL;
    if (st_open(w, &f) != CC_OK) {
        fprintf(stderr, "clipcl tokenize: warning: %s; printing %zu ids (the tokenizer's context)\n",
                cc_line(cc_last_error(), "cannot read the weights"), fallback);
        free(w);
        return 0;
    }
    for (size_t i = 0; i < st_count(f); i++) {
        const st_tensor *t = st_at(f, i);
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
            if (strcmp(t->name, keys[k]) == 0 && t->ndim == 2 && t->shape[0] >= 2)
                *context = (size_t)t->shape[0];
    }
    st_close(f);
    free(w);
    return 0;
}

static int print_ids(const int32_t *ids, size_t context, char *line, size_t cap)
{
    size_t n = 0;
    for (size_t k = 0; k < context; k++)
        n += (size_t)snprintf(line + n, cap - n, k ? " %d" : "%d", ids[k]);
    line[n++] = '\n';
    return fwrite(line, 1, n, stdout) == n ? 0 : -1;
}

static int tokenize_rows(any_tokenizer *tok, const text_list *l, size_t context, int32_t *ids,
                         char *line, size_t cap)
{
    const char *eos = tok->spm ? "</s>" : "<|endoftext|>";
    progress bar;
    cmd_progress_start(&bar, "tokenize", "text", (int64_t)l->n);
    for (size_t i = 0; i < l->n; i++) {
        int truncated = 0;
        int erc = tok->spm ? spm_encode_ctx(tok->spm, l->v[i].text, ids, context, &truncated)
                           : tok_encode_ctx(tok->bpe, l->v[i].text, ids, context, &truncated);
        if (erc != CC_OK) {
            progress_abort(&bar);
            return cmd_lib_error(1);
        }
        if (truncated) {
            progress_clear(&bar);
            if (l->v[i].file)
                fprintf(stderr, "clipcl tokenize: warning: text %zu (%s line %ld) is longer than %d tokens; truncated, %s kept last\n",
                        i + 1, l->v[i].file, l->v[i].line, (int)context, eos);
            else
                fprintf(stderr, "clipcl tokenize: warning: text %zu is longer than %d tokens; truncated, %s kept last\n",
                        i + 1, (int)context, eos);
        }
        if (print_ids(ids, context, line, cap) != 0) {
            progress_abort(&bar);
            return cmd_error("cannot write to stdout: %s", strerror(errno));
        }
        progress_update(&bar, (int64_t)i + 1);
    }
    progress_finish(&bar);
    if (fflush(stdout) != 0 || ferror(stdout))
        return cmd_error("cannot write to stdout: %s", strerror(errno));
    return 0;
}

static int tokenize_all(any_tokenizer *tok, const text_list *l, size_t context)
{
    int32_t *ids = malloc(context * sizeof *ids);
    size_t cap = context * 12 + 2; /* "-2147483648" and a separator per id, '\n' */
    char *line = malloc(cap);
    int rc = ids && line ? tokenize_rows(tok, l, context, ids, line, cap)
                         : cmd_error("out of memory for a context of %zu ids", context);
    free(ids);
    free(line);
    return rc;
}

int cmd_tokenize(int argc, char **argv)
{
    const char *model = NULL, *vocab = NULL, *clean = NULL;
    const char *texts_files[16];
    int n_files = 0, only_texts = 0;
    text_list l = {0};
    int rc = 0;
    for (int i = 1; i < argc && rc == 0; i++) {
        const char *v = NULL;
        int r;
        if (only_texts || argv[i][0] != '-' || strcmp(argv[i], "-") == 0) {
            rc = texts_push(&l, argv[i], strlen(argv[i]), NULL, 0);
        } else if (strcmp(argv[i], "--") == 0) {
            only_texts = 1;
        } else if ((r = cmd_option_value(argc, argv, &i, "--model", &v)) != 0) {
            rc = r < 0 ? 2 : model ? cmd_usage_error("tokenize", "--model given twice") : 0;
            model = v;
        } else if ((r = cmd_option_value(argc, argv, &i, "--vocab", &v)) != 0) {
            rc = r < 0 ? 2 : vocab ? cmd_usage_error("tokenize", "--vocab given twice") : 0;
            vocab = v;
        } else if ((r = cmd_option_value(argc, argv, &i, "--clean", &v)) != 0) {
            rc = r < 0 ? 2 : clean ? cmd_usage_error("tokenize", "--clean given twice") : 0;
            clean = v;
        } else if ((r = cmd_option_value(argc, argv, &i, "--texts", &v)) != 0) {
            if (r < 0)
                rc = 2;
            else if (n_files == (int)(sizeof texts_files / sizeof texts_files[0]))
                rc = cmd_usage_error("tokenize", "more than 16 --texts files");
            else
                texts_files[n_files++] = v;
        } else {
            rc = cmd_usage_error("tokenize", "unknown option \"%s\" (put \"--\" before a text that starts with -)",
                                 argv[i]);
        }
    }
    if (rc == 0 && !model && !vocab)
        rc = cmd_usage_error("tokenize", "give --model MODEL or --vocab FILE (the tokenizer's vocabulary)");
    if (rc == 0 && model && vocab)
        rc = cmd_usage_error("tokenize", "give --model or --vocab, not both");
    if (rc == 0 && (model && !*model))
        rc = cmd_usage_error("tokenize", "--model is empty");
    if (rc == 0 && (vocab && !*vocab))
        rc = cmd_usage_error("tokenize", "--vocab is empty");
    if (rc == 0 && n_files == 0 && l.n == 0)
        rc = cmd_usage_error("tokenize", "no texts: give TEXT arguments or --texts FILE");
    /* File texts come first: move the arguments behind them. */
    text_list all = {0};
    for (int f = 0; f < n_files && rc == 0; f++)
        rc = read_texts(texts_files[f], &all);
    for (size_t i = 0; i < l.n && rc == 0; i++)
        rc = texts_push(&all, l.v[i].text, strlen(l.v[i].text), NULL, 0);
    texts_free(&l);
    spm_clean how = SPM_CLEAN_NONE;
    if (rc == 0 && clean && spm_clean_from_name(clean, &how) != CC_OK)
        rc = cmd_usage_error("tokenize", "--clean %s: expected canonicalize, lower, whitespace or none", clean);
    any_tokenizer tok = {0};
    if (rc == 0)
        rc = load_tokenizer(model, vocab, &tok);
    if (rc == 0 && clean && !tok.spm)
        rc = cmd_usage_error("tokenize", "--clean applies to a SentencePiece tokenizer; CLIP's BPE cleans as open_clip does");
    if (rc == 0 && clean)
        spm_set_clean(tok.spm, how);
    size_t context = TOK_CONTEXT_LENGTH;
    if (rc == 0)
        rc = model_context(model, tok.spm ? SPM_CONTEXT_LENGTH : TOK_CONTEXT_LENGTH, &context);
    if (rc == 0)
        rc = tokenize_all(&tok, &all, context);
    any_free(&tok);
    texts_free(&all);
    return rc;
}
