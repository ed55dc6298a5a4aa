/* clipcl tune: measures the own GEMM's tiles of the device's search space
 * (and CLBlast) on CLIP shapes and stores the pick in the per-device cache,
 * which every later process uses (backends/opencl/ocl_gemm_tune.h). */
#include "backends/opencl/ocl_gemm_tune.h"
#include "runtime/gemm_db.h"
#include "runtime/rt.h"
#include "tools/cmd.h"
#include "tools/cmd_progress.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char cmd_tune_usage[] =
    "usage: clipcl tune [--device D] [--quick] [--shapes vit-b-32|all|MxNxK,...]\n"
    "                   [--tiles TMxVWxNV,...] [--space device|wide] [--rounds N]\n"
    "                   [--clblast | --no-clblast] [--no-store] [--list] [--json]\n\n"
    "Times the own GEMM kernel with every tile of the device's search space\n"
    "(TM rows x NV vectors of VW floats; VW and the number of accumulators\n"
    "TM*NV follow the device's vector width and register file) on CLIP's GEMM\n"
    "shapes, in interleaved rounds (a candidate's time is the minimum of its\n"
    "round medians; leaders whose rounds disagree by more than 10% are timed\n"
    "again), and stores the fastest tile, the implementation and the load\n"
    "average in the cache for this device and driver. Every later process\n"
    "uses it instead of the built-in database (`clipcl devices --policy`\n"
    "shows which). A few minutes on a CPU; run it on a quiet machine.\n\n"
    "  --device D     gpu, cpu, P:D or part of a device name\n"
    "  --quick        no tile started after 5 s; one shape (400x3072x768), 2 rounds\n"
    "  --shapes S     vit-b-32 (default: fc1 at batch 1, fc1/fc2/qkv at batch 32),\n"
    "                 all (also the text tower's MLP) or a list MxNxK,MxNxK\n"
    "  --tiles LIST   time these tiles instead of the search space\n"
    "  --space S      device (default) or wide: vector widths 4, 8, 16 and up to\n"
    "                 1.5x the register estimate, for exhaustive sweeps\n"
    "  --rounds N     interleaved rounds (default 3, --quick 2)\n"
    "  --clblast      also time CLBlast (default on GPUs); --no-clblast: never\n"
    "  --no-store     measure and print only; the cache stays as it is\n"
    "  --list         print the device class, register estimate and search space\n"
    "                 and time nothing\n"
    "  --json         print the result as JSON on stdout\n";

typedef struct tune_args {
    const char *device, *shapes, *tiles, *space;
    int quick, rounds, clblast, store, list, json;
} tune_args;

static int parse(int argc, char **argv, tune_args *a)
{
    memset(a, 0, sizeof *a);
    a->clblast = -1;
    a->store = 1;
    for (int i = 1; i < argc; i++) {
        const char *v;
        int m;
        if ((m = cmd_option_value(argc, argv, &i, "--device", &a->device)) ||
            (m = cmd_option_value(argc, argv, &i, "--shapes", &a->shapes)) ||
            (m = cmd_option_value(argc, argv, &i, "--tiles", &a->tiles)) ||
            (m = cmd_option_value(argc, argv, &i, "--space", &a->space))) {
            if (m < 0)
                return 2;
            continue;
        }
        if ((m = cmd_option_value(argc, argv, &i, "--rounds", &v))) {
            if (m < 0)
                return 2;
            a->rounds = atoi(v);
            if (a->rounds < 1 || a->rounds > 20)
                return cmd_usage_error("tune", "--rounds: expected 1 to 20, found \"%s\"", v);
            continue;
        }
        if (!strcmp(argv[i], "--quick"))
            a->quick = 1;
        else if (!strcmp(argv[i], "--clblast"))
            a->clblast = 1;
        else if (!strcmp(argv[i], "--no-clblast"))
            a->clblast = 0;
        else if (!strcmp(argv[i], "--no-store"))
            a->store = 0;
        else if (!strcmp(argv[i], "--list"))
            a->list = 1;
        else if (!strcmp(argv[i], "--json"))
            a->json = 1;
        else
            return cmd_usage_error("tune", "unknown option \"%s\"", argv[i]);
    }
    if (a->space && strcmp(a->space, "device") && strcmp(a->space, "wide"))
        return cmd_usage_error("tune", "--space: expected device or wide, found \"%s\"", a->space);
    return 0;
}

