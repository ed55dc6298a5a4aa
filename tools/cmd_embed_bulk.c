/* embed-image / embed-text with --data SET --out DIR (tools/embed_bulk.h):
 * options, the output folder's state, and the checks of a resumed run. */
#include "tools/embed_bulk.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/atomic_file.h"
#include "runtime/status.h"
#include "tools/cmd.h"
#include "tools/cmd_clip.h"
#include "runtime/fs.h"

#define DEFAULT_BULK_BATCH 64
#define DEFAULT_SHARD_SIZE 10000
#define MAX_SHARD_SIZE 10000000 /* 20 GB of 512-d rows in memory: surely a typo beyond */
#define MAX_WORKERS 256

typedef struct bulk_args {
    cmd_model_opts mo;
    const char *data, *out, *shard_size_s, *workers_s, *img_key, *caption_key;
    int resume, no_normalize;
    int64_t shard_size;
    int workers;
} bulk_args;

static int parse_count(const char *name, const char *opt, const char *v, int64_t hi, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (!*v || *end || errno || x < 1 || x > hi)
        return cmd_usage_error(name, "%s \"%s\": expected an integer from 1 to %" PRId64, opt, v, hi);
    *out = x;
    return 0;
}

static int parse(int argc, char **argv, int text, bulk_args *a)
{
    memset(a, 0, sizeof *a);
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (strcmp(s, "--resume") == 0) {
            a->resume = 1;
            continue;
        }
        if (strcmp(s, "--no-normalize") == 0) {
            a->no_normalize = 1;
            continue;
        }
        if (strcmp(s, "--normalize") == 0)
            continue; /* the default here; accepted as in the single-file form */
        int r = cmd_model_option(argc, argv, &i, &a->mo);
        if (r == 2)
            return 2;
        if (r == 1)
            continue;
        static const char *const opts[] = {"--data", "--out", "--shard-size", "--workers",
                                           "--csv-img-key", "--csv-caption-key"};
        const char **slots[] = {&a->data, &a->out, &a->shard_size_s, &a->workers_s, &a->img_key,
                                &a->caption_key};
        for (int k = 0; k < 6 && r == 0; k++)
            if ((r = cmd_option_value(argc, argv, &i, opts[k], slots[k])) < 0)
                return 2;
        if (r == 0 && s[0] == '-')
            return cmd_usage_error(argv[0], "unknown option \"%s\"", s);
        if (r == 0)
            return cmd_usage_error(argv[0], "unexpected argument \"%s\": with --data SET the "
                                   "inputs come from SET only", s);
    }
    if (!a->mo.model)
        return cmd_usage_error(argv[0], "--model MODEL is required");
    if (!a->out)
        return cmd_usage_error(argv[0], "--out DIR is required with --data");
    if (!*a->out || !*a->data)
        return cmd_usage_error(argv[0], "--out and --data need a non-empty path");
    if (text && a->workers_s)
        return cmd_usage_error(argv[0], "--workers is for images (texts are tokenized inline)");
    a->shard_size = DEFAULT_SHARD_SIZE;
    if (a->shard_size_s && parse_count(argv[0], "--shard-size", a->shard_size_s, MAX_SHARD_SIZE,
                                       &a->shard_size))
        return 2;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int64_t w = cores > 0 ? (cores < MAX_WORKERS ? cores : MAX_WORKERS) : 1;
    if (a->workers_s && parse_count(argv[0], "--workers", a->workers_s, MAX_WORKERS, &w))
        return 2;
    a->workers = (int)w;
    if (!a->mo.batch)
        a->mo.batch = DEFAULT_BULK_BATCH;
    return 0;
}

/* 0 missing or empty folder, 1 non-empty folder, -1 after an error. */
static int out_state(const char *dir)
{
    struct stat st;
    if (stat(dir, &st) != 0)
        return errno == ENOENT ? 0 : cmd_error("--out %s: %s", dir, strerror(errno)) * -1;
    if (!S_ISDIR(st.st_mode))
        return -cmd_error("--out %s: not a folder (the embeddings go into a folder)", dir);
    DIR *d = opendir(dir);
    if (!d)
        return -cmd_error("--out %s: cannot read: %s", dir, strerror(errno));
    int any = 0;
    for (struct dirent *e; !any && (e = readdir(d)) != NULL;)
        any = strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return any;
}

/* One run per folder: an exclusive lock on the folder itself, released by
 * the kernel when the process ends however it ends (SIGKILL included).
 * Returns the descriptor to close at the end, or -1 after an error. */
static int lock_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -cmd_error("--out %s: cannot open: %s", dir, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK)
            return -cmd_error("--out %s: another clipcl run is writing this folder", dir);
        return -cmd_error("--out %s: cannot lock: %s", dir, strerror(e));
    }
    return fd;
}

