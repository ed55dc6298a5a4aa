/* Atomic file replacement shared by the io writers (.npy, safetensors).
 *
 * A writer opens a temporary file in the destination's directory, writes,
 * then commits: flush + fsync + rename over the destination + fsync of the
 * directory. A crash at any point leaves either the old file or the new one,
 * never half of one. Abort removes the temporary. */
#ifndef CLIPCL_IO_ATOMIC_FILE_H
#define CLIPCL_IO_ATOMIC_FILE_H

#include <stddef.h>
#include <stdio.h>

typedef struct io_atomic {
    FILE *fp;
    char *tmp_path;   /* owned */
    char *path;       /* owned copy of the destination */
} io_atomic;

/* Returns CC_OK and an open stream in a->fp, or a cc_code with the message. */
int io_atomic_open(io_atomic *a, const char *path);
/* Writes n bytes; on a short write records an error naming the file. */
int io_atomic_write(io_atomic *a, const void *buf, size_t n);
/* Flushes, syncs and renames; on failure the temporary is removed. */
int io_atomic_commit(io_atomic *a);
/* Closes and removes the temporary (safe to call after a failed commit). */
void io_atomic_abort(io_atomic *a);

/* For an open file that is refused as data: "is a directory" (the common
 * slip) or "not a regular file". */
const char *io_not_regular(int fd);

#endif
