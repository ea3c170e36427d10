/* rotate90, rotate180, rotate270: exact quarter turns clockwise
 * (= cv2.rotate ROTATE_90_CLOCKWISE, ROTATE_180, ROTATE_90_COUNTERCLOCKWISE). */
#include "ops/geometry/geometry.h"

/* Quarter turns clockwise of each op. */
static int turns(const tsr_op *op) {
    if (op->desc == &tsr_op_rotate90)
        return 1;
    return op->desc == &tsr_op_rotate180 ? 2 : 3;
}

/* Output (x, y) reads input: 90: (y, H-1-x); 180: (W-1-x, H-1-y); 270: (W-1-y, x). */
static tsr_ortho mapping(const tsr_op *op) {
    int w = op->in_w, h = op->in_h;
    tsr_ortho m90 = {0, 1, 0, -1, 0, h - 1};
    tsr_ortho m180 = {-1, 0, w - 1, 0, -1, h - 1};
    tsr_ortho m270 = {0, -1, w - 1, 1, 0, 0};
    int t = turns(op);
    return t == 1 ? m90 : (t == 2 ? m180 : m270);
}

static tsr_status prepare(tsr_ctx *ctx, tsr_op *op) {
    (void)ctx;
    bool swap = turns(op) != 2;
    op->out_w = swap ? op->in_h : op->in_w;
    op->out_h = swap ? op->in_w : op->in_h;
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

#define QUARTER_TURN(ident, opname, text)                                                          \
    const tsr_op_desc ident = {                                                                    \
        .name = opname,                                                                            \
        .version = 1,                                                                              \
        .kind = TSR_OP_GEOMETRIC,                                                                  \
        .summary = text,                                                                           \
        .bands_rule = "same",                                                                      \
        .params = NULL,                                                                            \
        .n_params = 0,                                                                             \
        .prepare = prepare,                                                                        \
        .need = need,                                                                              \
        .run = run,                                                                                \
    }

QUARTER_TURN(tsr_op_rotate90, "rotate90", "rotate a quarter turn clockwise (exact)");
QUARTER_TURN(tsr_op_rotate180, "rotate180", "rotate a half turn (exact)");
QUARTER_TURN(tsr_op_rotate270, "rotate270", "rotate a quarter turn counter-clockwise (exact)");
