/* Finite-difference checker for the autodiff tests: builds a forward graph
 * twice (once plain, once with loss = sum(out * r) for fixed random r and
 * g_backward appended), runs both on the ref backend, and compares each
 * analytic gradient with central differences of the loss, evaluated in
 * double on the host from the forward output. */
#ifndef CLIPCL_TEST_AD_CHECK_H
#define CLIPCL_TEST_AD_CHECK_H

#include <stdint.h>

#include "graph/graph.h"

#define ADC_MAX_WRT 8

/* Builds the forward graph (deterministically: both builds must give the
 * same ids) and returns the output tensor, filling wrt/n_wrt. param selects
 * a variant. Returns -1 on a builder failure. */
typedef int (*adc_build_fn)(graph *g, int param, int *wrt, int *n_wrt);

/* Input/param ranges: f32 tensors default to uniform [-1, 1]; i32 to
 * [0, 3]. Call from the build function (ids are the same in both builds). */
void adc_range(int tensor, float lo, float hi);

typedef struct adc_opts {
    double h;      /* central-difference step (default 2e-3) */
    double rtol;   /* |analytic - fd| <= rtol * max|fd| + atol per tensor (default 2e-3) */
    double atol;   /* default 1e-4 */
    int max_elems; /* elements checked per wrt tensor, spread evenly (default 40) */
    unsigned seed;
} adc_opts;

adc_opts adc_default(void);

/* Runs the check; prints one line per wrt tensor. Returns 0 when all agree,
 * 1 on a mismatch (printed), -1 when building or evaluating failed. */
int adc_check(const char *label, adc_build_fn build, int param, const adc_opts *o);

/* Uniform float in [lo, hi] from a small LCG (deterministic across hosts). */
float adc_rand(unsigned *state, float lo, float hi);

#endif
