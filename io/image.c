/* io/image.c: to be written */
