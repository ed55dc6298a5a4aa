/* clipcl plot: loss and temperature curves of a training log (the JSONL
 * that `clipcl train` writes) drawn with PLplot into a PNG (cairo driver). */
#include "tools/cmd.h"

#include <json-c/json.h>
#include <math.h>
#include <plplot.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char cmd_plot_usage[] =
    "usage: clipcl plot LOG.jsonl --out curves.png [--width W] [--height H] [--title T]\n\n"
    "Draws the training loss (raw, and a moving average over ~2% of the steps)\n"
    "and the temperature exp(logit_scale) against the step, from the per-step\n"
    "log of `clipcl train`, as a PNG (PLplot's pngcairo device).\n\n"
    "  --out FILE      the PNG to write\n"
    "  --width W       pixels (default 1000)\n"
    "  --height H      pixels (default 800)\n"
    "  --title T       title above the loss panel (default: the log's path)\n";

typedef struct series {
    PLFLT *step, *loss, *temp, *avg;
    int n, cap;
} series;

static int push(series *s, double step, double loss, double temp)
{
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 1024;
        PLFLT *a = realloc(s->step, (size_t)cap * sizeof *a);
        if (a)
            s->step = a;
        PLFLT *b = realloc(s->loss, (size_t)cap * sizeof *b);
        if (b)
            s->loss = b;
        PLFLT *c = realloc(s->temp, (size_t)cap * sizeof *c);
        if (c)
            s->temp = c;
        if (!a || !b || !c)
            return cmd_error("out of memory reading the log");
        s->cap = cap;
    }
    s->step[s->n] = step;
    s->loss[s->n] = loss;
    s->temp[s->n] = temp;
    s->n++;
    return 0;
}

static int read_log(const char *path, series *s)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return cmd_error("cannot open log '%s'", path);
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0;
    int rc = 0;
    while (!rc && getline(&line, &cap, f) > 0) {
        lineno++;
        struct json_object *o = json_tokener_parse(line), *st, *lo, *te;
        if (!o || !json_object_object_get_ex(o, "step", &st) ||
            !json_object_object_get_ex(o, "loss", &lo) ||
            !json_object_object_get_ex(o, "temperature", &te))
            rc = cmd_error("log '%s' line %ld: expected a JSON object with step, loss and "
                           "temperature", path, lineno);
        else
            rc = push(s, json_object_get_double(st), json_object_get_double(lo),
                      json_object_get_double(te));
        json_object_put(o);
    }
    free(line);
    fclose(f);
    if (!rc && s->n == 0)
        rc = cmd_error("log '%s' holds no steps", path);
    return rc;
}

static void range(const PLFLT *v, int n, PLFLT *lo, PLFLT *hi)
{
    *lo = *hi = v[0];
    for (int i = 1; i < n; i++) {
        if (v[i] < *lo)
            *lo = v[i];
        if (v[i] > *hi)
            *hi = v[i];
    }
    PLFLT pad = (*hi - *lo) * 0.05;
    if (pad <= 0)
        pad = fabs(*hi) * 0.05 + 1e-3;
    *lo -= pad;
    *hi += pad;
}

static void panel(const series *s, const PLFLT *y, const PLFLT *smooth, const char *ylab,
                  const char *title)
{
    PLFLT x0 = s->step[0], x1 = s->step[s->n - 1], y0, y1;
    if (x1 <= x0)
        x1 = x0 + 1;
    range(y, s->n, &y0, &y1);
    pladv(0);
    plvpor(0.12, 0.96, 0.15, 0.88);
    plwind(x0, x1, y0, y1);
    plcol0(4);
    plbox("g", 0, 0, "g", 0, 0);
    plcol0(1);
    plbox("bcnst", 0, 0, "bcnstv", 0, 0);
    pllab("step", "", title);
    plmtex("l", 6.0, 0.5, 0.5, ylab);
    plcol0(smooth ? 3 : 2);
    plline(s->n, s->step, y);
    if (smooth) {
        plcol0(2);
        plwidth(2.0);
        plline(s->n, s->step, smooth);
        plwidth(1.0);
    }
}

int cmd_plot(int argc, char **argv)
{
    const char *log = NULL, *out = NULL, *title = NULL, *w_s = NULL, *h_s = NULL;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int r;
        if ((r = cmd_option_value(argc, argv, &i, "--out", &v)) != 0) {
            if (r < 0)
                return 2;
            out = v;
        } else if ((r = cmd_option_value(argc, argv, &i, "--title", &v)) != 0) {
            if (r < 0)
                return 2;
            title = v;
        } else if ((r = cmd_option_value(argc, argv, &i, "--width", &v)) != 0) {
            if (r < 0)
                return 2;
            w_s = v;
        } else if ((r = cmd_option_value(argc, argv, &i, "--height", &v)) != 0) {
            if (r < 0)
                return 2;
            h_s = v;
        } else if (argv[i][0] == '-' || log) {
            return cmd_usage_error("plot", "unexpected argument \"%s\"", argv[i]);
        } else {
            log = argv[i];
        }
    }
    if (!log || !out)
        return cmd_usage_error("plot", "a LOG and --out FILE are required");
    int width = w_s ? atoi(w_s) : 1000, height = h_s ? atoi(h_s) : 800;
    if (width < 200 || width > 8000 || height < 200 || height > 8000)
        return cmd_usage_error("plot", "--width/--height: expected 200 to 8000 pixels");
    series s = {0};
    int rc = read_log(log, &s);
    if (!rc && !(s.avg = malloc((size_t)s.n * sizeof *s.avg)))
        rc = cmd_error("out of memory");
    if (rc) {
        free(s.step);
        free(s.loss);
        free(s.temp);
        return rc;
    }
    int win = s.n / 50 > 1 ? s.n / 50 : 1;
    double acc = 0;
    for (int i = 0; i < s.n; i++) {
        acc += s.loss[i];
        if (i >= win)
            acc -= s.loss[i - win];
        s.avg[i] = acc / (i + 1 < win ? i + 1 : win);
    }
    plsdev("pngcairo");
    plsfnam(out);
    plspage(0, 0, width, height, 0, 0);
    plscolbg(255, 255, 255);
    plscol0(1, 0, 0, 0);        /* axes and labels */
    plscol0(2, 31, 119, 180);   /* main curve */
    plscol0(3, 174, 199, 232);  /* raw loss under its average */
    plscol0(4, 220, 220, 220);  /* grid */
    plssub(1, 2);
    plinit();
    panel(&s, s.loss, s.n >= 20 ? s.avg : NULL, "loss", title ? title : log);
    panel(&s, s.temp, NULL, "temperature exp(t)", "");
    plend();
    free(s.step);
    free(s.loss);
    free(s.temp);
    free(s.avg);
    FILE *f = fopen(out, "rb");
    if (!f)
        return cmd_error("PLplot did not write '%s' (is plplot-driver-cairo installed?)", out);
    fclose(f);
    return 0;
}
