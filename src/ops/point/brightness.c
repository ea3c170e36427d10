/* brightness: saturating v + delta on the colour bands (OpenCV cv2.add). */
#include "ops/point/point.h"

static const tsr_param_spec params[] = {
    {"delta", TSR_PARAM_INT, 60, -255, 255, NULL, false,
     "added to every colour sample, saturated to 0..255",
     "How much lighter (positive) or darker (negative) to make every pixel", "levels"},
};

static void build(const tsr_op *op, uint8_t lut[256]) {
    int delta = (int)op->values[0];
    for (int v = 0; v < 256; v++)
        lut[v] = tsr_sat_u8(v + delta);
}

static tsr_status prepare(tsr_ctx *ctx, tsr_op *op) {
    return tsr_point_lut_prepare(ctx, op, build);
}

/* TEST ONLY: version 2 adds one level more than asked, a stand-in for an
 * op whose output changed. */
static void build_test_v2(const tsr_op *op, uint8_t lut[256]) {
    int delta = (int)op->values[0];
    for (int v = 0; v < 256; v++)
        lut[v] = tsr_sat_u8(v + delta + 1);
}

static tsr_status prepare_test_v2(tsr_ctx *ctx, tsr_op *op) {
    return tsr_point_lut_prepare(ctx, op, build_test_v2);
}

const tsr_op_desc tsr_op_brightness = {
    .name = "brightness",
    .version = 1,
    .kind = TSR_OP_POINT,
    .summary = "adds delta to colour samples with saturation (OpenCV cv2.add)",
    .bands_rule = "same (alpha unchanged)",
    .params = params,
    .n_params = 1,
    .prepare = prepare,
    .release = tsr_point_lut_release,
    .run = tsr_point_lut_run,
};

/* TEST ONLY (registered with TESSERA_TEST_OP_V2=1, see ops/point/table.c):
 * brightness version 2, whose output differs from version 1's. */
const tsr_op_desc tsr_op_brightness_test_v2 = {
    .name = "brightness",
    .version = 2,
    .kind = TSR_OP_POINT,
    .summary = "TEST ONLY version: adds delta + 1 to colour samples with saturation",
    .bands_rule = "same (alpha unchanged)",
    .params = params,
    .n_params = 1,
    .prepare = prepare_test_v2,
    .release = tsr_point_lut_release,
    .run = tsr_point_lut_run,
};
