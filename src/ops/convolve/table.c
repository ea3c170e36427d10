/* The convolve family's operations. */
#include "ops/families.h"

const tsr_op_desc *const tsr_ops_convolve[] = {
    NULL,
};
