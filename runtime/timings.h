/* Wall time of the phases of a run, for the cold-start breakdown
 * (CLIPCL_TIMINGS=1, printed by the tool at exit; bench/run_cold_start.sh).
 * Library code records, never prints: a phase is a (name, detail) pair whose
 * seconds and count add up over the process. Thread-safe; recording is a
 * no-op unless the setting is on, so it costs nothing by default. */
#ifndef CLIPCL_RUNTIME_TIMINGS_H
#define CLIPCL_RUNTIME_TIMINGS_H

/* 1 when CLIPCL_TIMINGS is set to a value other than "0" or "". */
int rt_timings_on(void);
/* Adds seconds to the phase (name, detail); detail may be NULL. Names and
 * details longer than the table keeps are cut. */
void rt_timing_add(const char *name, const char *detail, double seconds);

typedef struct rt_timing_row {
    char name[48];
    char detail[160];
    double seconds;
    int count;
} rt_timing_row;

/* The rows recorded so far, in first-recorded order; returns their count. */
int rt_timing_rows(rt_timing_row *rows, int max);

#endif
