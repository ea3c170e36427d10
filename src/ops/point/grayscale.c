/* grayscale: luma from RGB, byte-exact with OpenCV 4.6 cvtColor(BGR2GRAY) on
 * 8-bit images, whose weights are 0.299, 0.587, 0.114 in 15-bit fixed point:
 * Y = (R*9798 + G*19235 + B*3735 + 16384) >> 15. (The older 14-bit weights
 * 4899/9617/1868 differ from OpenCV 4.6 by 1 on some pixels.) */
#include <string.h>

#include "ops/point/luma_row.h"
#include "ops/point/point.h"

/* Colour images lose two bands (alpha is kept); gray images pass through. */
static tsr_status prepare(tsr_ctx *ctx, tsr_op *op) {
    (void)ctx;
    op->out_w = op->in_w;
    op->out_h = op->in_h;
    op->out_bands = op->in_bands >= 3 ? op->in_bands - 2 : op->in_bands;
    return TSR_OK;
}

static tsr_status run(const tsr_op *op, const tsr_region *in, tsr_region *out) {
    (void)op;
    int w = out->rect.w, ib = in->bands;
    tsr_simd_level level = tsr_simd_active();
    for (int y = out->rect.y; y < out->rect.y + out->rect.h; y++) {
        const uint8_t *s = TSR_REGION_AT(in, out->rect.x, y);
        uint8_t *d = TSR_REGION_AT(out, out->rect.x, y);
        if (ib < 3)
            memcpy(d, s, (size_t)w * (size_t)ib);
        else
            tsr_luma_row(level, s, d, w, ib);
    }
    return TSR_OK;
}

const tsr_op_desc tsr_op_grayscale = {
    .name = "grayscale",
    .version = 1,
    .kind = TSR_OP_POINT,
    .summary = "luma (OpenCV cvtColor BGR2GRAY fixed point, byte-exact)",
    .bands_rule = "3->1, 4->2, 1 and 2 unchanged",
    .params = NULL,
    .n_params = 0,
    .prepare = prepare,
    .run = run,
};
