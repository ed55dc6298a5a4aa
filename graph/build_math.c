/* graph/build_math.c: to be written */
