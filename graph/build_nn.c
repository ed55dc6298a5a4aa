/* graph/build_nn.c: to be written */
