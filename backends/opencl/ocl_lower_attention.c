/* ocl_lower_attention.c: to be written */
