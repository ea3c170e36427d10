/* The point family's operations. */
#include "ops/families.h"
#include "ops/point/point.h"

const tsr_op_desc *const tsr_ops_point[] = {
    &tsr_op_grayscale, &tsr_op_invert, &tsr_op_brightness, &tsr_op_contrast, &tsr_op_gamma,
    &tsr_op_threshold, NULL,
};

/* TEST ONLY: a second version of a real op, so the service tests can show
 * that jobs recorded with version 1 rerun with version 1's bytes after an
 * "upgrade" made version 2 the default (issue 14). Registered only after
 * tsr_op_enable_test_versions() (TESSERA_TEST_OP_V2=1). */
const tsr_op_desc *const tsr_ops_test_versions[] = {
    &tsr_op_brightness_test_v2,
    NULL,
};
