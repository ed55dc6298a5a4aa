/* clipcl_tokenize (include/clipcl.h): the ids clipcl_encode_texts would
 * feed the text tower, for callers that inspect them, store them, or encode
 * them later with clipcl_encode_token_ids. */
#include "clipcl.h"

#include <stddef.h>

#include "models/clip_api_internal.h"
#include "runtime/status.h"

typedef struct tok_job {
    const char *const *texts;
    int n;
    int32_t *ids;
    int truncated;
} tok_job;

static int tokenize_rows(clipcl_model *cm, int context, void *arg)
{
    tok_job *j = arg;
    size_t T = (size_t)context;
    for (int i = 0; i < j->n; i++) {
        int tr = 0;
        if (!j->texts[i])
            return cc_fail(CC_ERR_INVALID, "tokenize: text %d is NULL", i);
        int rc = clip_api_encode_text(cm, j->texts[i], j->ids + (size_t)i * T, T, &tr);
        if (rc)
            return rc;
        j->truncated += tr;
    }
    return CC_OK;
}

int clipcl_tokenize(clipcl_model *m, const char *const *texts, int n, int32_t *ids,
                    int *n_truncated)
{
    if (n_truncated)
        *n_truncated = 0;
    if (!m || !texts || !ids)
        return cc_fail(CC_ERR_INVALID, "tokenize: NULL argument");
    if (n < 1)
        return cc_fail(CC_ERR_INVALID, "tokenize: %d texts: expected at least 1", n);
    tok_job j = {texts, n, ids, 0};
    int rc = clip_api_with_tokenizer(m, tokenize_rows, &j);
    if (n_truncated)
        *n_truncated = j.truncated;
    return rc;
}
