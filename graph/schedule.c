/* graph/schedule.c: to be written */
