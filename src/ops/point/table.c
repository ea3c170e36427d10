/* The point family's operations. */
#include "ops/families.h"
#include "ops/point/point.h"

const tsr_op_desc *const tsr_ops_point[] = {
    &tsr_op_grayscale, &tsr_op_invert, &tsr_op_brightness, &tsr_op_contrast, &tsr_op_gamma,
    &tsr_op_threshold, NULL,
};
