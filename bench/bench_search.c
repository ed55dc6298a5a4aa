/* Time of one `clipcl search` query over an index of random unit rows.
 *
 *   bench_search [--rows N] [--dim D] [--shard-size S] [--k K] [--threads T]
 *                [--repeats R] [--dir DIR] [--keep]
 *
 * Writes N random unit rows of D floats (default 1,000,000 x 512) as
 * DIR/img_emb_NNNN.npy shards of S rows (default 10,000, the bulk writer's
 * default) with their metadata files, in a fresh folder under DIR (default
 * $TMPDIR or /tmp), then times embidx_search - the exact search of `clipcl
 * search`, without the model - for one random query: the first run (shards
 * just written, so in the page cache unless memory is short) and the minimum
 * of R more. Prints rows/s and GB/s of the minimum. Checks the result against
 * a single-threaded search. The folder is removed unless --keep.
 *
 * 1 M x 512 is 2 GB of .npy on disk: run it on a quiet machine. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/emb_index.h"
#include "io/emb_search.h"
#include "io/npy.h"
#include "runtime/clock.h"
#include "runtime/rng.h"
#include "runtime/status.h"

static long long arg_ll(const char *opt, const char *v, long long lo, long long hi)
{
    char *end = NULL;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (!*v || *end || errno || x < lo || x > hi) {
        fprintf(stderr, "bench_search: %s \"%s\": expected an integer from %lld to %lld\n", opt, v,
                lo, hi);
        exit(2);
    }
    return x;
}

/* Uniform in [-1, 1) from splitmix64; rows are normalised after. */
static float rnd(uint64_t *s) { return (float)(2.0 * cc_rng_uniform(s) - 1.0); }

static void unit_rows(float *x, int64_t rows, int dim, uint64_t *s)
{
    for (int64_t i = 0; i < rows; i++) {
        float *r = x + (size_t)i * (size_t)dim;
        double n = 0;
        for (int j = 0; j < dim; j++) {
            r[j] = rnd(s);
            n += (double)r[j] * r[j];
        }
        float inv = (float)(1.0 / sqrt(n));
        for (int j = 0; j < dim; j++)
            r[j] *= inv;
    }
}

static int write_index(const char *dir, int64_t rows, int dim, int64_t shard, uint64_t *seed)
{
    float *x = malloc((size_t)shard * (size_t)dim * sizeof *x);
    char path[4200]; /* dir is at most 4095 bytes */
    if (!x)
        return 1;
    int s = 0;
    for (int64_t done = 0; done < rows; done += shard, s++) {
        int64_t n = rows - done < shard ? rows - done : shard;
        unit_rows(x, n, dim, seed);
        int64_t shape[2] = {n, dim};
        snprintf(path, sizeof path, "%s/img_emb_%04d.npy", dir, s);
        if (npy_write_f32(path, x, shape, 2) != CC_OK) {
            fprintf(stderr, "bench_search: %s\n", cc_last_error());
            free(x);
            return 1;
        }
        snprintf(path, sizeof path, "%s/metadata_%04d.csv", dir, s);
        FILE *f = fopen(path, "w");
        if (!f) {
            fprintf(stderr, "bench_search: cannot write %s\n", path);
            free(x);
            return 1;
        }
        fprintf(f, "key,path,member,caption\n");
        for (int64_t i = 0; i < n; i++)
            fprintf(f, "%" PRId64 ",,,\n", done + i);
        fclose(f);
        if (isatty(2))
            fprintf(stderr, "\rwriting shards: %" PRId64 " / %" PRId64 " rows", done + n, rows);
    }
    if (isatty(2))
        fprintf(stderr, "\n");
    free(x);
    return 0;
}

/* Field by field: the struct has padding. */
static int same_hits(const embidx_hit *a, const embidx_hit *b, int n)
{
    for (int i = 0; i < n; i++)
        if (a[i].row != b[i].row || memcmp(&a[i].score, &b[i].score, sizeof(float)) != 0)
            return 0;
    return 1;
}

