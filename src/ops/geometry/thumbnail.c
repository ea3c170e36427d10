/* thumbnail: fit inside a width x height box keeping the aspect ratio, never
 * upscaling; area resampling (= cv2.resize INTER_AREA to that size). */
#include <math.h>

#include "ops/geometry/geometry.h"

enum { P_WIDTH, P_HEIGHT };

static const tsr_param_spec params[] = {
    {"width", TSR_PARAM_INT, 256, 1, 65500, NULL, false, "box width",
     "Largest width of the result; the image shrinks to fit and is never enlarged", "px"},
    {"height", TSR_PARAM_INT, 0, 1, 65500, NULL, true, "box height (default: the width)",
     "Largest height of the result (default: the width)", "px"},
};

/* Output = round(side * s) with s = min(W/w, H/h, 1), at least 1 pixel. Works
 * from whatever input size it gets (shrink-on-load may have shrunk it). */
static tsr_status prepare(tsr_ctx *ctx, tsr_op *op) {
    double bw = op->values[P_WIDTH];
    double bh = op->given[P_HEIGHT] ? op->values[P_HEIGHT] : bw;
    double s = fmin(fmin(bw / op->in_w, bh / op->in_h), 1.0);
    int w = (int)floor(op->in_w * s + 0.5), h = (int)floor(op->in_h * s + 0.5);
    op->out_w = w < 1 ? 1 : (w > (int)bw ? (int)bw : w);
    op->out_h = h < 1 ? 1 : (h > (int)bh ? (int)bh : h);
    op->out_bands = op->in_bands;
    tsr_resample *rs;
    tsr_status st = tsr_resample_new(
        ctx, "thumbnail", TSR_INTERP_AREA, op->in_w, op->in_h, op->in_bands, op->out_w, op->out_h,
        (double)op->out_w / op->in_w, (double)op->out_h / op->in_h, &rs);
    if (st)
        return st;
    op->state = rs;
    return TSR_OK;
}

const tsr_op_desc tsr_op_thumbnail = {
    .name = "thumbnail",
    .version = 1,
    .kind = TSR_OP_GEOMETRIC,
    .summary = "fit inside a box keeping the aspect ratio, never upscaling (area)",
    .bands_rule = "same",
    .params = params,
    .n_params = 2,
    .prepare = prepare,
    .release = tsr_resample_op_release,
    .need = tsr_resample_op_need,
    .run = tsr_resample_op_run,
};
