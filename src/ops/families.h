/* Each family folder defines one NULL-terminated table of its operations
 * (in its table.c); the registry concatenates them in this order. */
#ifndef TESSERA_OPS_FAMILIES_H
#define TESSERA_OPS_FAMILIES_H

#include "tessera/op.h"

extern const tsr_op_desc *const tsr_ops_point[];    /* ops/point: per-pixel ops */
extern const tsr_op_desc *const tsr_ops_convolve[]; /* ops/convolve: stencils */
extern const tsr_op_desc *const tsr_ops_edge[];     /* ops/edge: canny, hough */
extern const tsr_op_desc *const tsr_ops_geometry[]; /* ops/geometry: rotate, resize, crop... */
extern const tsr_op_desc *const tsr_ops_global[];   /* ops/global: equalize, otsu */
/* TEST ONLY (ops/point/table.c): extra versions of real ops, registered
 * only after tsr_op_enable_test_versions(). */
extern const tsr_op_desc *const tsr_ops_test_versions[];

#endif
