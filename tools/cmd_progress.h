/* The `clipcl` tool's progress bars (runtime/progress.h) go to stderr, and
 * only when stderr is a terminal, so redirected logs and CI output stay
 * clean; CLIPCL_PROGRESS=0 turns them off on a terminal too. */
#ifndef CLIPCL_TOOLS_CMD_PROGRESS_H
#define CLIPCL_TOOLS_CMD_PROGRESS_H

#include <stdint.h>

#include "runtime/progress.h"

/* The stderr sink when a bar should be drawn, else NULL. */
const progress_sink *cmd_progress_sink(void);
/* progress_start with cmd_progress_sink(). */
void cmd_progress_start(progress *p, const char *label, const char *unit, int64_t total);

#endif
