/* The point family's descriptors and what its files share (private to ops/point). */
#ifndef TESSERA_OPS_POINT_H
#define TESSERA_OPS_POINT_H

#include "tessera/op.h"
#include "util/simd.h"

typedef struct tsr_point_kernel tsr_point_kernel; /* ops/point/point_row.h */

extern const tsr_op_desc tsr_op_grayscale;  /* RGB -> luma, BT.601 fixed point */
extern const tsr_op_desc tsr_op_invert;     /* 255 - v */
extern const tsr_op_desc tsr_op_brightness; /* saturating v + delta */
/* TEST ONLY: brightness version 2, v + delta + 1 (see brightness.c). */
extern const tsr_op_desc tsr_op_brightness_test_v2;
extern const tsr_op_desc tsr_op_contrast;  /* stretch around 128 */
extern const tsr_op_desc tsr_op_gamma;     /* power-law lookup table */
extern const tsr_op_desc tsr_op_threshold; /* v >= value -> 255 else 0 */

/* Fills a 256-entry lookup table from the op's parameters. */
typedef void (*point_lut_fn)(const tsr_op *op, uint8_t lut[256]);

/* Prepares a same-size, same-bands op whose kernel is a lookup table built
 * by `build` and stored (owned, a tsr_point_kernel) in op->state. Errors:
 * out of memory. */
tsr_status tsr_point_lut_prepare(tsr_ctx *ctx, tsr_op *op, point_lut_fn build);
/* Frees the table of tsr_point_lut_prepare. */
void tsr_point_lut_release(tsr_op *op);
/* Maps the colour bands of `in` through the table in op->state into `out`
 * at the process's SIMD level; the alpha band of 2- and 4-band images is
 * copied unchanged. */
tsr_status tsr_point_lut_run(const tsr_op *op, const tsr_region *in, tsr_region *out);
/* The same at a given SIMD level (every level gives the same bytes); `in`
 * and `out` must not share memory. */
void tsr_point_apply_kernel(tsr_simd_level level, const tsr_point_kernel *kernel,
                            const tsr_region *in, tsr_region *out);

#endif