int main(int argc, char **argv)
{
    long long rows = 1000000, dim = 512, shard = 10000, k = 10, repeats = 5;
    long long threads = sysconf(_SC_NPROCESSORS_ONLN) > 0 ? sysconf(_SC_NPROCESSORS_ONLN) : 1;
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    int keep = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--keep") == 0) {
            keep = 1;
            continue;
        }
        if (!v) {
            fprintf(stderr, "bench_search: %s needs a value (see the comment at the top of "
                            "bench/bench_search.c)\n", a);
            return 2;
        }
        i++;
        if (strcmp(a, "--rows") == 0)
            rows = arg_ll(a, v, 1, 1LL << 32);
        else if (strcmp(a, "--dim") == 0)
            dim = arg_ll(a, v, 1, 1 << 16);
        else if (strcmp(a, "--shard-size") == 0)
            shard = arg_ll(a, v, 1, 1LL << 30);
        else if (strcmp(a, "--k") == 0)
            k = arg_ll(a, v, 1, EMBIDX_MAX_K);
        else if (strcmp(a, "--threads") == 0)
            threads = arg_ll(a, v, 1, 1024);
        else if (strcmp(a, "--repeats") == 0)
            repeats = arg_ll(a, v, 1, 1000);
        else if (strcmp(a, "--dir") == 0)
            base = v;
        else {
            fprintf(stderr, "bench_search: unknown option \"%s\"\n", a);
            return 2;
        }
    }
    if (k > rows)
        k = rows;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/bench_search-XXXXXX", base);
    if (!mkdtemp(dir)) {
        fprintf(stderr, "bench_search: cannot make a folder under %s: %s\n", base, strerror(errno));
        return 1;
    }
    uint64_t seed = 12345;
    int rc = write_index(dir, rows, (int)dim, shard, &seed);
    embidx ix;
    if (!rc && embidx_open(&ix, dir, EMBIDX_IMAGE) != CC_OK) {
        fprintf(stderr, "bench_search: %s\n", cc_last_error());
        rc = 1;
    }
    float *q = malloc((size_t)dim * sizeof *q);
    embidx_hit *hits = malloc((size_t)k * sizeof *hits), *ref = malloc((size_t)k * sizeof *ref);
    if (!rc && (!q || !hits || !ref))
        rc = 1;
    if (!rc) {
        unit_rows(q, 1, (int)dim, &seed);
        double best = INFINITY, first = 0;
        int n = 0, nref = 0;
        for (long long r = 0; r <= repeats && !rc; r++) {
            double t0 = cc_now_s();
            rc = embidx_search(&ix, q, (int)k, (int)threads, hits, &n) != CC_OK;
            double t = cc_now_s() - t0;
            if (r == 0)
                first = t;
            else if (t < best)
                best = t;
        }
        if (!rc)
            rc = embidx_search(&ix, q, (int)k, 1, ref, &nref) != CC_OK;
        if (rc) {
            fprintf(stderr, "bench_search: %s\n", cc_last_error());
        } else if (n != nref || !same_hits(hits, ref, n)) {
            fprintf(stderr, "bench_search: %d threads and 1 thread disagree\n", (int)threads);
            rc = 1;
        } else {
            double gb = (double)rows * (double)dim * 4.0 / 1e9;
            printf("rows %lld  dim %lld  shards of %lld  k %lld  threads %lld\n", rows, dim, shard, k,
                   threads);
            printf("first query: %.4f s\n", first);
            printf("best of %lld: %.4f s  (%.3g rows/s, %.2f GB/s)\n", repeats, best,
                   (double)rows / best, gb / best);
            printf("top hit: row %" PRId64 " score %.6f\n", hits[0].row, hits[0].score);
        }
        embidx_close(&ix);
    }
    free(q);
    free(hits);
    free(ref);
    if (!keep) {
        char cmd[4200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "bench_search: could not remove %s\n", dir);
    } else {
        printf("index kept in %s\n", dir);
    }
    return rc;
}
