/* runtime/kernel_source.c: to be written */
