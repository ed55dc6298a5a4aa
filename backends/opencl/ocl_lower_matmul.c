/* ocl_lower_matmul.c: to be written */
