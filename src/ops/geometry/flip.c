/* flip: mirror the image horizontally, vertically or both (= cv2.flip). */
#include "ops/geometry/geometry.h"

static const char *const axes[] = {"horizontal", "vertical", "both", NULL};

static const tsr_param_spec params[] = {
    {"axis", TSR_PARAM_ENUM, 0, 0, 2, axes, false,
     "horizontal (left-right, cv2.flip 1), vertical (upside down, 0) or both (-1)",
     "horizontal mirrors left to right, vertical mirrors top to bottom, both does both", ""},
};

static tsr_ortho mapping(const tsr_op *op) {
    int axis = (int)op->values[0];
    bool mirror_x = axis == 0 || axis == 2, mirror_y = axis == 1 || axis == 2;
    tsr_ortho m = {mirror_x ? -1 : 1,          0, mirror_x ? op->in_w - 1 : 0, 0, mirror_y ? -1 : 1,
                   mirror_y ? op->in_h - 1 : 0};
    return m;
}

static tsr_status prepare(tsr_ctx *ctx, tsr_op *op) {
    (void)ctx;
    op->out_w = op->in_w;
    op->out_h = op->in_h;
    op->out_bands = op->in_bands;
    return TSR_OK;
}

static tsr_rect need(const tsr_op *op, tsr_rect out) {
    return tsr_ortho_need(mapping(op), out, op->in_w, op->in_h);
}

static tsr_status run(const tsr_op *op, const tsr_region *in, tsr_region *out) {
    tsr_ortho_run(mapping(op), in, out);
    return TSR_OK;
}

const tsr_op_desc tsr_op_flip = {
    .name = "flip",
    .version = 1,
    .kind = TSR_OP_GEOMETRIC,
    .summary = "mirror horizontally, vertically or both (cv2.flip)",
    .bands_rule = "same",
    .params = params,
    .n_params = 1,
    .prepare = prepare,
    .need = need,
    .run = run,
};
