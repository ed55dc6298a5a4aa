/* io/npy.c: to be written */
