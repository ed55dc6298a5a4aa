/* graph/graph.c: to be written */
