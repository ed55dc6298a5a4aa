/* train/dist.h over MPI (Open MPI from Debian; any MPI-3 library works).
 *
 * Every wait is a non-blocking operation tested in a loop against a
 * deadline, never a blocking collective: MPI has no timeout of its own, and
 * a peer killed with SIGKILL would otherwise leave the survivors blocked
 * for ever (or until the launcher notices and kills them without a word
 * from clipcl). The job communicator is a duplicate of MPI_COMM_WORLD with
 * MPI_ERRORS_RETURN, so a broken connection comes back as a status. */
#include "train/dist.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/clock.h"
#include "runtime/status.h"

#define ROLL_TAG 7301
#define WAIT_TIMEOUT (-1) /* wait_all: the deadline passed (not a cc_code) */

static struct {
    int on;            /* MPI initialised by us */
    int rank, size;
    MPI_Comm comm;
    double timeout;
} g = {0, 0, 1, MPI_COMM_NULL, 15.0};

static int launched_by_mpi(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "PMI_RANK",
                                       "MPI_LOCALNRANKS"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i]))
            return 1;
    return 0;
}

static int mpi_fail(int err, const char *what)
{
    char s[MPI_MAX_ERROR_STRING];
    int n = 0;
    if (MPI_Error_string(err, s, &n) != MPI_SUCCESS)
        snprintf(s, sizeof s, "MPI error %d", err);
    return cc_fail(CC_ERR_IO, "rank %d: %s failed: %s (a peer rank lost?)", g.rank, what, s);
}

int train_dist_init(void)
{
    const char *t = getenv("CLIPCL_DIST_TIMEOUT");
    if (t && atof(t) > 0)
        g.timeout = atof(t);
    if (g.on || !launched_by_mpi())
        return CC_OK;
    int provided = 0, err = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
    if (err != MPI_SUCCESS)
        return cc_fail(CC_ERR_IO, "MPI_Init_thread failed (error %d)", err);
    g.on = 1;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    if ((err = MPI_Comm_dup(MPI_COMM_WORLD, &g.comm)) != MPI_SUCCESS)
        return mpi_fail(err, "MPI_Comm_dup");
    MPI_Comm_set_errhandler(g.comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(g.comm, &g.rank);
    MPI_Comm_size(g.comm, &g.size);
    return CC_OK;
}

int train_dist_available(void) { return 1; }
int train_dist_rank(void) { return g.rank; }
int train_dist_size(void) { return g.size; }

int train_dist_local_rank(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "MPI_LOCALRANKID"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v)
            return atoi(v);
    }
    return g.rank;
}

void train_dist_set_timeout(double seconds)
{
    if (seconds > 0)
        g.timeout = seconds;
}
double train_dist_timeout(void) { return g.timeout; }

static void nap(void)
{
    struct timespec ts = {0, 200000}; /* 0.2 ms: the wait stays cheap on a shared core */
    nanosleep(&ts, NULL);
}

/* Tests the n requests until all complete or the deadline passes.
 * done[i] (may be NULL) says which completed. */
static int wait_all(MPI_Request *req, int n, double timeout_s, int *done, const char *what)
{
    double start = cc_now_s(), end = start + timeout_s;
    int left = n;
    for (int i = 0; done && i < n; i++)
        done[i] = 0;
    for (;;) {
        left = 0;
        for (int i = 0; i < n; i++) {
            if (req[i] == MPI_REQUEST_NULL) {
                if (done)
                    done[i] = 1;
                continue;
            }
            int flag = 0, err = MPI_Test(&req[i], &flag, MPI_STATUS_IGNORE);
            if (err != MPI_SUCCESS)
                return mpi_fail(err, what);
            if (flag) {
                if (done)
                    done[i] = 1;
            } else {
                left++;
            }
        }
        if (!left)
            return CC_OK;
        double now = cc_now_s();
        if (now > end)
            return WAIT_TIMEOUT;
        /* MPI progresses a non-blocking collective only inside MPI calls:
         * test back to back for the first 2 ms (a step's exchange is
         * usually done by then), then let the core go between tests. */
        if (now - start > 0.002)
            nap();
    }
}

/* One small message to and from every peer (tag): got[p] = peer p's value;
 * missing: the peers not heard from by the deadline ("1, 3"). Returns
 * CC_OK, WAIT_TIMEOUT or a cc_code. */
