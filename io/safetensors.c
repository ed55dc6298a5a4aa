/* io/safetensors.c: to be written */
