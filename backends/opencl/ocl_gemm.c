/* ocl_gemm.c: to be written */
