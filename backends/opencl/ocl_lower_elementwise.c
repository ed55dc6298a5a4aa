/* ocl_lower_elementwise.c: to be written */
