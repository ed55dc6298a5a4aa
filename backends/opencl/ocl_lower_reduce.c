/* ocl_lower_reduce.c: to be written */
