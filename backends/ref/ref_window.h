/* Private to backends/ref: the sliding window shared by conv2d, avgpool2d and
 * their backward ops. One image's [C, H, W] planes are unrolled into patch
 * rows [OH*OW, C*KH*KW] (im2row); the forward ops are then dot products over
 * a row, and the backward ops fill rows and scatter them back (the adjoint),
 * so every op walks the window through the same tap map. */
#ifndef CLIPCL_REF_WINDOW_H
#define CLIPCL_REF_WINDOW_H

#include <stdint.h>

#include "backends/ref/ref_ops.h"

typedef struct ref_window {
    int64_t C, H, W;               /* one image's input planes */
    int64_t KH, KW, sh, sw, ph, pw; /* zero padding, floor mode */
    int64_t OH, OW;
} ref_window;

typedef struct ref_taps {
    ref_window w;
    int64_t P, K;  /* rows (output positions) and taps per row */
    int64_t *idx;  /* [P*K] offset into the [C, H, W] planes, -1 in the padding */
    double *rows;  /* [P*K] patch rows, filled by gather or by the caller */
    double *acc;   /* [C*H*W] scatter accumulator */
} ref_taps;

/* Fails with CC_ERR_SHAPE unless t is 4-D (NCHW / OIHW). */
int ref_need4(const g_node *n, const g_tensor *t);

/* Reads avgpool's kernel/stride/pad: one square size in [0] alone, or both. */
void ref_pool_attr(const g_attr *a, int64_t *kh, int64_t *kw, int64_t *sh, int64_t *sw,
                   int64_t *ph, int64_t *pw);

/* Checks w (positive kernel and stride, no negative pad, OH/OW the floor-mode
 * output size) and builds its tap map; `out` names the tensor for errors. */
int ref_taps_init(ref_taps *t, const g_node *n, const ref_window *w, const char *out);
void ref_taps_free(ref_taps *t);

/* rows = x at each tap (0 in the padding); x is one image's [C, H, W]. */
void ref_taps_gather(ref_taps *t, const float *x);
/* dx = the sum, over every tap inside x, of the rows that read it (0 where
 * none does): the adjoint of gather, accumulated in double, rounded once. */
void ref_taps_scatter(ref_taps *t, float *dx);

#endif
