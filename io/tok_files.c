/* Tokenizer files others read with clipcl's ids: tokenizer_config.json for
 * transformers, merges.txt without the final newline OpenAI's loader would read
 * as an empty merge. */
#include "io/tok_files.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/atomic_file.h"
#include "runtime/status.h"

static int write_all(const char *path, const char *s, size_t n)
{
    io_atomic a;
    int rc = io_atomic_open(&a, path);
    if (rc)
        return rc;
    if ((rc = io_atomic_write(&a, s, n))) {
        io_atomic_abort(&a);
        return rc;
    }
    return io_atomic_commit(&a);
}

int tok_write_hf_config(const char *dir, int context_length)
{
    if (!dir || !*dir || context_length < 2)
        return cc_fail(CC_ERR_INVALID, "tokenizer_config.json: a directory and a context of at "
                                       "least 2 are needed (got %d)", context_length);
    char path[4200], text[1024];
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    /* Padding is <|endoftext|> (transformers' CLIP default), not open_clip's 0: a pad
     * token "!" (id 0, as some hub files have) becomes an added token that also
     * swallows every "!" of the text ("!!" -> 0 0 instead of "!" "!</w>"). With
     * argmax pooling over a causal mask the padding after the first <|endoftext|>
     * changes no feature. */
    int n = snprintf(text, sizeof text,
                     "{\n"
                     "  \"tokenizer_class\": \"CLIPTokenizer\",\n"
                     "  \"model_max_length\": %d,\n"
                     "  \"bos_token\": \"<|startoftext|>\",\n"
                     "  \"eos_token\": \"<|endoftext|>\",\n"
                     "  \"unk_token\": \"<|endoftext|>\",\n"
                     "  \"pad_token\": \"<|endoftext|>\",\n"
                     "  \"clean_up_tokenization_spaces\": false\n"
                     "}\n",
                     context_length);
    return write_all(path, text, (size_t)n);
}

int tok_copy_merges(const char *src, const char *dst)
{
    FILE *f = fopen(src, "rb");
    if (!f)
        return cc_fail(CC_ERR_IO, "cannot read '%s'", src);
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = CC_OK;
    for (;;) {
        if (len == cap) {
            size_t nc = cap ? cap * 2 : 65536;
            char *nb = realloc(buf, nc);
            if (!nb) {
                rc = cc_fail(CC_ERR_NOMEM, "out of memory reading '%s'", src);
                break;
            }
            buf = nb;
            cap = nc;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f))
                rc = cc_fail(CC_ERR_IO, "cannot read '%s'", src);
            break;
        }
    }
    fclose(f);
    while (rc == CC_OK && len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        len--;
    if (rc == CC_OK)
        rc = write_all(dst, buf ? buf : "", len);
    free(buf);
    return rc;
}

static int is_file(const char *dir, const char *name)
{
    char p[4200];
    struct stat s;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &s) == 0 && S_ISREG(s.st_mode);
}

int tok_dir_is_clip_bpe(const char *dir)
{
    if (!dir || !is_file(dir, "vocab.json") || !is_file(dir, "merges.txt") ||
        !is_file(dir, "tokenizer_config.json"))
        return 0;
    char p[4200];
    snprintf(p, sizeof p, "%s/tokenizer_config.json", dir);
    struct json_object *root = json_object_from_file(p), *cls = NULL;
    int yes = root && json_object_object_get_ex(root, "tokenizer_class", &cls) &&
              json_object_is_type(cls, json_type_string) &&
              (strcmp(json_object_get_string(cls), "CLIPTokenizer") == 0 ||
               strcmp(json_object_get_string(cls), "CLIPTokenizerFast") == 0);
    json_object_put(root);
    return yes;
}
