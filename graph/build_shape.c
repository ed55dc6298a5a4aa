/* graph/build_shape.c: to be written */
