/* The terminal side of the tool's progress bars (tools/cmd_progress.h). */
#include "tools/cmd_progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "runtime/settings.h"

static void stderr_write(void *user, const char *text)
{
    (void)user;
    fputs(text, stderr);
    fflush(stderr);
}

static int stderr_width(void *user)
{
    (void)user;
    struct winsize ws;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    const char *c = getenv("COLUMNS");
    int w = c ? atoi(c) : 0;
    return w > 0 ? w : 80;
}

static const progress_sink stderr_sink = {stderr_write, stderr_width, NULL};

const progress_sink *cmd_progress_sink(void)
{
    const char *env = rt_setting_value(RT_SET_PROGRESS);
    int on = isatty(STDERR_FILENO) && !(env && strcmp(env, "0") == 0);
    return on ? &stderr_sink : NULL;
}

void cmd_progress_start(progress *p, const char *label, const char *unit, int64_t total)
{
    progress_start(p, label, unit, total, cmd_progress_sink());
}
