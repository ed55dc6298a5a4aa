/* io/tokenizer.c: to be written */
