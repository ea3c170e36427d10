/* crop: keep a rectangle of the image. */
#include "ops/geometry/geometry.h"

enum { P_X, P_Y, P_WIDTH, P_HEIGHT };

static const tsr_param_spec params[] = {
    {"x", TSR_PARAM_INT, 0, 0, 65499, NULL, false, "left column of the rectangle",
     "Left edge of the kept rectangle, counted from the left of the image", "px"},
    {"y", TSR_PARAM_INT, 0, 0, 65499, NULL, false, "top row of the rectangle",
     "Top edge of the kept rectangle, counted from the top of the image", "px"},
    {"width", TSR_PARAM_INT, 0, 1, 65500, NULL, true, "columns kept (default: to the right edge)",
     "Width of the kept rectangle (default: up to the right edge)", "px"},
    {"height", TSR_PARAM_INT, 0, 1, 65500, NULL, true, "rows kept (default: to the bottom edge)",
     "Height of the kept rectangle (default: down to the bottom edge)", "px"},
};

/* Checks that the rectangle lies inside the image; sets the output size. */
static tsr_status prepare(tsr_ctx *ctx, tsr_op *op) {
    int x = (int)op->values[P_X], y = (int)op->values[P_Y];
    if (x >= op->in_w || y >= op->in_h)
        return tsr_error(ctx, TSR_ERR_USAGE,
                         "crop: x=%d, y=%d lies outside the %dx%d image (x must be < %d, y < %d)",
                         x, y, op->in_w, op->in_h, op->in_w, op->in_h);
    int w = op->given[P_WIDTH] ? (int)op->values[P_WIDTH] : op->in_w - x;
    int h = op->given[P_HEIGHT] ? (int)op->values[P_HEIGHT] : op->in_h - y;
    if (x + w > op->in_w || y + h > op->in_h)
        return tsr_error(ctx, TSR_ERR_USAGE,
                         "crop: x=%d, y=%d, width=%d, height=%d reaches past the %dx%d image", x, y,
                         w, h, op->in_w, op->in_h);
    op->out_w = w;
    op->out_h = h;
    op->out_bands = op->in_bands;
    return TSR_OK;
}

static tsr_rect need(const tsr_op *op, tsr_rect out) {
    tsr_rect r =
        tsr_rect_make(out.x + (int)op->values[P_X], out.y + (int)op->values[P_Y], out.w, out.h);
    return tsr_rect_intersect(r, tsr_rect_make(0, 0, op->in_w, op->in_h));
}

static tsr_status run(const tsr_op *op, const tsr_region *in, tsr_region *out) {
    tsr_ortho m = {1, 0, (int)op->values[P_X], 0, 1, (int)op->values[P_Y]};
    tsr_ortho_run(m, in, out);
    return TSR_OK;
}

/* The kept rect is the input's pixels as they are: a view, no copy. */
static bool view(const tsr_op *op, const tsr_region *in, tsr_rect rect, tsr_region *out) {
    tsr_rect src =
        tsr_rect_make(rect.x + (int)op->values[P_X], rect.y + (int)op->values[P_Y], rect.w, rect.h);
    if (tsr_rect_empty(rect) || !tsr_rect_contains(in->rect, src))
        return false;
    *out = (tsr_region){rect,      in->bands, in->stride, TSR_REGION_AT(in, src.x, src.y),
                        op->out_w, op->out_h};
    return true;
}

const tsr_op_desc tsr_op_crop = {
    .name = "crop",
    .version = 1,
    .kind = TSR_OP_GEOMETRIC,
    .summary = "keep the rectangle x, y, width, height",
    .bands_rule = "same",
    .params = params,
    .n_params = 4,
    .prepare = prepare,
    .need = need,
    .run = run,
    .view = view,
};