static int parse_tiles(const char *text, ocl_gemm_tile *out, int cap, int *n)
{
    *n = 0;
    char buf[2048];
    snprintf(buf, sizeof buf, "%s", text);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (*n == cap || !ocl_gemm_parse_tile(t, &out[*n]))
            return cmd_usage_error("tune", "--tiles: expected TMxVWxNV (TM 1-32, VW 1/2/4/8/16, NV 1-8), found \"%s\"",
                                   t);
        (*n)++;
    }
    if (!*n)
        return cmd_usage_error("tune", "--tiles: expected at least one tile");
    return 0;
}

static void on_progress(void *user, int done, int total)
{
    progress *p = user;
    p->total = total;
    progress_update(p, done);
}

static void print_space(const rt_device_info *d, int wide, int json)
{
    rt_gemm_space sp;
    char arch[128], tile[48];
    rt_gemm_space_of(d, wide, &sp);
    rt_gemm_arch_of(d, arch, sizeof arch);
    if (json) {
        json_object *o = json_object_new_object(), *tiles = json_object_new_array(), *wg = json_object_new_array();
        json_object_object_add(o, "device", json_object_new_string(d->device_name));
        json_object_object_add(o, "class", json_object_new_string(rt_gemm_class_name(sp.cls)));
        json_object_object_add(o, "arch", json_object_new_string(arch));
        json_object_object_add(o, "registers", json_object_new_int(sp.registers));
        for (int i = 0; i < sp.n_tiles; i++) {
            snprintf(tile, sizeof tile, "%dx%dx%d", sp.tiles[i].tm, sp.tiles[i].vw, sp.tiles[i].nv);
            json_object_array_add(tiles, json_object_new_string(tile));
        }
        for (int i = 0; i < sp.n_row_wg; i++)
            json_object_array_add(wg, json_object_new_int(sp.row_wg[i]));
        json_object_object_add(o, "tiles", tiles);
        json_object_object_add(o, "row_wg", wg);
        printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
        json_object_put(o);
        return;
    }
    printf("device     %s\nclass      %s\narch       %s\nregisters  %d (accumulators %d..%d)\ntiles      %d:",
           d->device_name, rt_gemm_class_name(sp.cls), arch[0] ? arch : "-", sp.registers, sp.min_acc, sp.max_acc,
           sp.n_tiles);
    for (int i = 0; i < sp.n_tiles; i++)
        printf("%s%dx%dx%d", i % 10 ? " " : "\n  ", sp.tiles[i].tm, sp.tiles[i].vw, sp.tiles[i].nv);
    printf("\nrow_wg    ");
    for (int i = 0; i < sp.n_row_wg; i++)
        printf(" %d", sp.row_wg[i]);
    printf("\n");
}

