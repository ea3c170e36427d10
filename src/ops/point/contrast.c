/* contrast: v' = sat(round((v - 128) * factor + 128)), rounding halves away
 * from zero; factor 1 is the identity, 0 gives flat mid-gray. */
#include <math.h>

#include "ops/point/point.h"

static const tsr_param_spec params[] = {
    {"factor", TSR_PARAM_FLOAT, 1.5, 0, 10, NULL, false,
     "slope around mid-gray 128: > 1 more contrast, < 1 less",
     "How strongly tones move away from mid-gray: 1 keeps the image, above 1 adds contrast, below "
     "1 flattens it",
     "x"},
};

static void build(const tsr_op *op, uint8_t lut[256]) {
    double factor = op->values[0];
    for (int v = 0; v < 256; v++) {
        double t = round((v - 128) * factor + 128);
        lut[v] = t <= 0 ? 0 : (t >= 255 ? 255 : (uint8_t)t);
    }
}

static tsr_status prepare(tsr_ctx *ctx, tsr_op *op) {
    return tsr_point_lut_prepare(ctx, op, build);
}

const tsr_op_desc tsr_op_contrast = {
    .name = "contrast",
    .version = 1,
    .kind = TSR_OP_POINT,
    .summary = "linear contrast around 128: sat(round((v-128)*factor+128))",
    .bands_rule = "same (alpha unchanged)",
    .params = params,
    .n_params = 1,
    .prepare = prepare,
    .release = tsr_point_lut_release,
    .run = tsr_point_lut_run,
};
