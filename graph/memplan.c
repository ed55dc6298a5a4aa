/* graph/memplan.c: to be written */
