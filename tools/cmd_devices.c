/* cmd_devices.c */
