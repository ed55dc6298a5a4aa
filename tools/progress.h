/* A one-line progress bar for long batches in the `clipcl` tool:
 *
 *   preprocess  120/500 [#########..................]  35.2 img/s  ETA 0:10
 *
 * Drawn on stderr with carriage returns, at most ~10 times a second, and only
 * when stderr is a terminal, so redirected logs and CI output stay clean.
 * CLIPCL_PROGRESS=0 turns it off on a terminal too. */
#ifndef CLIPCL_TOOLS_PROGRESS_H
#define CLIPCL_TOOLS_PROGRESS_H

#include <stddef.h>
#include <stdint.h>

typedef struct progress {
    int enabled;        /* stderr is a terminal and not turned off */
    int drawn;          /* a line is on screen (needs clearing before other output) */
    const char *label;  /* not owned */
    const char *unit;   /* "img", "text", ... (not owned) */
    int64_t total;
    int64_t done;
    double t_start;     /* seconds, monotonic clock */
    double t_drawn;     /* last redraw */
    int last_len;       /* characters of the last line, to blank leftovers */
} progress;

/* Starts a bar for `total` items; label and unit must outlive the bar. */
void progress_start(progress *p, const char *label, const char *unit, int64_t total);
/* Records that `done` items are finished; redraws if ~0.1 s have passed. */
void progress_update(progress *p, int64_t done);
/* Erases the bar so a message can be printed; the next update redraws it. */
void progress_clear(progress *p);
/* Draws the final state and ends the line (nothing if never enabled). */
void progress_finish(progress *p);
/* Leaves the line empty: for an error path, where the bar is just noise. */
void progress_abort(progress *p);

/* The bar's text for the given state, at most `width` - 1 characters, into
 * buf (NUL-terminated). Pure, so tests can check it. Returns the length. */
int progress_format(char *buf, size_t cap, int width, const char *label, const char *unit,
                    int64_t done, int64_t total, double elapsed_s);

#endif
