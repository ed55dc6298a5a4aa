/* Data-parallel training across processes (train_dist_ prefix): the few
 * collectives `clipcl train` needs, over MPI when the build has it
 * (meson option -Dmpi, auto-detected; docs/distributed.md) and a
 * single-process stand-in otherwise, so callers never test for MPI.
 *
 * Process-wide, like MPI itself: train_dist_init() once before anything
 * else in the process (the `clipcl train` command calls it), then
 * train_dist_finalize() or, after an error on any rank, train_dist_abort().
 *
 * No hangs: every call that waits for other ranks has a deadline
 * (train_dist_set_timeout; $CLIPCL_DIST_TIMEOUT seconds, default 15). The
 * communicator's error handler is MPI_ERRORS_RETURN, so a broken peer
 * connection is a status, not an abort without a message; a rank that
 * does not arrive in time is named in the error: train_dist_roll_call()
 * exchanges one small message with every peer and names those that stay
 * silent; a collective that runs past the deadline is followed by a
 * second roll call among the live ranks (at most 10 s more) that names the
 * silent ones, so with the default a lost rank is named within 25 s.
 * Library code: nothing is printed, errors go through cc_fail. */
#ifndef CLIPCL_TRAIN_DIST_H
#define CLIPCL_TRAIN_DIST_H

#include <stddef.h>
#include <stdint.h>

/* Starts MPI when the process was launched by mpirun/srun (their
 * environment variables say so); a plain run stays a single rank and never
 * touches MPI. Returns CC_OK or a cc_code. */
int train_dist_init(void);
/* 1 when this build has MPI. */
int train_dist_available(void);
int train_dist_rank(void);
int train_dist_size(void);
/* Rank among the ranks of this node (for device choice): OMPI/Slurm's
 * local rank when the launcher says, else the rank. */
int train_dist_local_rank(void);
/* Seconds every waiting call allows the slowest peer (> 0). */
void train_dist_set_timeout(double seconds);
double train_dist_timeout(void);

/* Every rank: the step number it reached. CC_ERR_IO naming the ranks that
 * did not answer within the timeout (lost or stuck), or a rank at another
 * step. */
int train_dist_roll_call(int64_t step, double timeout_s);
/* Root's bytes to every rank. */
int train_dist_bcast(void *buf, size_t bytes, int root);
/* Element-wise sum over ranks, the same bits on every rank (each slice is
 * reduced by one rank and then gathered, never reduced twice). n floats;
 * scratch: at least train_dist_scratch_floats(n) floats. */
size_t train_dist_scratch_floats(size_t n);
int train_dist_sum_f32(float *buf, size_t n, float *scratch);
/* rows_bytes from each rank, concatenated in rank order into out
 * (size * bytes). */
int train_dist_allgather(const void *mine, size_t bytes, void *out);
/* In place: buf holds size * bytes, this rank's at rank * bytes; fills the
 * other ranks' parts (MPI_Allgather with MPI_IN_PLACE). */
int train_dist_allgather_inplace(void *buf, size_t bytes);
/* CC_OK when every rank passed the same value; else CC_ERR_INVALID naming the ranks whose value differs
 * from rank 0's (what: what the value is, for the message). */
int train_dist_check_equal(uint64_t value, const char *what);
/* Waits for every rank (deadline timeout_s). */
int train_dist_barrier(double timeout_s, const char *what);

/* Ends MPI normally (no-op without it). */
void train_dist_finalize(void);
/* Ends every rank of the job after an error (MPI_Abort); returns only
 * without MPI or on a single rank. */
void train_dist_abort(int code);

#endif
