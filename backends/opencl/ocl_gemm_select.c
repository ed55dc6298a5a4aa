/* ocl_gemm_select.c: to be written */
