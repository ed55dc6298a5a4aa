/* attention.cl: to be written */
