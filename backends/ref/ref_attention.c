/* ref_attention.c: to be written */
