/* The `clipcl` command line: a table of subcommands and a dispatcher.
 * Each subcommand lives in its own tools/cmd_NAME.c (see tools/cmd.h). */
#include "tools/cmd.h"
#include "backends/backend.h"
#include "clipcl.h"

#include <stdio.h>
#include <string.h>

static const cmd_entry commands[] = {
    {"devices", "list OpenCL platforms and devices, mark the selected one", cmd_devices_usage, cmd_devices},
    {"tune", "time GEMM tiles of the device's search space and store the fastest for the device", cmd_tune_usage, cmd_tune},
    {"selftest", "run a small MLP on the device and check it against the reference backend", cmd_selftest_usage, cmd_selftest},
    {"tokenize", "print CLIP token ids of texts (77 per line)", cmd_tokenize_usage, cmd_tokenize},
    {"preprocess", "write the normalised N x 3 x S x S image tensor as .npy", cmd_preprocess_usage, cmd_preprocess},
    {"embed-image", "write CLIP image features of images (or pixels) as .npy", cmd_embed_image_usage, cmd_embed_image},
    {"embed-text", "write CLIP text features of texts (or token ids) as .npy", cmd_embed_text_usage, cmd_embed_text},
    {"zeroshot", "classify images against label names (prompt-ensembled)", cmd_zeroshot_usage, cmd_zeroshot},
    {"info", "print a checkpoint's inferred architecture, parameters, naming, dtype", cmd_info_usage, cmd_info},
    {"tokenizer-train", "learn CLIP BPE merges from a caption corpus (writes vocab.json + merges.txt)", cmd_tokenizer_train_usage, cmd_tokenizer_train},
    {"bench", "time the image and text towers of a model, with a per-op table", cmd_bench_usage, cmd_bench},
    {"synth", "generate the procedural shapes dataset (PNGs + CSVs, held-out pairs)", cmd_synth_usage, cmd_synth},
    {"train", "train or resume a CLIP from a model config on image-caption data", cmd_train_usage, cmd_train},
    {"eval", "zero-shot accuracy, retrieval recall, linear probe and few-shot of a model", cmd_eval_usage, cmd_eval},
    {"search", "the rows of an embedding folder nearest to a text or image (table, JSON, HTML page)", cmd_search_usage, cmd_search},
    {"plot", "draw loss and temperature curves of a training log as a PNG", cmd_plot_usage, cmd_plot},
};
enum { n_commands = (int)(sizeof commands / sizeof commands[0]) };

static void print_list(FILE *f)
{
    fprintf(f, "commands:\n");
    for (int i = 0; i < n_commands; i++)
        fprintf(f, "  %-16s %s\n", commands[i].name, commands[i].summary);
}

static void print_help(FILE *f)
{
    fprintf(f, "usage: clipcl COMMAND [options]\n"
               "       clipcl help [COMMAND]    (or clipcl COMMAND --help)\n"
               "       clipcl --version\n\n"
               "An OpenCL runtime that runs and trains CLIP.\n\n");
    print_list(f);
    fprintf(f, "\nenvironment:\n"
               "  CLIPCL_DEVICE      default device (gpu, cpu, P:D or part of a name)\n"
               "  CLIPCL_CACHE_DIR   program binary cache (default $XDG_CACHE_HOME/clipcl or ~/.cache/clipcl)\n"
               "  CLIPCL_KERNEL_DIR  folder of edited kernel .cl files replacing the embedded ones\n"
               "  CLIPCL_PROFILE=1   enable OpenCL event profiling\n"
               "  CLIPCL_PROGRESS=0  no progress bars, even on a terminal\n");
}

static const cmd_entry *find(const char *name)
{
    for (int i = 0; i < n_commands; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static int is_help(const char *a)
{
    return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0;
}

static int unknown(const char *name)
{
    const char *names[n_commands];
    char hint[160];
    for (int i = 0; i < n_commands; i++)
        names[i] = commands[i].name;
    cmd_suggest(name, names, n_commands, hint, sizeof hint);
    cmd_error("unknown command \"%s\"%s", name, hint);
    print_list(stderr);
    return 2;
}

/* Library warnings (a kernel variant the device self-check disabled): one
 * line each on stderr. */
static void print_warning(const char *line) { fprintf(stderr, "clipcl: warning: %s\n", line); }

int main(int argc, char **argv)
{
    cmd_timings_start();
    backend_set_warning_sink(print_warning);
    if (argc < 2) {
        print_help(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (is_help(name) || strcmp(name, "help") == 0) {
        if (strcmp(name, "help") == 0 && argc >= 3) {
            const cmd_entry *c = find(argv[2]);
            if (!c)
                return unknown(argv[2]);
            fputs(c->usage, stdout);
            return 0;
        }
        print_help(stdout);
        return 0;
    }
    if (strcmp(name, "--version") == 0) {
        printf("clipcl %s\n", clipcl_version());
        return 0;
    }
    const cmd_entry *c = find(name);
    if (!c)
        return unknown(name);
    /* "--" ends option parsing, so an argument after it may be "--help". */
    for (int i = 2; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (is_help(argv[i])) {
            fputs(c->usage, stdout);
            return 0;
        }
    }
    cmd_set_usage(c->usage);
    int rc = c->fn(argc - 1, argv + 1);
    cmd_timings_print();
    return rc < 0 || rc > 125 ? 1 : rc;
}
