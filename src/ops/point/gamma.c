/* gamma: v' = round(255 * (v / 255) ^ (1 / gamma)), rounding halves away
 * from zero. gamma > 1 brightens mid-tones (decoding convention: the
 * parameter is the display gamma being compensated); 0 and 255 are fixed. */
#include <math.h>

#include "ops/point/point.h"

static const tsr_param_spec params[] = {
    {"gamma", TSR_PARAM_FLOAT, 2.2, 0.01, 10, NULL, false,
     "v' = 255*(v/255)^(1/gamma): > 1 brightens, < 1 darkens",
     "Tone curve: above 1 brightens the image (the dark tones most), below 1 darkens it, 1 changes "
     "nothing",
     ""},
};

static void build(const tsr_op *op, uint8_t lut[256]) {
    double inv = 1.0 / op->values[0];
    for (int v = 0; v < 256; v++) {
        double t = round(255.0 * pow(v / 255.0, inv));
        lut[v] = t <= 0 ? 0 : (t >= 255 ? 255 : (uint8_t)t);
    }
}

static tsr_status prepare(tsr_ctx *ctx, tsr_op *op) {
    return tsr_point_lut_prepare(ctx, op, build);
}

const tsr_op_desc tsr_op_gamma = {
    .name = "gamma",
    .version = 1,
    .kind = TSR_OP_POINT,
    .summary = "power-law lookup table: 255*(v/255)^(1/gamma)",
    .bands_rule = "same (alpha unchanged)",
    .params = params,
    .n_params = 1,
    .prepare = prepare,
    .release = tsr_point_lut_release,
    .run = tsr_point_lut_run,
};
