/* runtime/device.c: to be written */
