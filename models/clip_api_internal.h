/* What the public API's other files (models/clip_api_*.c) need from the
 * model that models/clip_api.c keeps private. */
#ifndef CLIPCL_MODELS_CLIP_API_INTERNAL_H
#define CLIPCL_MODELS_CLIP_API_INTERNAL_H

#include <stdint.h>

#include "clipcl.h"
#include "io/tokenizer.h"

typedef int (*clip_api_tok_fn)(tok_tokenizer *tok, int context, void *arg);

/* Calls fn with the model's tokenizer (loaded at its first use) and context
 * length, while no other call uses that tokenizer: its word cache makes it
 * single-threaded (io/tokenizer.h). Returns fn's status, or the load's. */
int clip_api_with_tokenizer(clipcl_model *cm, clip_api_tok_fn fn, void *arg);

#endif
