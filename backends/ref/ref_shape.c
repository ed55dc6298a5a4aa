/* ref_shape.c: to be written */
