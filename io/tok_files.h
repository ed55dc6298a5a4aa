/* Tokenizer files that other CLIP tokenizers read with exactly clipcl's ids.
 *
 * OpenAI's SimpleTokenizer (and open_clip's copy) split merges.txt on '\n' and
 * keep lines [1, 48895): a final newline would be an empty merge whose
 * vocabulary slot shifts <|startoftext|> / <|endoftext|> one id up. Hugging
 * Face's AutoTokenizer / CLIPTokenizer.from_pretrained(dir) need
 * tokenizer_config.json to know the class, and open_clip's
 * get_tokenizer('local-dir:DIR') loads that through transformers when the
 * model config names an hf_tokenizer_name (see docs/tokenizer.md). */
#ifndef CLIPCL_IO_TOK_FILES_H
#define CLIPCL_IO_TOK_FILES_H

/* The value written as text_cfg.hf_tokenizer_name for a vocabulary that lives
 * beside the model (open_clip's local-dir loader reads it from the directory
 * and only checks that the name is not empty). */
#define TOK_HF_TOKENIZER_NAME "CLIPTokenizer"

/* Writes DIR/tokenizer_config.json (replaced atomically): CLIPTokenizer, the
 * special tokens (<|endoftext|> pads, as in transformers' CLIP files) and
 * model_max_length = context_length. DIR must exist. */
int tok_write_hf_config(const char *dir, int context_length);

/* Copies a merges file from src to dst (atomically) without its trailing line
 * ends, so files written before that rule read the same in every loader. */
int tok_copy_merges(const char *src, const char *dst);

/* 1 when dir holds vocab.json + merges.txt and a tokenizer_config.json whose
 * tokenizer_class is CLIPTokenizer: a vocabulary clipcl's CLIP BPE encodes
 * with the ids transformers gives. 0 otherwise (no error is recorded). */
int tok_dir_is_clip_bpe(const char *dir);

#endif
