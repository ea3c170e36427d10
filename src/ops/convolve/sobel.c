/* sobel: 3x3 Sobel derivatives per colour band, reflect-101 borders.
 * x = sat(|Gx|), y = sat(|Gy|) (OpenCV cv2.convertScaleAbs(cv2.Sobel(img,
 * cv2.CV_16S, 1, 0)) and (0, 1)), both = sat(|Gx| + |Gy|). */
#include <stdlib.h>

#include "ops/convolve/convolve.h"

enum { DIR_X, DIR_Y, DIR_BOTH };

static const char *const directions[] = {"x", "y", "both", NULL};

static const tsr_param_spec params[] = {
    {"direction", TSR_PARAM_ENUM, DIR_BOTH, 0, 2, directions, false,
     "x: |d/dx|, y: |d/dy|, both: |d/dx| + |d/dy| (saturated)",
     "Which edges to find: x finds vertical edges, y horizontal ones, both finds all", ""},
};

static tsr_status prepare(tsr_ctx *ctx, tsr_op *op) {
    (void)ctx;
    op->radius = 1;
    op->out_w = op->in_w;
    op->out_h = op->in_h;
    op->out_bands = op->in_bands;
    return TSR_OK;
}

/* Gx = [-1 0 1; -2 0 2; -1 0 1], Gy = its transpose, in exact integers. */
static void row(const tsr_op *op, const uint8_t *const *rows, int w, int bands, uint8_t *out,
                void *scratch) {
    (void)scratch;
    int dir = (int)op->values[0];
    size_t len = (size_t)w * (size_t)bands, b = (size_t)bands;
    const uint8_t *a = rows[0], *m = rows[1], *c = rows[2];
    for (size_t j = 0; j < len; j++) {
        int gx = (a[j + 2 * b] - a[j]) + 2 * (m[j + 2 * b] - m[j]) + (c[j + 2 * b] - c[j]);
        int gy = (c[j] + 2 * c[j + b] + c[j + 2 * b]) - (a[j] + 2 * a[j + b] + a[j + 2 * b]);
        gx = abs(gx);
        gy = abs(gy);
        int v = dir == DIR_X ? gx : dir == DIR_Y ? gy : gx + gy;
        out[j] = (uint8_t)(v > 255 ? 255 : v);
    }
}

static tsr_status run(const tsr_op *op, const tsr_region *in, tsr_region *out) {
    return tsr_stencil_run(op, in, out, 1, BORDER_REFLECT101, row, 0);
}

const tsr_op_desc tsr_op_sobel = {
    .name = "sobel",
    .version = 1,
    .kind = TSR_OP_STENCIL,
    .summary = "3x3 Sobel gradient magnitude per band: |Gx|, |Gy| or |Gx|+|Gy| (saturated)",
    .bands_rule = "same (alpha unchanged)",
    .params = params,
    .n_params = 1,
    .prepare = prepare,
    .run = run,
};