/* A run killed while writing a file leaves its temporary (NAME.tmp.XXXXXX,
 * io/atomic_file.h) behind; the resuming run, holding the lock, removes
 * those of the folder's own files so the folder ends as an uninterrupted
 * run leaves it. */
static void remove_stale_temporaries(const char *dir)
{
    static const char *const prefixes[] = {"manifest.json.tmp.", "failed.csv.tmp.", "img_emb_",
                                           "text_emb_", "metadata_", "text_metadata_"};
    DIR *d = opendir(dir);
    if (!d)
        return;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        const char *t = strstr(e->d_name, ".tmp.");
        if (!t || strlen(t) != 11)
            continue;
        for (size_t k = 0; k < sizeof prefixes / sizeof prefixes[0]; k++) {
            if (strncmp(e->d_name, prefixes[k], strlen(prefixes[k])) == 0) {
                char path[8192];
                snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
                unlink(path);
                break;
            }
        }
    }
    closedir(d);
}

static int same_path(const char *a, const char *b)
{
    if (strcmp(a, b) == 0)
        return 1;
    char ra[PATH_MAX], rb[PATH_MAX];
    return realpath(a, ra) && realpath(b, rb) && strcmp(ra, rb) == 0;
}

/* The recorded run must be this run: same kind, model, SET, shard size and
 * normalisation (the rows would differ otherwise). */
static int check_settings(const bulk_args *a, const es_manifest *m, int text)
{
    const char *d = a->out;
    if (m->kind != (text ? ES_TEXT : ES_IMAGE))
        return cmd_error("--resume: %s holds %s embeddings, not %s", d, es_kind_name(m->kind),
                         text ? "text" : "image");
    if (!same_path(m->model, a->mo.model))
        return cmd_error("--resume: %s was made with --model %s, not %s (use a new --out folder "
                         "for another model)", d, m->model, a->mo.model);
    if (!same_path(m->data, a->data))
        return cmd_error("--resume: %s was made from --data %s, not %s", d, m->data, a->data);
    if (m->shard_size != a->shard_size)
        return cmd_error("--resume: %s has --shard-size %" PRId64 ", not %" PRId64 " (give the "
                         "same shard size)", d, m->shard_size, a->shard_size);
    if (m->normalized != !a->no_normalize)
        return cmd_error("--resume: %s was made %s --no-normalize; give the same", d,
                         m->normalized ? "without" : "with");
    return 0;
}

/* ... and the SET must still list as many inputs, the model give rows of
 * the same width, the shards follow one another. */
static int check_resume(const bulk_args *a, const es_manifest *m, int dim, int64_t n_inputs)
{
    const char *d = a->out;
    if (m->embed_dim != dim)
        return cmd_error("--resume: %s has %d-d rows, the model gives %d", d, m->embed_dim, dim);
    if (m->inputs != n_inputs)
        return cmd_error("--resume: --data %s now lists %" PRId64 " inputs, the run in %s listed %"
                         PRId64 " (the SET changed: start a new --out folder)", a->data, n_inputs,
                         d, m->inputs);
    int64_t prev = 0;
    for (int k = 0; k < m->n_shards; k++) {
        const es_shard *s = &m->shards[k];
        if (s->input_begin != prev || s->input_end <= s->input_begin || s->input_end > n_inputs ||
            (k + 1 < m->n_shards && s->rows != m->shard_size))
            return cmd_error("%s/manifest.json: shard %d's input range [%" PRId64 ", %" PRId64
                             ") or rows do not follow the previous shards", d, k, s->input_begin,
                             s->input_end);
        prev = s->input_end;
    }
    if (m->batch && m->batch != a->mo.batch)
        fprintf(stderr, "clipcl: warning: --resume: %s was made with --batch %d, now %d; rows may "
                        "differ from an uninterrupted run in the last bits\n", d, m->batch,
                a->mo.batch);
    return 0;
}

/* Failures of the finished shards: failed.csv's first m->failed lines (later
 * ones belong to a shard the interruption did not commit). */
static int load_failures(bulk_run *r)
{
    es_table t;
    int rc = es_failed_read(r->dir, &t);
    if (rc)
        return cmd_lib_error(rc);
    if (t.n < r->man->failed) {
        es_table_free(&t);
        return cmd_error("%s/failed.csv: %" PRId64 " lines, the manifest counts %" PRId64, r->dir,
                         t.n, r->man->failed);
    }
    r->failed = calloc((size_t)(r->man->failed ? r->man->failed : 1), sizeof *r->failed);
    if (!r->failed) {
        es_table_free(&t);
        return cmd_error("out of memory reading %s/failed.csv", r->dir);
    }
    r->failed_cap = (int)(r->man->failed ? r->man->failed : 1);
    for (int64_t i = 0; i < r->man->failed && !rc; i++) {
        bulk_failure *f = &r->failed[r->n_failed++];
        f->path = strdup(t.rows[i].path);
        f->member = strdup(t.rows[i].member);
        f->error = strdup(t.rows[i].error);
        if (!f->path || !f->member || !f->error)
            rc = cmd_error("out of memory reading %s/failed.csv", r->dir);
    }
    es_table_free(&t);
    return rc;
}

