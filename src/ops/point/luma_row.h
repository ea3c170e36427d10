/* grayscale's inner loop (luma_row.c): luma of a row of RGB or RGBA pixels,
 * scalar or with vector instructions, the same bytes either way. */
#ifndef TESSERA_OPS_POINT_LUMA_ROW_H
#define TESSERA_OPS_POINT_LUMA_ROW_H

#include <stdint.h>

#include "util/simd.h"

/* OpenCV 4.6's BGR2GRAY weights in 15-bit fixed point. */
enum { TSR_LUMA_R = 9798, TSR_LUMA_G = 19235, TSR_LUMA_B = 3735, TSR_LUMA_SHIFT = 15 };

/* Y = (R*9798 + G*19235 + B*3735 + 2^14) >> 15 of n pixels `bands` (3 or
 * 4) bytes apart into d; with 4 bands each luma byte is followed by the
 * pixel's alpha. `level` picks the instruction set (tsr_simd_active()). */
void tsr_luma_row(tsr_simd_level level, const uint8_t *s, uint8_t *d, int n, int bands);

#endif
