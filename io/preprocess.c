/* io/preprocess.c: to be written */
