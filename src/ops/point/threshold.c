/* threshold: per colour band, v >= value -> 255 else 0. (OpenCV's
 * THRESH_BINARY is v > t, i.e. value = t + 1.) */
#include "ops/point/point.h"

static const tsr_param_spec params[] = {
    {"value", TSR_PARAM_INT, 127, 0, 255, NULL, false, "samples >= value become 255, the others 0",
     "Brightness from which a pixel turns white; darker pixels turn black", "levels"},
};

static void build(const tsr_op *op, uint8_t lut[256]) {
    int value = (int)op->values[0];
    for (int v = 0; v < 256; v++)
        lut[v] = v >= value ? 255 : 0;
}

static tsr_status prepare(tsr_ctx *ctx, tsr_op *op) {
    return tsr_point_lut_prepare(ctx, op, build);
}

const tsr_op_desc tsr_op_threshold = {
    .name = "threshold",
    .version = 1,
    .kind = TSR_OP_POINT,
    .summary = "binary threshold per colour band: v >= value -> 255, else 0",
    .bands_rule = "same (alpha unchanged)",
    .params = params,
    .n_params = 1,
    .prepare = prepare,
    .release = tsr_point_lut_release,
    .run = tsr_point_lut_run,
};
