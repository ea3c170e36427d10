/* resize: scale by a factor or to a size (= cv2.resize, 8-bit, byte-exact for
 * linear, area, lanczos, nearest; see docs/internals/ops-geometry.md). */
#include <math.h>

#include "ops/geometry/geometry.h"

enum { P_SCALE, P_WIDTH, P_HEIGHT, P_INTERP };

static const char *const interps[] = {"linear", "area", "lanczos", "nearest", "cubic", NULL};

static const tsr_param_spec params[] = {
    {"scale", TSR_PARAM_FLOAT, 1, 0.001, 100, NULL, true,
     "factor for both sides (cv2.resize fx=fy=scale)",
     "Size factor for both sides, instead of width and height: 0.5 halves, 2 doubles", "x"},
    {"width", TSR_PARAM_INT, 0, 1, 65500, NULL, true,
     "output width (alone: height keeps the aspect ratio)",
     "New width; given alone, the height follows the aspect ratio", "px"},
    {"height", TSR_PARAM_INT, 0, 1, 65500, NULL, true,
     "output height (alone: width keeps the aspect ratio)",
     "New height; given alone, the width follows the aspect ratio", "px"},
    {"interp", TSR_PARAM_ENUM, 0, 0, 4, interps, false,
     "linear, area (best for shrinking), lanczos, nearest or cubic",
     "How new pixels are computed: area is best for shrinking, lanczos or cubic for enlarging, "
     "nearest keeps hard edges",
     ""},
};

/* Errors: scale together with width or height, or none of them. */
static tsr_status check(tsr_ctx *ctx, const tsr_op *op) {
    bool by_scale = op->given[P_SCALE], by_w = op->given[P_WIDTH], by_h = op->given[P_HEIGHT];
    if (by_scale == (by_w || by_h))
        return tsr_error(ctx, TSR_ERR_USAGE,
                         "resize: give either scale or width and/or height (%s)",
                         by_scale ? "not both" : "none given");
    return TSR_OK;
}

/* Output size and OpenCV's scale factors from the parameters. Errors: those
 * of check(), and an output side outside 1..65500 for this input. */
static tsr_status output_size(tsr_ctx *ctx, const tsr_op *op, int *w, int *h, double *isx,
                              double *isy) {
    bool by_scale = op->given[P_SCALE], by_w = op->given[P_WIDTH], by_h = op->given[P_HEIGHT];
    tsr_status st = check(ctx, op);
    if (st)
        return st;
    if (by_scale) {
        double s = op->values[P_SCALE];
        *w = (int)lrint(op->in_w * s);
        *h = (int)lrint(op->in_h * s);
        *isx = s;
        *isy = s;
    } else {
        *w = by_w ? (int)op->values[P_WIDTH] : 0;
        *h = by_h ? (int)op->values[P_HEIGHT] : 0;
        if (!by_h)
            *h = (int)floor(op->in_h * ((double)*w / op->in_w) + 0.5);
        if (!by_w)
            *w = (int)floor(op->in_w * ((double)*h / op->in_h) + 0.5);
    }
    if (*w < 1 || *h < 1 || *w > 65500 || *h > 65500)
        return tsr_error(ctx, TSR_ERR_USAGE,
                         "resize: %s gives a %dx%d output for the %dx%d input (each side must be "
                         "1..65500)",
                         by_scale ? "scale" : "width/height", *w, *h, op->in_w, op->in_h);
    if (!by_scale) {
        *isx = (double)*w / op->in_w;
        *isy = (double)*h / op->in_h;
    }
    return TSR_OK;
}

static tsr_status prepare(tsr_ctx *ctx, tsr_op *op) {
    int w = 0, h = 0;
    double isx = 1, isy = 1;
    tsr_status st = output_size(ctx, op, &w, &h, &isx, &isy);
    if (st)
        return st;
    op->out_w = w;
    op->out_h = h;
    op->out_bands = op->in_bands;
    tsr_resample *rs;
    st = tsr_resample_new(ctx, "resize", (tsr_interp)op->values[P_INTERP], op->in_w, op->in_h,
                          op->in_bands, w, h, isx, isy, &rs);
    if (st)
        return st;
    op->state = rs;
    return TSR_OK;
}

const tsr_op_desc tsr_op_resize = {
    .name = "resize",
    .version = 1,
    .kind = TSR_OP_GEOMETRIC,
    .summary = "scale by a factor or to a size (cv2.resize)",
    .bands_rule = "same",
    .params = params,
    .n_params = 4,
    .check = check,
    .prepare = prepare,
    .release = tsr_resample_op_release,
    .need = tsr_resample_op_need,
    .run = tsr_resample_op_run,
};
