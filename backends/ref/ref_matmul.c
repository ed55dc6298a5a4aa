/* ref_matmul.c: to be written */
