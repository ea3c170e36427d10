/* The median op's kernels (private to ops/convolve and its tests). ksize 3
 * and 5 run min/max sorting networks over many pixels at once; 7 and up
 * the Perreault-Hebert histogram median, constant time per pixel. Both
 * give the exact median of the window with replicate borders, which is
 * what every path of OpenCV's cv2.medianBlur gives, so the bytes match it
 * for every ksize. Each kernel has a scalar twin and SIMD paths picked by
 * a tsr_simd_level; all give the same bytes (docs/internals/simd.md). */
#ifndef TESSERA_OPS_CONVOLVE_MEDIAN_H
#define TESSERA_OPS_CONVOLVE_MEDIAN_H

#include "ops/convolve/convolve.h"
#include "util/simd.h"

#define TSR_MEDIAN_KSIZE_MIN   3  /* smallest window side */
#define TSR_MEDIAN_KSIZE_MAX   99 /* largest window side (a 49-pixel halo) */
#define TSR_MEDIAN_SORTNET_MAX 5  /* largest side run on sorting networks */

/* out[j] for j < len: the median of rows[u][j + v * step] for u, v < k
 * (k 3 or 5). `level` must be one the CPU has (tsr_simd_cpu_has). */
void tsr_median_sortnet_row(tsr_simd_level level, int k, const uint8_t *const *rows, size_t len,
                            size_t step, uint8_t *out);

/* Fills out->rect's colour bands with the median of the (2r+1)^2 window,
 * replicate borders over the whole image, and copies alpha; `in` covers
 * out->rect grown by r and clipped to the image. `level` as above.
 * Errors: TSR_ERR_NOMEM, TSR_ERR_INTERNAL when `in` is short. */
tsr_status tsr_median_hist_run(tsr_simd_level level, int r, const tsr_region *in, tsr_region *out);

/* The median op's run() on one tile with `level`'s kernels. */
tsr_status tsr_median_run_level(const tsr_op *op, const tsr_region *in, tsr_region *out,
                                tsr_simd_level level);

#endif
