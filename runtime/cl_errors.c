/* runtime/cl_errors.c: to be written */