static void print_result(const rt_ctx *ctx, const ocl_gemm_tune_result *r, const char *stored, int json)
{
    char tile[48];
    if (json) {
        json_object *o = json_object_new_object(), *shapes = json_object_new_array(), *cands = json_object_new_array();
        json_object_object_add(o, "device", json_object_new_string(ctx->dev.device_name));
        json_object_object_add(o, "driver", json_object_new_string(ctx->dev.driver_version));
        json_object_object_add(o, "source", json_object_new_string(r->source));
        json_object_object_add(o, "load_before", json_object_new_double(r->load_before));
        json_object_object_add(o, "load_after", json_object_new_double(r->load_after));
        json_object_object_add(o, "seconds", json_object_new_double(r->seconds));
        json_object_object_add(o, "remeasured", json_object_new_boolean(r->remeasured));
        for (int s = 0; s < r->n_shapes; s++) {
            snprintf(tile, sizeof tile, "%dx%dx%d", r->shapes[s].M, r->shapes[s].N, r->shapes[s].K);
            json_object_array_add(shapes, json_object_new_string(tile));
        }
        json_object_object_add(o, "shapes", shapes);
        for (int c = 0; c < r->n_cand; c++) {
            if (!r->measured[c])
                continue;
            json_object *e = json_object_new_object(), *gf = json_object_new_array();
            snprintf(tile, sizeof tile, "%dx%dx%d", r->cand[c].tm, r->cand[c].vw, r->cand[c].nv);
            json_object_object_add(e, "tile", json_object_new_string(tile));
            for (int s = 0; s < r->n_shapes; s++)
                json_object_array_add(gf, json_object_new_double(2.0 * r->shapes[s].M * r->shapes[s].N *
                                                                  r->shapes[s].K / r->t[c][s] * 1e-9));
            json_object_object_add(e, "gflops", gf);
            json_object_object_add(e, "total_ms", json_object_new_double(1e3 * ocl_gemm_tune_total(r, c)));
            json_object_object_add(e, "spread", json_object_new_double(r->spread[c]));
            json_object_object_add(e, "rounds", json_object_new_int(r->rounds[c]));
            json_object_array_add(cands, e);
        }
        json_object_object_add(o, "candidates", cands);
        if (r->clblast_timed) {
            json_object *gf = json_object_new_array();
            for (int s = 0; s < r->n_shapes; s++)
                json_object_array_add(gf, json_object_new_double(2.0 * r->shapes[s].M * r->shapes[s].N *
                                                                  r->shapes[s].K / r->clblast_t[s] * 1e-9));
            json_object_object_add(o, "clblast_gflops", gf);
        }
        if (r->clblast_error[0])
            json_object_object_add(o, "clblast_error", json_object_new_string(r->clblast_error));
        snprintf(tile, sizeof tile, "%dx%dx%d", r->tile.tm, r->tile.vw, r->tile.nv);
        json_object_object_add(o, "tile", json_object_new_string(tile));
        json_object_object_add(o, "impl", json_object_new_string(ocl_gemm_impl_name(r->impl)));
        json_object_object_add(o, "stored", stored ? json_object_new_string(stored) : NULL);
        printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
        json_object_put(o);
        return;
    }
    printf("%-9s", "tile");
    for (int s = 0; s < r->n_shapes; s++) {
        snprintf(tile, sizeof tile, "%dx%dx%d", r->shapes[s].M, r->shapes[s].N, r->shapes[s].K);
        printf(" %15s", tile);
    }
    printf(" %10s %7s %6s\n", "total ms", "spread", "rounds");
    for (int c = 0; c < r->n_cand; c++) {
        if (!r->measured[c])
            continue;
        snprintf(tile, sizeof tile, "%dx%dx%d", r->cand[c].tm, r->cand[c].vw, r->cand[c].nv);
        printf("%-9s", tile);
        for (int s = 0; s < r->n_shapes; s++)
            printf(" %15.1f", 2.0 * r->shapes[s].M * r->shapes[s].N * r->shapes[s].K / r->t[c][s] * 1e-9);
        printf(" %10.2f %6.1f%% %6d%s\n", 1e3 * ocl_gemm_tune_total(r, c), 100 * r->spread[c], r->rounds[c],
               c == r->best ? "  <- fastest" : "");
    }
    if (r->clblast_timed) {
        printf("%-9s", "clblast");
        double t = 0;
        for (int s = 0; s < r->n_shapes; s++) {
            printf(" %15.1f", 2.0 * r->shapes[s].M * r->shapes[s].N * r->shapes[s].K / r->clblast_t[s] * 1e-9);
            t += r->clblast_t[s];
        }
        printf(" %10.2f\n", 1e3 * t);
    }
    if (r->clblast_error[0])
        printf("clblast failed: %s\n", r->clblast_error);
    printf("(GFLOP/s per shape, minimum of the round medians)\n");
    int n = 0;
    for (int c = 0; c < r->n_cand; c++)
        n += r->measured[c];
    printf("pick: %s, tile %dx%dx%d (%d of %d tiles timed in %.1f s%s; load %.2f before, %.2f after)\n",
           ocl_gemm_impl_name(r->impl), r->tile.tm, r->tile.vw, r->tile.nv, n, r->n_cand, r->seconds,
           r->remeasured ? ", leaders timed again for their spread" : "", r->load_before, r->load_after);
    if (stored)
        printf("stored in %s\n", stored);
    if (r->load_before > 1.0)
        printf("note: the machine was busy (load %.2f): tune again when it is quiet for numbers that hold\n",
               r->load_before);
}