static int roll(int tag, long long mine, double timeout_s, long long *got, char *missing, size_t len)
{
    int n = g.size, rc = CC_OK;
    MPI_Request *req = calloc((size_t)(2 * n), sizeof *req);
    int *done = calloc((size_t)(2 * n), sizeof *done);
    missing[0] = '\0';
    if (!req || !done) {
        free(req);
        free(done);
        return cc_fail(CC_ERR_NOMEM, "rank %d: out of memory", g.rank);
    }
    for (int p = 0; p < n; p++) {
        req[p] = req[n + p] = MPI_REQUEST_NULL;
        if (p == g.rank)
            continue;
        int e1 = MPI_Irecv(&got[p], 1, MPI_LONG_LONG, p, tag, g.comm, &req[p]);
        int e2 = MPI_Isend(&mine, 1, MPI_LONG_LONG, p, tag, g.comm, &req[n + p]);
        if (!rc && (e1 != MPI_SUCCESS || e2 != MPI_SUCCESS))
            rc = mpi_fail(e1 != MPI_SUCCESS ? e1 : e2, "the roll call");
    }
    if (!rc)
        rc = wait_all(req, n, timeout_s, done, "the roll call");
    if (rc == WAIT_TIMEOUT) {
        size_t k = 0;
        for (int p = 0; p < n; p++)
            if (p != g.rank && !done[p] && k + 16 < len)
                k += (size_t)snprintf(missing + k, len - k, "%s%d", k ? ", " : "", p);
    }
    if (!rc)
        rc = wait_all(req + n, n, timeout_s, NULL, "the roll call");
    /* On an error the job ends (train_dist_abort): pending requests are
     * left to MPI_Abort. */
    free(req);
    free(done);
    return rc;
}

/* A collective ran past the deadline: every live rank gets here at about
 * the same time (each waited the same timeout), so a second, shorter roll
 * call among them names the ranks that stay silent. */
static int timed_out(const char *what, double timeout_s)
{
    static int tag = ROLL_TAG + 1;
    long long *got = calloc((size_t)g.size, sizeof *got);
    char missing[512] = "";
    double grace = timeout_s / 2 < 10 ? timeout_s / 2 + 1 : 10;
    int rc = got ? roll(tag++, -1, grace, got, missing, sizeof missing) : CC_ERR_NOMEM;
    free(got);
    if (rc == WAIT_TIMEOUT && missing[0])
        return cc_fail(CC_ERR_IO, "rank %d: lost rank %s: no answer within %.0f s during %s "
                       "(killed, crashed or stuck; $CLIPCL_DIST_TIMEOUT sets the limit)",
                       g.rank, missing, timeout_s, what);
    return cc_fail(CC_ERR_IO, "rank %d: no answer from the other ranks within %.0f s during %s "
                   "(a rank was lost or is stuck; $CLIPCL_DIST_TIMEOUT sets the limit)",
                   g.rank, timeout_s, what);
}

static int wait_one(MPI_Request *r, double timeout_s, const char *what)
{
    int rc = wait_all(r, 1, timeout_s, NULL, what);
    return rc == WAIT_TIMEOUT ? timed_out(what, timeout_s) : rc;
}

int train_dist_roll_call(int64_t step, double timeout_s)
{
    if (g.size < 2)
        return CC_OK;
    long long mine = (long long)step, *got = calloc((size_t)g.size, sizeof *got);
    char missing[512] = "";
    if (!got)
        return cc_fail(CC_ERR_NOMEM, "rank %d: out of memory", g.rank);
    int rc = roll(ROLL_TAG, mine, timeout_s, got, missing, sizeof missing);
    if (rc == WAIT_TIMEOUT)
        rc = missing[0] ? cc_fail(CC_ERR_IO, "rank %d: lost rank %s: no word from it within %.0f s "
                                  "at step %lld (killed, crashed or stuck; $CLIPCL_DIST_TIMEOUT sets "
                                  "the limit)", g.rank, missing, timeout_s, mine)
                        : cc_fail(CC_ERR_IO, "rank %d: the roll call at step %lld did not complete "
                                  "within %.0f s", g.rank, mine, timeout_s);
    for (int p = 0; !rc && p < g.size; p++)
        if (p != g.rank && got[p] != mine)
            rc = cc_fail(CC_ERR_INVALID, "rank %d is at step %lld, rank %d at step %lld: the ranks "
                         "went out of step", p, got[p], g.rank, mine);
    free(got);
    return rc;
}

int train_dist_bcast(void *buf, size_t bytes, int root)
{
    if (g.size < 2)
        return CC_OK;
    /* In chunks: MPI counts are ints. */
    const size_t chunk = (size_t)1 << 30;
    for (size_t off = 0; off < bytes; off += chunk) {
        size_t n = bytes - off < chunk ? bytes - off : chunk;
        MPI_Request r;
        int err = MPI_Ibcast((char *)buf + off, (int)n, MPI_BYTE, root, g.comm, &r);
        if (err != MPI_SUCCESS)
            return mpi_fail(err, "the broadcast");
        int rc = wait_one(&r, g.timeout, "the broadcast of the parameters");
        if (rc)
            return rc;
    }
    return CC_OK;
}

size_t train_dist_scratch_floats(size_t n)
{
    size_t s = (size_t)(g.size > 0 ? g.size : 1);
    return (n + s - 1) / s * s;
}

