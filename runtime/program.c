/* runtime/program.c: to be written */
