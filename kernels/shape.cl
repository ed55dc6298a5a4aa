/* shape.cl: to be written */