int cmd_tune(int argc, char **argv)
{
    tune_args a;
    int rc = parse(argc, argv, &a);
    if (rc)
        return rc;
    static ocl_gemm_tile tiles[OCL_TUNE_MAX_CAND];
    ocl_gemm_shape shapes[OCL_TUNE_MAX_SHAPES];
    int n_tiles = 0, n_shapes = 0;
    char err[256];
    if (a.tiles && (rc = parse_tiles(a.tiles, tiles, OCL_TUNE_MAX_CAND, &n_tiles)))
        return rc;
    if (a.shapes && !ocl_gemm_tune_shapes(a.shapes, shapes, OCL_TUNE_MAX_SHAPES, &n_shapes, err, sizeof err))
        return cmd_usage_error("tune", "--%s", err);
    if (!a.shapes && a.quick) {
        shapes[0] = (ocl_gemm_shape){400, 3072, 768};
        n_shapes = 1;
    }
    rt_ctx *ctx = NULL;
    if ((rc = rt_ctx_create(a.device, 0, &ctx)))
        return cmd_lib_error(rc);
    const int wide = a.space && !strcmp(a.space, "wide");
    if (a.list) {
        print_space(&ctx->dev, wide, a.json);
        rt_ctx_free(ctx);
        return 0;
    }
    ocl_gemm_tune_opts o;
    memset(&o, 0, sizeof o);
    o.cand = n_tiles ? tiles : NULL;
    o.n_cand = n_tiles;
    o.wide = wide;
    o.shapes = n_shapes ? shapes : NULL;
    o.n_shapes = n_shapes;
    o.rounds = a.rounds ? a.rounds : a.quick ? 2 : 3;
    o.runs = 3;
    o.budget_s = a.quick ? 5.0 : 0.0;
    o.clblast = a.clblast >= 0 ? a.clblast : rt_gemm_class_is_gpu(rt_gemm_class_of(&ctx->dev));
    o.source = a.quick ? "clipcl tune --quick" : "clipcl tune";
    progress bar;
    cmd_progress_start(&bar, "tune", "runs", 1);
    o.progress = on_progress;
    o.user = &bar;
    ocl_gemm_tune_result *r = malloc(sizeof *r);
    if (!r) {
        rt_ctx_free(ctx);
        return cmd_error("tune: out of memory");
    }
    rc = ocl_gemm_tune(ctx, &o, r);
    if (rc) {
        progress_abort(&bar);
        free(r);
        rt_ctx_free(ctx);
        return cmd_lib_error(rc);
    }
    bar.total = bar.done; /* a budget or a re-measure moves the end */
    progress_finish(&bar);
    char path[1000];
    const char *stored = NULL;
    if (a.store) {
        if ((rc = ocl_gemm_tune_store(ctx, r))) {
            free(r);
            rt_ctx_free(ctx);
            return cmd_lib_error(rc);
        }
        if (!ocl_gemm_tuning_path(ctx, path, sizeof path))
            stored = path;
    }
    print_result(ctx, r, stored, a.json);
    free(r);
    rt_ctx_free(ctx);
    return 0;
}
