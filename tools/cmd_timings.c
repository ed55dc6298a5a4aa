/* CLIPCL_TIMINGS=1: the phases the library recorded (runtime/timings.h),
 * printed on stderr when the command ends, after the time from the
 * process's start to main() (exec, dynamic loading) and the total. */
#include "tools/cmd.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "runtime/clock.h"
#include "runtime/timings.h"

/* Seconds from the process's creation to now, by /proc/self/stat's start
 * time (clock ticks since boot) against CLOCK_BOOTTIME; -1 where unknown. */
static double since_process_start(void)
{
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f)
        return -1.0;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* field 22, counted after the ")" that closes the command name */
    char *p = buf + n;
    while (p > buf && *p != ')')
        p--;
    unsigned long long start = 0;
    /* state, then fields 4..21; starttime is field 22 */
    if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
               &start) != 1)
        return -1.0;
    long hz = sysconf(_SC_CLK_TCK);
    struct timespec ts;
    if (hz <= 0 || clock_gettime(CLOCK_BOOTTIME, &ts) != 0)
        return -1.0;
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9 - (double)start / (double)hz;
}

static double main_t0 = -1.0, to_main = -1.0;

void cmd_timings_start(void)
{
    if (!rt_timings_on())
        return;
    to_main = since_process_start();
    main_t0 = cc_now_s();
}

void cmd_timings_print(void)
{
    if (main_t0 < 0)
        return;
    double total = cc_now_s() - main_t0;
    rt_timing_row rows[128];
    int n = rt_timing_rows(rows, 128);
    fprintf(stderr, "clipcl timings (wall seconds):\n");
    if (to_main >= 0)
        fprintf(stderr, "  %8.3f       process start to main (exec, shared libraries)\n", to_main);
    for (int i = 0; i < n; i++)
        fprintf(stderr, "  %8.3f %4dx  %s%s%s\n", rows[i].seconds, rows[i].count, rows[i].name,
                rows[i].detail[0] ? ": " : "", rows[i].detail);
    fprintf(stderr, "  %8.3f       main to exit\n", total);
}
