/* The global family's operations. */
#include "ops/families.h"
#include "ops/global/global.h"

const tsr_op_desc *const tsr_ops_global[] = {
    &tsr_op_equalize,
    &tsr_op_threshold_otsu,
    NULL,
};
