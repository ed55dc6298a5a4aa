/* ref_reduce.c: to be written */
