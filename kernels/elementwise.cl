/* elementwise.cl: to be written */
