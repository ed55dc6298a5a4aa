/* clipcl preprocess: the float32 N x 3 x S x S tensor CLIP's image tower would
 * see for each image (with --model: that model's image tower, through its
 * preprocessing config), so pixels can be checked or fed to embed-image
 * --pixels.
 * Images are processed one at a time and streamed into the output, so memory
 * stays at one image however long the batch. */
#include "clipcl.h"
#include "io/atomic_file.h"
#include "io/image.h"
#include "tools/cmd.h"
#include "tools/cmd_progress.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Beyond this a single image's tensor passes 200 MB: surely a typo. */
#define MAX_SIZE 4096

const char cmd_preprocess_usage[] =
    "usage: clipcl preprocess (--size N | --model M) --out OUT.npy [--] IMAGE...\n\n"
    "Writes the float32 tensor of shape (number of images, 3, N, N), C order,\n"
    "that CLIP's image tower sees: each image resized (bicubic, short side to N,\n"
    "as PIL does), centre-cropped to N x N, converted to RGB and normalised with\n"
    "CLIP's mean and std. With --model, the model's resolution and its own\n"
    "preprocessing config (open_clip_config.json preprocess_cfg, or Hugging\n"
    "Face preprocessor_config.json) instead: what embed-image feeds it. OUT is\n"
    "replaced atomically; on any error (the message names the image) it is left\n"
    "as it was.\n\n"
    "  --size N     the model's input resolution, 1 to 4096 (224 for ViT-B/32)\n"
    "  --model M    a model directory or .safetensors file (see embed-image)\n"
    "  --out FILE   the .npy file to write\n"
    "  --           every later argument is an image, even one starting with -\n";

/* Removed by a signal handler so Ctrl-C leaves no temporary behind. */
static const char *volatile pending_tmp;

static void on_signal(int sig)
{
    const char *t = pending_tmp;
    if (t)
        unlink(t);
    signal(sig, SIG_DFL);
    raise(sig);
}

static int parse_size(const char *s, int *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < 1 || v > MAX_SIZE)
        return cmd_usage_error("preprocess", "--size \"%s\": expected an integer from 1 to %d", s,
                               MAX_SIZE);
    *out = (int)v;
    return 0;
}

/* Format 1.0 header (dict padded with spaces to a 64-byte multiple), the same
 * bytes io/npy.c writes, so numpy.load memory-maps it aligned. */
static int write_npy_header(io_atomic *a, int64_t n, int size)
{
    char dict[256];
    int len = snprintf(dict, sizeof dict,
                       "{'descr': '<f4', 'fortran_order': False, 'shape': (%lld, 3, %d, %d), }",
                       (long long)n, size, size);
    size_t hlen = (10 + (size_t)len + 1 + 63) / 64 * 64 - 10;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff),
                             (unsigned char)(hlen >> 8)};
    char header[320];
    memset(header, ' ', hlen);
    memcpy(header, dict, (size_t)len);
    header[hlen - 1] = '\n';
    int rc = io_atomic_write(a, pre, sizeof pre);
    return rc == CC_OK ? io_atomic_write(a, header, hlen) : rc;
}

/* Library messages name the image; a prefix is added for any that do not. */
static int image_error(const char *path)
{
    const char *msg = cc_last_error();
    if (msg && *msg && strstr(msg, path))
        return cmd_error("%s", msg);
    return cmd_error("%s: %s", path, msg && *msg ? msg : "cannot preprocess");
}

/* Missing files are reported before any decoding, not after minutes of it. */
static int check_inputs(char **images, int n)
{
    for (int i = 0; i < n; i++) {
        struct stat st;
        if (stat(images[i], &st) != 0)
            return cmd_error("%s: %s", images[i], strerror(errno));
        if (!S_ISREG(st.st_mode))
            return cmd_error("%s: not a regular file", images[i]);
    }
    return 0;
}

