/* ref_conv.c: to be written */
