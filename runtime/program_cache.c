/* runtime/program_cache.c: to be written */
