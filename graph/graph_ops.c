/* graph/graph_ops.c: to be written */
