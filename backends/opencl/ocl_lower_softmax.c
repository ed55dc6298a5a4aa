/* ocl_lower_softmax.c: to be written */
