/* The one clock of the project: monotonic wall time in seconds, for timing
 * (benchmarks, autotuning, training logs, progress rates). Never the time of
 * day: it does not jump when the system clock is set. */
#ifndef CLIPCL_RUNTIME_CLOCK_H
#define CLIPCL_RUNTIME_CLOCK_H

/* Seconds since an arbitrary fixed point (CLOCK_MONOTONIC). */
double cc_now_s(void);

#endif
