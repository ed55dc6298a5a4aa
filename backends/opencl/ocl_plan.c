/* ocl_plan.c: to be written */
