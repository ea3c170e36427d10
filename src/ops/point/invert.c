/* invert: 255 - v on the colour bands (OpenCV cv2.bitwise_not). */
#include "ops/point/point.h"

static void build(const tsr_op *op, uint8_t lut[256]) {
    (void)op;
    for (int v = 0; v < 256; v++)
        lut[v] = (uint8_t)(255 - v);
}

static tsr_status prepare(tsr_ctx *ctx, tsr_op *op) {
    return tsr_point_lut_prepare(ctx, op, build);
}

const tsr_op_desc tsr_op_invert = {
    .name = "invert",
    .version = 1,
    .kind = TSR_OP_POINT,
    .summary = "negative: 255 - v on colour bands (OpenCV cv2.bitwise_not)",
    .bands_rule = "same (alpha unchanged)",
    .params = NULL,
    .n_params = 0,
    .prepare = prepare,
    .release = tsr_point_lut_release,
    .run = tsr_point_lut_run,
};
