/* File-system helpers every layer needs (the program cache, the tuning and
 * self-check caches, the writers in io/ and tools/). */
#ifndef CLIPCL_RUNTIME_FS_H
#define CLIPCL_RUNTIME_FS_H

/* Creates dir and every missing parent (mode 0777 before the umask), like
 * `mkdir -p`. CC_OK, or a cc_fail naming the folder that could not be made
 * (or that exists and is not a folder). */
int rt_make_dirs(const char *dir);

#endif
