/* Terminal progress bar (see tools/progress.h). */
#include "tools/progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include "runtime/settings.h"

/* A redraw costs a write(2) per call on unbuffered stderr; 10 per second is
 * smooth to the eye and invisible in the profile. */
#define REDRAW_INTERVAL_S 0.1
#define MIN_BAR 10

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int terminal_width(void)
{
    struct winsize ws;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    const char *c = getenv("COLUMNS");
    int w = c ? atoi(c) : 0;
    return w > 0 ? w : 80;
}

static void format_duration(char *buf, size_t cap, double s)
{
    if (s < 0)
        s = 0;
    if (s >= 100.0 * 3600.0) {
        snprintf(buf, cap, ">99h");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, cap, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, cap, "%ld:%02ld", t / 60, t % 60);
}

static void format_rate(char *buf, size_t cap, double rate, const char *unit)
{
    if (rate <= 0)
        snprintf(buf, cap, "-- %s/s", unit);
    else if (rate < 10)
        snprintf(buf, cap, "%.2f %s/s", rate, unit);
    else if (rate < 100)
        snprintf(buf, cap, "%.1f %s/s", rate, unit);
    else
        snprintf(buf, cap, "%.0f %s/s", rate, unit);
}

int progress_format(char *buf, size_t cap, int width, const char *label, const char *unit,
                    int64_t done, int64_t total, double elapsed_s)
{
    if (!buf || cap == 0)
        return 0;
    if (total < 0)
        total = 0;
    if (done < 0)
        done = 0;
    if (done > total)
        done = total;
    int limit = width - 1; /* the last column would wrap on some terminals */
    if (limit < 0)
        limit = 0;
    if ((size_t)limit > cap - 1)
        limit = (int)(cap - 1);

    double rate = (done > 0 && elapsed_s > 0) ? (double)done / elapsed_s : 0.0;
    char rs[48], ts[32], tail[96];
    format_rate(rs, sizeof rs, rate, unit ? unit : "it");
    if (done == total) {
        format_duration(ts, sizeof ts, elapsed_s);
        snprintf(tail, sizeof tail, "  %s  done in %s", rs, ts);
    } else if (rate > 0) {
        format_duration(ts, sizeof ts, (double)(total - done) / rate);
        snprintf(tail, sizeof tail, "  %s  ETA %s", rs, ts);
    } else {
        snprintf(tail, sizeof tail, "  %s  ETA --:--", rs);
    }
    int pct = total > 0 ? (int)(done * 100 / total) : 100;
    char head[160];
    snprintf(head, sizeof head, "%s%s%lld/%lld", label ? label : "", label && *label ? "  " : "",
             (long long)done, (long long)total);
    char pcts[8];
    snprintf(pcts, sizeof pcts, " %3d%%", pct);

    int hl = (int)strlen(head), pl = (int)strlen(pcts), tl = (int)strlen(tail);
    int bar = limit - hl - 3 - pl - tl; /* " [" + "]" around the bar */
    char line[1024];
    if (bar >= MIN_BAR) {
        int fill = total > 0 ? (int)((double)bar * (double)done / (double)total) : bar;
        int n = snprintf(line, sizeof line, "%s [", head);
        for (int i = 0; i < bar && n < (int)sizeof line - 1; i++)
            line[n++] = i < fill ? '#' : '.';
        snprintf(line + n, sizeof line - (size_t)n, "]%s%s", pcts, tail);
    } else {
        /* Too narrow for a bar: keep the numbers, drop what does not fit. */
        snprintf(line, sizeof line, "%s%s%s", head, pcts, tail);
    }
    int len = (int)strlen(line);
    if (len > limit)
        len = limit;
    memcpy(buf, line, (size_t)len);
    buf[len] = '\0';
    return len;
}

static void draw(progress *p, double t)
{
    char line[512];
    int len = progress_format(line, sizeof line, terminal_width(), p->label, p->unit, p->done,
                              p->total, t - p->t_start);
    /* Blank what a longer previous line left (the rate can shrink a digit). */
    int pad = p->last_len > len ? p->last_len - len : 0;
    fprintf(stderr, "\r%s%*s", line, pad, "");
    if (pad)
        fprintf(stderr, "\r%s", line);
    fflush(stderr);
    p->last_len = len;
    p->drawn = 1;
    p->t_drawn = t;
}

void progress_start(progress *p, const char *label, const char *unit, int64_t total)
{
    memset(p, 0, sizeof *p);
    p->label = label;
    p->unit = unit;
    p->total = total < 0 ? 0 : total;
    const char *env = rt_setting_value(RT_SET_PROGRESS);
    p->enabled = isatty(STDERR_FILENO) && !(env && strcmp(env, "0") == 0);
    p->t_start = now_s();
    /* The first draw waits one interval: batches that finish sooner only get
     * the final line. */
    p->t_drawn = p->t_start;
}

void progress_update(progress *p, int64_t done)
{
    p->done = done;
    if (!p->enabled)
        return;
    double t = now_s();
    if (t - p->t_drawn >= REDRAW_INTERVAL_S)
        draw(p, t);
}

void progress_clear(progress *p)
{
    if (!p->enabled || !p->drawn)
        return;
    fprintf(stderr, "\r%*s\r", p->last_len, "");
    fflush(stderr);
    p->drawn = 0;
    p->last_len = 0;
}

void progress_finish(progress *p)
{
    if (!p->enabled)
        return;
    draw(p, now_s());
    fputc('\n', stderr);
    fflush(stderr);
    p->enabled = 0;
    p->drawn = 0;
}

void progress_abort(progress *p)
{
    progress_clear(p);
    p->enabled = 0;
}
