/* The loaded model behind include/clipcl.h's opaque clipcl_model, shared by
 * the public API's files (models/clip_api*.c) and by nothing else. */
#ifndef CLIPCL_MODELS_CLIP_API_INTERNAL_H
#define CLIPCL_MODELS_CLIP_API_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "clipcl.h"
#include "backends/backend.h"
#include "io/spm_tokenizer.h"
#include "io/tokenizer.h"
#include "models/clip.h"

/* One built tower for a fixed batch, with its plan. */
typedef struct api_tower {
    clip_tower *t;
    backend_plan *plan;
    void **slots;          /* the input, params and host inputs bind fills */
    int batch;
    int runs;              /* runs so far (the first one packs weights) */
} api_tower;

struct clipcl_model {
    clip_model *m;
    backend *be;
    tok_tokenizer *tok;    /* CLIP's BPE, loaded at the first text */
    spm_tokenizer *spm;    /* or SentencePiece (SigLIP), when the model dir has one */
    char dir[1024];        /* where tokenizer files are looked for */
    char weights[1024];
    char vocab[1024];      /* the tokenizer file used or to use; "" if none */
    int max_batch;
    api_tower tower[2];    /* [0] image, [1] text */
    float *pad;            /* input rows padded to a plan's batch */
    char notes[2048];      /* clipcl_load_notes: lines for the user, "" if none */
    size_t pad_bytes;
    /* Held by every call that reads or changes the fields above after load
     * (the towers, their plans and the device queue, the tokenizer and its
     * word cache, the padding buffer, vocab, max_batch): one model may be
     * used from several threads (include/clipcl.h, "Threads"). */
    pthread_mutex_t lock;
};

/* The model's lock (the getters take a const model: the lock is the one
 * field they change). */
void clip_api_lock(const clipcl_model *cm);
void clip_api_unlock(const clipcl_model *cm);

typedef int (*clip_api_tok_fn)(clipcl_model *cm, int context, void *arg);

/* Calls fn with the model's tokenizer loaded (at its first use) and its
 * context length, while no other call uses that tokenizer: the BPE's word
 * cache makes it single-threaded (io/tokenizer.h). fn encodes with
 * clip_api_encode_text. Returns fn's status, or the load's. */
int clip_api_with_tokenizer(clipcl_model *cm, clip_api_tok_fn fn, void *arg);

/* The ids the text tower sees for one text ([T]), with whichever tokenizer
 * the model uses; only inside clip_api_with_tokenizer. *truncated as in
 * tok_encode_ctx. */
int clip_api_encode_text(clipcl_model *cm, const char *text, int32_t *ids, size_t T,
                         int *truncated);

/* clipcl_load with CLIPCL_LOAD_* flags (clipcl_load_opts). */
int clip_api_load(const char *model, const char *device, int flags, clipcl_model **out);
/* Appends to cm->notes what a model without a config file was assumed to be. */
void clip_api_note_assumptions(clipcl_model *cm, const char *model);
/* CC_OK when texts can be tokenized for the text tower: it is supported and
 * uses CLIP's BPE (not another tokenizer, hf_tokenizer_name); else the error. */
int clip_api_text_tokenizer_ok(const clipcl_model *cm);

#endif
