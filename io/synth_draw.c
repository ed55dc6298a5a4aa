/* Drawing one procedural sample: a background (gradient, gradient + pixel
 * noise, or smooth value noise, in muted colours so the saturated shape
 * stands out) and one shape, anti-aliased by 4x4 supersampling. */
#include "io/synth.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/dataset.h"
#include "runtime/rng.h"
#include "runtime/status.h"

static const uint8_t colour_rgb[SYNTH_N_COLOURS][3] = {
    {215, 35, 35},   /* red */
    {40, 175, 50},   /* green */
    {40, 70, 220},   /* blue */
    {235, 215, 40},  /* yellow */
    {140, 50, 190},  /* purple */
    {245, 135, 25},  /* orange */
    {40, 210, 220},  /* cyan */
    {245, 130, 190}, /* pink */
};
static const double size_radius[SYNTH_N_SIZES] = {0.13, 0.21, 0.31};

#define SS 4       /* supersamples per axis */
#define MAX_POLY 10

typedef struct shape_geom {
    int kind;
    double cx, cy, r, cosa, sina;
    int nv;
    double vx[MAX_POLY], vy[MAX_POLY];
} shape_geom;

static void regular_polygon(shape_geom *g, int n, double radius, double inner, double phase)
{
    int m = inner > 0 ? 2 * n : n;
    for (int k = 0; k < m; k++) {
        double a = phase + 2.0 * M_PI * k / m;
        double rr = inner > 0 && (k & 1) ? inner : radius;
        g->vx[k] = rr * cos(a);
        g->vy[k] = rr * sin(a);
    }
    g->nv = m;
}

/* Even-odd crossing test (the star is not convex). */
static int in_polygon(const shape_geom *g, double u, double v)
{
    int in = 0;
    for (int i = 0, j = g->nv - 1; i < g->nv; j = i++) {
        if ((g->vy[i] > v) != (g->vy[j] > v) &&
            u < (g->vx[j] - g->vx[i]) * (v - g->vy[i]) / (g->vy[j] - g->vy[i]) + g->vx[i])
            in = !in;
    }
    return in;
}

/* u, v: shape-local coordinates, unit = radius, v up. */
static int inside(const shape_geom *g, double u, double v)
{
    switch (g->kind) {
    case 0: return u * u + v * v <= 0.9 * 0.9;
    case 1: return fabs(u) <= 0.8 && fabs(v) <= 0.8;
    case 5: return fabs(u) / 0.7 + fabs(v) <= 1.0;
    case 6: return (fabs(u) <= 0.3 && fabs(v) <= 0.95) || (fabs(v) <= 0.3 && fabs(u) <= 0.95);
    case 7: {
        double x = u * 1.15, y = v * 1.15 + 0.15;
        double q = x * x + y * y - 1.0;
        return q * q * q - x * x * y * y * y <= 0.0;
    }
    default: return in_polygon(g, u, v);
    }
}

static double coverage(const shape_geom *g, int px, int py)
{
    int hits = 0;
    for (int sy = 0; sy < SS; sy++)
        for (int sx = 0; sx < SS; sx++) {
            double x = px + (sx + 0.5) / SS - g->cx, y = py + (sy + 0.5) / SS - g->cy;
            /* Rotate into the shape's frame; image y grows downwards. */
            double u = (x * g->cosa + y * g->sina) / g->r;
            double v = (x * g->sina - y * g->cosa) / g->r;
            hits += inside(g, u, v);
        }
    return (double)hits / (SS * SS);
}

static uint8_t clamp8(double v)
{
    return v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)(v + 0.5);
}

static void muted_colour(uint64_t *r, double c[3])
{
    double grey = 50 + 155 * cc_rng_uniform(r);
    for (int k = 0; k < 3; k++)
        c[k] = grey + 50 * (cc_rng_uniform(r) - 0.5);
}

