/* rotate's inner loop (rotate_span.c): one span of an output row, scalar or
 * with vector instructions, the same bytes either way. */
#ifndef TESSERA_OPS_GEOMETRY_ROTATE_SPAN_H
#define TESSERA_OPS_GEOMETRY_ROTATE_SPAN_H

#include "ops/geometry/geometry.h"
#include "util/simd.h"

/* OpenCV's fixed-point warp constants (imgwarp.cpp). */
#define TSR_ROTATE_AB_BITS    10 /* source positions in 1/1024 pixels */
#define TSR_ROTATE_INTER_BITS 5  /* bilinear fractions in 1/32 pixels */
#define TSR_ROTATE_COEF_BITS  15 /* weights sum to 1 << 15 */

/* Writes output columns [x_begin, x_end) of row y (out->bands bytes a
 * pixel, from d on), sampling `in` bilinearly with OpenCV's constant-0
 * border. `level` picks the instruction set (tsr_simd_active()); every
 * level gives the same bytes. */
void tsr_rotate_span(tsr_simd_level level, const tsr_rotate_state *st, const tsr_region *in, int y,
                     int x_begin, int x_end, uint8_t *d);

#endif