static int start_fresh(const bulk_args *a, es_manifest *m, int text, int dim, int64_t n_inputs,
                       int *lock_fd)
{
    memset(m, 0, sizeof *m);
    m->kind = text ? ES_TEXT : ES_IMAGE;
    m->model = strdup(a->mo.model);
    m->data = strdup(a->data);
    m->embed_dim = dim;
    m->normalized = !a->no_normalize;
    m->shard_size = a->shard_size;
    m->inputs = n_inputs;
    m->batch = a->mo.batch;
    if (!m->model || !m->data)
        return cmd_error("out of memory");
    int rc = rt_make_dirs(a->out);
    if (rc)
        return cmd_lib_error(rc);
    if ((*lock_fd = lock_dir(a->out)) < 0)
        return 1;
    /* Another run may have claimed it between the emptiness check and the lock. */
    if (out_state(a->out) != 0)
        return cmd_error("--out %s: the folder is not empty any more (another run?)", a->out);
    /* Written before the first shard, so the folder is claimed by this run
     * and an interruption before shard 0 still resumes (manifest first: a
     * missing failed.csv is an empty one). */
    rc = es_manifest_write(a->out, m);
    if (!rc)
        rc = es_failed_write(a->out, NULL, 0);
    return rc ? cmd_lib_error(rc) : 0;
}

int cmd_embed_bulk(int argc, char **argv, int text)
{
    bulk_args a;
    int rc = parse(argc, argv, text, &a);
    if (rc)
        return rc;
    int state = out_state(a.out);
    if (state < 0)
        return 1;
    char mpath[4096];
    snprintf(mpath, sizeof mpath, "%s/manifest.json", a.out);
    int resuming = a.resume && state == 1;
    if (state == 1 && !a.resume)
        return cmd_error("--out %s: the folder is not empty; give --resume to continue the run "
                         "recorded in it, or name a new folder", a.out);
    if (resuming && access(mpath, F_OK) != 0)
        return cmd_error("--resume: %s has no manifest.json: not a folder of `clipcl %s --data` "
                         "(name a new folder)", a.out, argv[0]);
    int lock_fd = resuming ? lock_dir(a.out) : -1;
    if (resuming && lock_fd < 0)
        return 1;
    es_manifest man = {0};
    if (resuming && (rc = es_manifest_read(a.out, &man)) != 0) {
        close(lock_fd);
        return cmd_lib_error(rc);
    }
    if (resuming && (rc = check_settings(&a, &man, text)) != 0) {
        es_manifest_free(&man);
        close(lock_fd);
        return rc;
    }
    if (resuming && man.complete) {
        fprintf(stderr, "%s: complete already (%" PRId64 " rows in %d shards); nothing to do\n",
                a.out, man.rows, man.n_shards);
        es_manifest_free(&man);
        close(lock_fd);
        return 0;
    }
    bulk_set set;
    bulk_set_opts so = {a.img_key, a.caption_key, text};
    if ((rc = bulk_set_open(a.data, &so, &set)) != 0) {
        es_manifest_free(&man);
        if (lock_fd >= 0)
            close(lock_fd);
        return cmd_lib_error(rc);
    }
    clipcl_model *model = NULL;
    rc = cmd_model_open(&a.mo, &model);
    if (!rc) /* before the output folder is started */
        rc = cmd_model_tower_check(model, text ? CLIPCL_TOWER_TEXT : CLIPCL_TOWER_IMAGE);
    int dim = model ? clipcl_embed_dim(model) : 0;
    if (!rc)
        rc = resuming ? check_resume(&a, &man, dim, set.n)
                      : start_fresh(&a, &man, text, dim, set.n, &lock_fd);
    bulk_run r = {0};
    r.label = argv[0];
    r.dir = a.out;
    r.set = &set;
    r.model = model;
    r.man = &man;
    r.batch = a.mo.batch;
    r.workers = a.workers;
    r.begin = man.n_shards ? man.shards[man.n_shards - 1].input_end : 0;
    if (!rc && resuming) {
        remove_stale_temporaries(a.out);
        rc = load_failures(&r);
    }
    if (!rc && resuming)
        fprintf(stderr, "%s: resuming at input %" PRId64 " of %" PRId64 " (%d shard%s done)\n",
                a.out, r.begin, set.n, man.n_shards, man.n_shards == 1 ? "" : "s");
    if (!rc)
        rc = text ? bulk_run_texts(&r) : bulk_run_images(&r);
    bulk_failures_free(&r);
    clipcl_free(model);
    bulk_set_free(&set);
    es_manifest_free(&man);
    if (lock_fd >= 0)
        close(lock_fd);
    return rc;
}
