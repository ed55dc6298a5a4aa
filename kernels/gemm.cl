/* gemm.cl: to be written */
