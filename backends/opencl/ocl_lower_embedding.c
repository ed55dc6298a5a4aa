/* ocl_lower_embedding.c: to be written */
