/* sharpen: the fixed kernel [0 -1 0; -1 5 -1; 0 -1 0], byte-exact with
 * OpenCV cv2.filter2D(img, -1, k) (reflect-101 borders). */
#include "ops/convolve/convolve.h"

static const double kernel[9] = {0, -1, 0, -1, 5, -1, 0, -1, 0};

static tsr_status prepare(tsr_ctx *ctx, tsr_op *op) {
    return tsr_filter2d_prepare(ctx, op, kernel, 3, 1, 0);
}

const tsr_op_desc tsr_op_sharpen = {
    .name = "sharpen",
    .version = 1,
    .kind = TSR_OP_STENCIL,
    .summary = "3x3 sharpen [0 -1 0; -1 5 -1; 0 -1 0] (OpenCV cv2.filter2D, byte-exact)",
    .bands_rule = "same (alpha unchanged)",
    .params = NULL,
    .n_params = 0,
    .prepare = prepare,
    .release = tsr_convolve_release,
    .run = tsr_filter2d_run,
};
