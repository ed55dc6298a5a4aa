/* See timings.h. A fixed table: a run has a few dozen phases (one per
 * distinct kernel program); later ones are folded into one "other" row. */
#include "runtime/timings.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include "runtime/settings.h"

#define MAX_ROWS 128

static rt_timing_row rows_tab[MAX_ROWS];
static int n_rows;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

int rt_timings_on(void)
{
    const char *v = rt_setting_value(RT_SET_TIMINGS);
    return v && v[0] && strcmp(v, "0") != 0;
}

void rt_timing_add(const char *name, const char *detail, double seconds)
{
    if (!rt_timings_on() || !name)
        return;
    if (!detail)
        detail = "";
    pthread_mutex_lock(&lock);
    int i = 0;
    for (; i < n_rows; i++)
        if (strncmp(rows_tab[i].name, name, sizeof rows_tab[i].name - 1) == 0 &&
            strncmp(rows_tab[i].detail, detail, sizeof rows_tab[i].detail - 1) == 0)
            break;
    if (i == n_rows) {
        if (n_rows == MAX_ROWS) {
            i = MAX_ROWS - 1; /* the last row collects the overflow */
            snprintf(rows_tab[i].detail, sizeof rows_tab[i].detail, "(other phases)");
        } else {
            n_rows++;
            snprintf(rows_tab[i].name, sizeof rows_tab[i].name, "%s", name);
            snprintf(rows_tab[i].detail, sizeof rows_tab[i].detail, "%s", detail);
        }
    }
    rows_tab[i].seconds += seconds;
    rows_tab[i].count++;
    pthread_mutex_unlock(&lock);
}

int rt_timing_rows(rt_timing_row *rows, int max)
{
    pthread_mutex_lock(&lock);
    int n = n_rows < max ? n_rows : max;
    if (n > 0)
        memcpy(rows, rows_tab, (size_t)n * sizeof *rows);
    pthread_mutex_unlock(&lock);
    return n;
}