int train_dist_sum_f32(float *buf, size_t n, float *scratch)
{
    if (g.size < 2 || n == 0)
        return CC_OK;
    size_t s = (size_t)g.size, padded = train_dist_scratch_floats(n), block = padded / s;
    if (block > (size_t)1 << 30)
        return cc_fail(CC_ERR_INVALID, "rank %d: a bucket of %zu floats is too large for one "
                       "exchange", g.rank, n);
    memcpy(scratch, buf, n * sizeof *buf);
    memset(scratch + n, 0, (padded - n) * sizeof *buf);
    /* Reduce-scatter then all-gather: each slice is summed on exactly one
     * rank, so every rank gets the same bits (an all-reduce may sum in a
     * rank-dependent order), which keeps the weights bit-identical. */
    float *mine = buf; /* the block floats of this rank's slice of the sum */
    float *tmp = NULL;
    if (block > n) {
        tmp = malloc(padded * sizeof *tmp);
        if (!tmp)
            return cc_fail(CC_ERR_NOMEM, "rank %d: out of memory", g.rank);
        mine = tmp;
    }
    MPI_Request r;
    int err = MPI_Ireduce_scatter_block(scratch, mine, (int)block, MPI_FLOAT, MPI_SUM, g.comm, &r);
    int rc = err != MPI_SUCCESS ? mpi_fail(err, "the gradient reduce-scatter")
                                : wait_one(&r, g.timeout, "the gradient all-reduce");
    if (!rc) {
        err = MPI_Iallgather(mine, (int)block, MPI_FLOAT, scratch, (int)block, MPI_FLOAT, g.comm, &r);
        rc = err != MPI_SUCCESS ? mpi_fail(err, "the gradient all-gather")
                                : wait_one(&r, g.timeout, "the gradient all-reduce");
    }
    if (!rc)
        memcpy(buf, scratch, n * sizeof *buf);
    free(tmp);
    return rc;
}

int train_dist_allgather(const void *mine, size_t bytes, void *out)
{
    if (g.size < 2) {
        if (out != mine)
            memmove(out, mine, bytes);
        return CC_OK;
    }
    if (bytes > (size_t)1 << 30)
        return cc_fail(CC_ERR_INVALID, "rank %d: %zu bytes is too large for one all-gather", g.rank, bytes);
    MPI_Request r;
    int err = MPI_Iallgather(mine, (int)bytes, MPI_BYTE, out, (int)bytes, MPI_BYTE, g.comm, &r);
    return err != MPI_SUCCESS ? mpi_fail(err, "the all-gather") : wait_one(&r, g.timeout, "the all-gather");
}

int train_dist_allgather_inplace(void *buf, size_t bytes)
{
    if (g.size < 2)
        return CC_OK;
    if (bytes > (size_t)1 << 30)
        return cc_fail(CC_ERR_INVALID, "rank %d: %zu bytes is too large for one all-gather", g.rank, bytes);
    MPI_Request r;
    int err = MPI_Iallgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, (int)bytes, MPI_BYTE, g.comm, &r);
    return err != MPI_SUCCESS ? mpi_fail(err, "the all-gather") : wait_one(&r, g.timeout, "the all-gather");
}

int train_dist_check_equal(uint64_t value, const char *what)
{
    if (g.size < 2)
        return CC_OK;
    uint64_t *all = calloc((size_t)g.size, sizeof *all);
    if (!all)
        return cc_fail(CC_ERR_NOMEM, "rank %d: out of memory", g.rank);
    int rc = train_dist_allgather(&value, sizeof value, all);
    char names[512] = "";
    size_t len = 0;
    for (int p = 1; !rc && p < g.size; p++)
        if (all[p] != all[0] && len + 16 < sizeof names)
            len += (size_t)snprintf(names + len, sizeof names - len, "%s%d", len ? ", " : "", p);
    if (!rc && len)
        rc = cc_fail(CC_ERR_INVALID, "%s differ across ranks: rank %s != rank 0 (hash %016llx)",
                     what, names, (unsigned long long)all[0]);
    free(all);
    return rc;
}

int train_dist_barrier(double timeout_s, const char *what)
{
    if (g.size < 2)
        return CC_OK;
    MPI_Request r;
    int err = MPI_Ibarrier(g.comm, &r);
    return err != MPI_SUCCESS ? mpi_fail(err, what) : wait_one(&r, timeout_s, what);
}

void train_dist_finalize(void)
{
    if (!g.on)
        return;
    if (g.comm != MPI_COMM_NULL)
        MPI_Comm_free(&g.comm);
    MPI_Finalize();
    g.on = 0;
}

void train_dist_abort(int code)
{
    if (g.on && g.size > 1)
        MPI_Abort(MPI_COMM_WORLD, code ? code : 1);
}
