/* reduce.cl: to be written */
