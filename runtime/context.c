/* runtime/context.c: to be written */
