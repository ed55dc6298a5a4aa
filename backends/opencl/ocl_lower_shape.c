/* ocl_lower_shape.c: to be written */
