/* The geometry family's operations. */
#include "ops/families.h"
#include "ops/geometry/geometry.h"

const tsr_op_desc *const tsr_ops_geometry[] = {
    &tsr_op_rotate,    &tsr_op_rotate90,  &tsr_op_rotate180,
    &tsr_op_rotate270, &tsr_op_flip,      &tsr_op_resize,
    &tsr_op_crop,      &tsr_op_thumbnail, NULL,
};
