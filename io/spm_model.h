/* The SentencePiece model itself (pieces, scores, normaliser, unigram/BPE
 * segmentation) through Debian's libsentencepiece, behind a C interface so that
 * the rest of io/ stays C11. Only io/spm_model.cc includes the library's C++
 * header; io/spm_tokenizer.c adds what Hugging Face's and open_clip's SigLIP
 * tokenizers do around it (docs/tokenizer.md). */
#ifndef CLIPCL_IO_SPM_MODEL_H
#define CLIPCL_IO_SPM_MODEL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct spm_model spm_model;

/* Pieces of one encoding: piece i is the NUL-terminated text at buf + off[i]
 * (its surface form for an unknown piece, as the library reports it) and its id
 * is ids[i] (the unknown id for such a piece). */
typedef struct spm_pieces {
    char *buf;
    size_t *off;
    int32_t *ids;
    size_t n;
} spm_pieces;

/* A serialized ModelProto: a `spiece.model` file, or bytes built in memory. */
int spm_model_load_file(const char *path, spm_model **out);
int spm_model_load_proto(const void *bytes, size_t n, const char *what, spm_model **out);
void spm_model_free(spm_model *m);

int32_t spm_model_size(const spm_model *m);
/* The ids the model was trained with (-1 when it has none). */
int32_t spm_model_unk_id(const spm_model *m);
int32_t spm_model_eos_id(const spm_model *m);
int32_t spm_model_pad_id(const spm_model *m);
/* The id of a piece, the unknown id when there is no such piece. */
int32_t spm_model_piece_to_id(const spm_model *m, const char *piece);
/* The piece of an id (malloc'd); CC_ERR_INVALID outside [0, size). */
int spm_model_id_to_piece(const spm_model *m, int32_t id, char **piece);

/* Normalises and segments text[0..len) (the model's own normaliser, dummy prefix
 * included); out is filled (free with spm_pieces_free). */
int spm_model_encode(const spm_model *m, const char *text, size_t len, spm_pieces *out);
void spm_pieces_free(spm_pieces *p);

/* The text of ids as the library decodes it (malloc'd). */
int spm_model_decode(const spm_model *m, const int32_t *ids, size_t n, char **text);

#ifdef __cplusplus
}
#endif

#endif
