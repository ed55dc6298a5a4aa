/* train/dist.h without MPI: one process is the whole job. */
#include "train/dist.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/status.h"

static double g_timeout = 15.0;

/* Started as one of several ranks (mpirun, srun -n N) by a build without
 * MPI: every copy would train alone and write the same run directory. */
int train_dist_init(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && atoi(v) > 1)
            return cc_fail(CC_ERR_UNSUPPORTED, "started as one of %d ranks (%s), but this clipcl was "
                           "built without MPI: install libopenmpi-dev and rebuild (meson -Dmpi=enabled); "
                           "docs/distributed.md", atoi(v), vars[i]);
    }
    return CC_OK;
}
int train_dist_available(void) { return 0; }
int train_dist_rank(void) { return 0; }
int train_dist_size(void) { return 1; }
int train_dist_local_rank(void) { return 0; }
void train_dist_set_timeout(double seconds)
{
    if (seconds > 0)
        g_timeout = seconds;
}
double train_dist_timeout(void) { return g_timeout; }
int train_dist_roll_call(int64_t step, double timeout_s)
{
    (void)step;
    (void)timeout_s;
    return CC_OK;
}
int train_dist_bcast(void *buf, size_t bytes, int root)
{
    (void)buf;
    (void)bytes;
    (void)root;
    return CC_OK;
}
size_t train_dist_scratch_floats(size_t n) { return n; }
int train_dist_sum_f32(float *buf, size_t n, float *scratch)
{
    (void)buf;
    (void)n;
    (void)scratch;
    return CC_OK;
}
int train_dist_allgather(const void *mine, size_t bytes, void *out)
{
    if (out != mine)
        memmove(out, mine, bytes);
    return CC_OK;
}
int train_dist_allgather_inplace(void *buf, size_t bytes)
{
    (void)buf;
    (void)bytes;
    return CC_OK;
}
int train_dist_check_equal(uint64_t value, const char *what)
{
    (void)value;
    (void)what;
    return CC_OK;
}
int train_dist_barrier(double timeout_s, const char *what)
{
    (void)timeout_s;
    (void)what;
    return CC_OK;
}
void train_dist_finalize(void) {}
void train_dist_abort(int code) { (void)code; }
