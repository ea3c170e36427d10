/* The edge family's operations. */
#include "ops/edge/edge.h"
#include "ops/families.h"

const tsr_op_desc *const tsr_ops_edge[] = {
    &tsr_op_canny, &tsr_op_canny_nms, &tsr_op_canny_hysteresis, &tsr_op_hough_lines, NULL,
};
