/* io/tokenizer_bpe.c: to be written */
