/* ref_norm.c: to be written */
