/* A one-line progress bar for long batches:
 *
 *   preprocess  120/500 [#########..................]  35.2 img/s  ETA 0:10
 *
 * This part keeps the count, the clock and the text, and redraws at most ~10
 * times a second with carriage returns. It never writes anywhere itself: the
 * caller passes a sink (the `clipcl` tool's writes to stderr when that is a
 * terminal, tools/cmd_progress.c), or NULL for a bar that stays silent. */
#ifndef CLIPCL_RUNTIME_PROGRESS_H
#define CLIPCL_RUNTIME_PROGRESS_H

#include <stddef.h>
#include <stdint.h>

/* Where a bar goes: write() gets text to show as is ("\r", the line, blanks,
 * "\n") and should show it at once; width() says how many columns there are. */
typedef struct progress_sink {
    void (*write)(void *user, const char *text);
    int (*width)(void *user);
    void *user;
} progress_sink;

typedef struct progress {
    const progress_sink *sink; /* not owned; NULL: silent */
    int enabled;        /* a sink was given and the bar is not finished */
    int drawn;          /* a line is on screen (needs clearing before other output) */
    const char *label;  /* not owned */
    const char *unit;   /* "img", "text", ... (not owned) */
    int64_t total;
    int64_t done;
    double t_start;     /* seconds, monotonic clock */
    double t_drawn;     /* last redraw */
    int last_len;       /* characters of the last line, to blank leftovers */
} progress;

/* Starts a bar for `total` items, drawn through sink (NULL: never drawn);
 * label, unit and sink must outlive the bar. */
void progress_start(progress *p, const char *label, const char *unit, int64_t total,
                    const progress_sink *sink);
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
