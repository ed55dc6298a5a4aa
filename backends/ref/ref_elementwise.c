/* ref_elementwise.c: to be written */
