/* box-blur: normalized box filter, bit-exact with OpenCV 4.6 cv2.blur on
 * 8-bit images (reflect-101 borders). OpenCV sums exactly, then divides:
 * for ksize^2 <= 256 with a 23-bit fixed-point reciprocal, above that with a
 * double multiply rounded half to even. */
#include <math.h>
#include <stdlib.h>

#include "ops/convolve/convolve.h"

static const tsr_param_spec params[] = {
    {"ksize", TSR_PARAM_INT, 3, 1, 101, NULL, false, "odd side of the square box",
     "Width of the square averaged around each pixel, an odd number; larger is blurrier", "px"},
};

/* Errors: an even ksize. */
static tsr_status check(tsr_ctx *ctx, const tsr_op *op) {
    int n = (int)op->values[0];
    if (n % 2 == 0)
        return tsr_error(ctx, TSR_ERR_USAGE, "box-blur: ksize must be odd, got %d", n);
    return TSR_OK;
}

/* Builds the all-ones kernel and OpenCV's division constants. Errors: those
 * of check(). */
static tsr_status prepare(tsr_ctx *ctx, tsr_op *op) {
    int n = (int)op->values[0];
    tsr_status st = check(ctx, op);
    if (st)
        return st;
    sep_kernel *k = calloc(1, sizeof *k);
    if (!k)
        return tsr_error(ctx, TSR_ERR_NOMEM, "box-blur: out of memory");
    k->n = n;
    for (int i = 0; i < n; i++)
        k->taps[i] = 1;
    int d = n * n;
    if (d == 1) {
        k->final = SEP_BOX_FIXED;
        k->div_scale = 1u << 23;
        k->div_delta = 0;
    } else if (d <= 256) {
        double scalef = (double)(1 << 23) / d;
        k->final = SEP_BOX_FIXED;
        k->div_scale = (uint32_t)floor(scalef);
        scalef -= k->div_scale;
        k->div_delta = (uint32_t)(d / 2);
        if (scalef < 0.5)
            k->div_delta++;
        else
            k->div_scale++;
    } else {
        k->final = SEP_BOX_FLOAT;
        k->box_scale = 1.0 / d;
    }
    op->state = k;
    op->radius = n / 2;
    op->out_w = op->in_w;
    op->out_h = op->in_h;
    op->out_bands = op->in_bands;
    return TSR_OK;
}

static tsr_status run(const tsr_op *op, const tsr_region *in, tsr_region *out) {
    return tsr_separable_run(op->state, in, out);
}

const tsr_op_desc tsr_op_box_blur = {
    .name = "box-blur",
    .version = 1,
    .kind = TSR_OP_STENCIL,
    .summary = "mean over a ksize x ksize box (OpenCV cv2.blur, bit-exact, reflect-101)",
    .bands_rule = "same (alpha unchanged)",
    .params = params,
    .n_params = 1,
    .check = check,
    .prepare = prepare,
    .release = tsr_convolve_release,
    .run = run,
};
