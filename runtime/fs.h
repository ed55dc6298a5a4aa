/* File-system helpers every layer needs (the program cache, the tuning and
 * self-check caches, the writers in io/ and tools/). */
#ifndef CLIPCL_RUNTIME_FS_H
#define CLIPCL_RUNTIME_FS_H

/* Creates dir and every missing parent (mode 0777 before the umask), like
 * `mkdir -p`. CC_OK, or a cc_fail naming the folder that could not be made
 * (or that exists and is not a folder). */
int rt_make_dirs(const char *dir);

/* dir + "/" + name (no doubled slash), malloc'd; NULL when out of memory. */
char *rt_path_join(const char *dir, const char *name);

/* The folder part of a file path, malloc'd: "." when it has none, "/" for a
 * file in the root; NULL when out of memory. */
char *rt_path_dir(const char *file);

#endif
