/* The convolve family's operations. */
#include "ops/convolve/convolve.h"
#include "ops/families.h"

const tsr_op_desc *const tsr_ops_convolve[] = {
    &tsr_op_gaussian_blur, &tsr_op_box_blur, &tsr_op_median, &tsr_op_sharpen,
    &tsr_op_convolve,      &tsr_op_sobel,    NULL,
};
