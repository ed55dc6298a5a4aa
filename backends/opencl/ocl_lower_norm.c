/* ocl_lower_norm.c: to be written */