static void background(uint64_t *r, int size, uint8_t *px)
{
    double c1[3], c2[3];
    muted_colour(r, c1);
    muted_colour(r, c2);
    int kind = (int)cc_rng_below(r, 3);
    double ang = 2 * M_PI * cc_rng_uniform(r), dx = cos(ang), dy = sin(ang);
    double noise = kind == 1 ? 8 + 16 * cc_rng_uniform(r) : kind == 2 ? 6 : 0;
    int grid = 3 + (int)cc_rng_below(r, 4);
    double val[8][8];
    for (int j = 0; j < grid + 1; j++)
        for (int i = 0; i < grid + 1; i++)
            val[j][i] = cc_rng_uniform(r);
    for (int y = 0; y < size; y++)
        for (int x = 0; x < size; x++) {
            double t;
            if (kind == 2) {
                double gx = (x + 0.5) * grid / size, gy = (y + 0.5) * grid / size;
                int ix = (int)gx, iy = (int)gy;
                double fx = gx - ix, fy = gy - iy;
                fx = fx * fx * (3 - 2 * fx);
                fy = fy * fy * (3 - 2 * fy);
                t = (val[iy][ix] * (1 - fx) + val[iy][ix + 1] * fx) * (1 - fy) +
                    (val[iy + 1][ix] * (1 - fx) + val[iy + 1][ix + 1] * fx) * fy;
            } else {
                t = 0.5 + (((x + 0.5) / size - 0.5) * dx + ((y + 0.5) / size - 0.5) * dy) * 0.7071;
            }
            uint8_t *p = px + ((size_t)y * size + x) * 3;
            for (int k = 0; k < 3; k++) {
                double n = noise > 0 ? noise * (2 * cc_rng_uniform(r) - 1) : 0;
                p[k] = clamp8(c1[k] * (1 - t) + c2[k] * t + n);
            }
        }
}

int synth_render(const synth_attrs *a, int size, img_u8 *out)
{
    memset(out, 0, sizeof *out);
    if (size < 8 || size > 4096)
        return cc_fail(CC_ERR_INVALID, "synth image size %d: expected 8 to 4096", size);
    if (a->shape < 0 || a->shape >= SYNTH_N_SHAPES || a->colour < 0 ||
        a->colour >= SYNTH_N_COLOURS || a->size < 0 || a->size >= SYNTH_N_SIZES ||
        a->position < 0 || a->position >= SYNTH_N_POSITIONS)
        return cc_fail(CC_ERR_INVALID, "synth attributes out of range (shape %d colour %d)",
                       a->shape, a->colour);
    int rc = img_alloc(out, size, size, IMG_RGB);
    if (rc != CC_OK)
        return rc;
    uint64_t r = a->render_seed;
    background(&r, size, out->px);

    shape_geom g = {.kind = a->shape};
    g.r = size * size_radius[a->size] * (0.93 + 0.14 * cc_rng_uniform(&r));
    static const double frac[3] = {0.1, 0.5, 0.9};
    double fx = frac[a->position % 3] + 0.08 * (cc_rng_uniform(&r) - 0.5);
    double fy = frac[a->position / 3] + 0.08 * (cc_rng_uniform(&r) - 0.5);
    fx = fx < 0 ? 0 : fx > 1 ? 1 : fx;
    fy = fy < 0 ? 0 : fy > 1 ? 1 : fy;
    g.cx = g.r + (size - 2 * g.r) * fx;
    g.cy = g.r + (size - 2 * g.r) * fy;
    /* Within +-15 degrees a square never turns into a diamond. */
    double ang = (cc_rng_uniform(&r) - 0.5) * (M_PI / 6);
    g.cosa = cos(ang);
    g.sina = sin(ang);
    if (a->shape == 2)
        regular_polygon(&g, 3, 1.0, 0, M_PI / 2);
    else if (a->shape == 3)
        regular_polygon(&g, 5, 1.0, 0.45, M_PI / 2);
    else if (a->shape == 4)
        regular_polygon(&g, 6, 0.95, 0, 0);
    double col[3];
    for (int k = 0; k < 3; k++)
        col[k] = colour_rgb[a->colour][k] + 30 * (cc_rng_uniform(&r) - 0.5);

    int x0 = (int)floor(g.cx - 1.5 * g.r), x1 = (int)ceil(g.cx + 1.5 * g.r);
    int y0 = (int)floor(g.cy - 1.5 * g.r), y1 = (int)ceil(g.cy + 1.5 * g.r);
    x0 = x0 < 0 ? 0 : x0;
    y0 = y0 < 0 ? 0 : y0;
    x1 = x1 > size ? size : x1;
    y1 = y1 > size ? size : y1;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) {
            double cov = coverage(&g, x, y);
            if (cov <= 0)
                continue;
            uint8_t *p = out->px + ((size_t)y * size + x) * 3;
            for (int k = 0; k < 3; k++)
                p[k] = clamp8(p[k] * (1 - cov) + col[k] * cov);
        }
    return CC_OK;
}
