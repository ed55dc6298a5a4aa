/* ocl_lower_conv.c: to be written */
