/* The global family's operations. */
#include "ops/families.h"

const tsr_op_desc *const tsr_ops_global[] = {
    NULL,
};
