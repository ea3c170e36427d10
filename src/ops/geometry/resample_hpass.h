/* The linear resize's horizontal pass with vector instructions
 * (resample_hpass.c): the same integer sums as resample.c's scalar loop. */
#ifndef TESSERA_OPS_GEOMETRY_RESAMPLE_HPASS_H
#define TESSERA_OPS_GEOMETRY_RESAMPLE_HPASS_H

#include <stdint.h>

#include "util/simd.h"

/* Output columns [x, end) of a 3- or 4-band row while their two taps can
 * be read as 8 bytes (`ofs[x] < wide_end`, ofs growing with x):
 * dst[b] = p[b] * coef[2x] + p[b + bands] * coef[2x + 1] with p = base +
 * ofs[x] * bands, `bands` ints per column from dst on (a 3-band column
 * stores a 4th int, the next column's first, so the last column of the
 * range is left to the caller). Returns the first column not done
 * (x when `level` has no vector path or `bands` is not 3 or 4). */
int tsr_resample_hpass_linear(tsr_simd_level level, const short *coef, const int *ofs,
                              const uint8_t *base, int x, int end, int wide_end, int bands,
                              int *dst);

#endif
