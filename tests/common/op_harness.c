/* op_harness.c: to be written */
