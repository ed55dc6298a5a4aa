/* ref_eval.c: to be written */
