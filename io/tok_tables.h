/* Internal to the tokenizer (io/tok_*.c, io/tokenizer*.c): the generated Unicode and
 * HTML tables (io/tok_unicode.c, io/tok_entities.c, made by
 * tests/reference/make_tok_tables.py) and the helpers shared between the files. */
#ifndef CLIPCL_IO_TOK_TABLES_H
#define CLIPCL_IO_TOK_TABLES_H

#include <stddef.h>
#include <stdint.h>

typedef struct tok_lower_run { uint32_t first, last; int32_t delta, stride; } tok_lower_run;
typedef struct tok_compose { uint32_t first, second, composite; } tok_compose;
typedef struct tok_charfix { uint32_t cp; const char *utf8; } tok_charfix;
typedef struct tok_entity { const char *name; const char *utf8; int flags; } tok_entity;

enum { TOK_ENT_HTML = 1, TOK_ENT_FTFY = 2 };

extern const tok_lower_run tok_lower_runs[];
extern const size_t tok_lower_runs_n;
extern const tok_compose tok_compositions[];
extern const size_t tok_compositions_n;
extern const uint32_t tok_spaces[];
extern const size_t tok_spaces_n;
extern const tok_charfix tok_charfixes[];
extern const size_t tok_charfixes_n;
extern const tok_entity tok_entities[];
extern const size_t tok_entities_n;
extern const tok_charfix tok_invalid_charrefs[];
extern const size_t tok_invalid_charrefs_n;
extern const uint32_t tok_invalid_codepoints[];
extern const size_t tok_invalid_codepoints_n;

/* A growable UTF-32 string. */
typedef struct tok_u32 { uint32_t *v; size_t n, cap; } tok_u32;

int tok_u32_push(tok_u32 *s, uint32_t c);
/* Appends the code points of a NUL-terminated UTF-8 string known to be valid. */
int tok_u32_push_utf8(tok_u32 *s, const char *utf8);
void tok_u32_free(tok_u32 *s);

/* Decodes UTF-8; fails with CC_ERR_INVALID naming the byte offset of bad input. */
int tok_utf8_decode(const char *s, size_t len, tok_u32 *out);
/* Encodes to a malloc'd NUL-terminated UTF-8 string. */
int tok_utf8_encode(const uint32_t *v, size_t n, char **out, size_t *out_len);

/* Table look-ups (io/tok_unicode_ops.c). */
int tok_is_space(uint32_t c);
uint32_t tok_lower1(uint32_t c);
const char *tok_charfix_lookup(uint32_t c);
uint32_t tok_compose_pair(uint32_t a, uint32_t b); /* 0 when the pair does not compose */
const tok_entity *tok_entity_lookup(const char *name, size_t len);

/* Cleaning stages (io/tok_clean.c, io/tok_html.c); each replaces *s. */
int tok_html_unescape(tok_u32 *s);      /* Python's html.unescape */
int tok_ftfy_unescape(tok_u32 *s);      /* ftfy's unescape_html */
int tok_lower_python(const tok_u32 *s, tok_u32 *out); /* Python's str.lower() into out */

#endif
