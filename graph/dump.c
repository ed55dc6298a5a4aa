/* graph/dump.c: to be written */
