/*
 * JPEG's 8-point DCT-II basis (ITU T.81, A.3.3), one table for the whole core and for
 * freqload.dct: C[k][n] = c(k) cos((2n + 1) k pi / 16), c(0) = sqrt(1/8), else 1/2.
 * Built once, on first use, from any thread (pthread_once).
 */
#include "fl_core.h"

#include <math.h>
#include <pthread.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

static double basis[64];
static pthread_once_t basis_once = PTHREAD_ONCE_INIT;

static void build_basis(void) {
  int k, n;
  for (k = 0; k < 8; k++)
    for (n = 0; n < 8; n++)
      basis[8 * k + n] = (k == 0 ? sqrt(1.0 / 8) : sqrt(2.0 / 8)) * cos((2 * n + 1) * k * M_PI / 16);
}

const double *fl_dct_basis(void) {
  pthread_once(&basis_once, build_basis);
  return basis;
}