static int run(const char *out, int size, clipcl_model *m, char **images, int n)
{
    size_t per = (size_t)3 * (size_t)size * (size_t)size;
    float *buf = malloc(per * sizeof *buf);
    if (!buf)
        return cmd_error("out of memory for a 3x%dx%d image", size, size);
    io_atomic a;
    if (io_atomic_open(&a, out) != CC_OK) {
        free(buf);
        return cmd_lib_error(1);
    }
    pending_tmp = a.tmp_path;
    void (*old_int)(int) = signal(SIGINT, on_signal);
    void (*old_term)(int) = signal(SIGTERM, on_signal);

    int rc = write_npy_header(&a, n, size) == CC_OK ? 0 : cmd_lib_error(1);
    progress bar;
    cmd_progress_start(&bar, "preprocess", "img", n);
    for (int i = 0; i < n && rc == 0; i++) {
        int prc = m ? clipcl_preprocess_file_model(m, images[i], buf)
                    : img_clip_preprocess_file(images[i], size, buf);
        if (prc != CC_OK) {
            progress_abort(&bar);
            rc = image_error(images[i]);
        } else if (io_atomic_write(&a, buf, per * sizeof *buf) != CC_OK) {
            progress_abort(&bar);
            rc = cmd_lib_error(1);
        } else {
            progress_update(&bar, i + 1);
        }
    }
    if (rc == 0)
        progress_finish(&bar);
    if (rc != 0)
        io_atomic_abort(&a);
    else if (io_atomic_commit(&a) != CC_OK)
        rc = cmd_lib_error(1);
    pending_tmp = NULL;
    signal(SIGINT, old_int == SIG_ERR ? SIG_DFL : old_int);
    signal(SIGTERM, old_term == SIG_ERR ? SIG_DFL : old_term);
    free(buf);
    return rc;
}

int cmd_preprocess(int argc, char **argv)
{
    const char *out = NULL, *size_s = NULL, *model = NULL;
    char **images = malloc(sizeof(char *) * (size_t)(argc > 0 ? argc : 1));
    if (!images)
        return cmd_error("out of memory");
    int n = 0, rc = 0, only_images = 0;
    for (int i = 1; i < argc && rc == 0; i++) {
        const char *v = NULL;
        int r;
        if (only_images || argv[i][0] != '-' || strcmp(argv[i], "-") == 0) {
            images[n++] = argv[i];
        } else if (strcmp(argv[i], "--") == 0) {
            only_images = 1;
        } else if ((r = cmd_option_value(argc, argv, &i, "--size", &v)) != 0) {
            rc = r < 0 ? 2 : size_s ? cmd_usage_error("preprocess", "--size given twice") : 0;
            size_s = v;
        } else if ((r = cmd_option_value(argc, argv, &i, "--model", &v)) != 0) {
            rc = r < 0 ? 2 : model ? cmd_usage_error("preprocess", "--model given twice") : 0;
            model = v;
        } else if ((r = cmd_option_value(argc, argv, &i, "--out", &v)) != 0) {
            rc = r < 0 ? 2 : out ? cmd_usage_error("preprocess", "--out given twice") : 0;
            out = v;
        } else {
            rc = cmd_usage_error("preprocess", "unknown option \"%s\"", argv[i]);
        }
    }
    int size = 0;
    if (rc == 0 && !size_s && !model)
        rc = cmd_usage_error("preprocess", "--size N or --model M is required (the model's "
                             "resolution, e.g. 224, or the model itself)");
    if (rc == 0 && size_s)
        rc = parse_size(size_s, &size);
    if (rc == 0 && (!out || !*out))
        rc = cmd_usage_error("preprocess", "--out OUT.npy is required");
    if (rc == 0 && n == 0)
        rc = cmd_usage_error("preprocess", "no images: give one or more IMAGE paths");
    struct stat st;
    if (rc == 0 && stat(out, &st) == 0 && S_ISDIR(st.st_mode))
        rc = cmd_error("--out %s is a directory (expected a .npy file path)", out);
    if (rc == 0)
        rc = check_inputs(images, n);
    clipcl_model *m = NULL;
    /* the reference backend: loading needs no device, only the config */
    if (rc == 0 && model && clipcl_load(model, "ref", &m) != CLIPCL_OK)
        rc = cmd_error("%s", clipcl_last_error());
    if (rc == 0 && m && size_s && size != clipcl_image_size(m))
        rc = cmd_usage_error("preprocess", "--size %d but the model takes %d px images", size,
                             clipcl_image_size(m));
    if (rc == 0 && m)
        size = clipcl_image_size(m);
    if (rc == 0)
        rc = run(out, size, m, images, n);
    clipcl_free(m);
    free(images);
    return rc;
}
