/* convolve: a user kernel (odd square up to 9x9), like OpenCV
 * cv2.filter2D(img, -1, kernel / divisor, delta=offset) with reflect-101
 * borders: result = sat(round_half_even(sum(k*v) / divisor + offset)).
 * divisor 0 (the default) means the kernel's sum, or 1 when that is 0, so
 * blur kernels keep the brightness and edge kernels are used as given. */
#include <math.h>

#include "ops/convolve/convolve.h"

enum { P_KERNEL, P_DIVISOR, P_OFFSET };

static const tsr_param_spec params[] = {
    {"kernel", TSR_PARAM_KERNEL, 0, -1e6, 1e6, NULL, true,
     "row-major odd square kernel, 1x1 up to 9x9 (e.g. 0 -1 0 -1 5 -1 0 -1 0)",
     "The weights, row by row, of an odd square (3x3 is 9 numbers); 0 -1 0 -1 5 -1 0 -1 0 sharpens",
     ""},
    {"divisor", TSR_PARAM_FLOAT, 0, -1e6, 1e6, NULL, false,
     "the weighted sum is divided by it; 0 = sum of the kernel (1 when that is 0)",
     "The weighted sum is divided by this; 0 uses the sum of the weights, which keeps the "
     "brightness",
     ""},
    {"offset", TSR_PARAM_FLOAT, 0, -255, 255, NULL, false, "added after the division",
     "Added to every result after the division, to lighten or darken it", "levels"},
};

/* Errors: a missing or even kernel (the parsers refuse both earlier, with
 * their own messages; this guards ops built by hand). */
static tsr_status check(tsr_ctx *ctx, const tsr_op *op) {
    int size = op->kernel.size;
    if (size == 0)
        return tsr_error(ctx, TSR_ERR_USAGE, "convolve: kernel is required");
    if (size < 0 || size > TSR_KERNEL_MAX || size % 2 == 0)
        return tsr_error(ctx, TSR_ERR_USAGE,
                         "convolve: kernel must be an odd square of 1, 9, 25, 49 or 81 numbers");
    return TSR_OK;
}

/* Checks the kernel and resolves the divisor. Errors: those of check(). */
static tsr_status prepare(tsr_ctx *ctx, tsr_op *op) {
    int size = op->kernel.size;
    tsr_status st = check(ctx, op);
    if (st)
        return st;
    double divisor = op->values[P_DIVISOR];
    if (divisor == 0) {
        double sum = 0;
        for (int i = 0; i < size * size; i++)
            sum += op->kernel.values[i];
        divisor = fabs(sum) < 1e-12 ? 1 : sum;
    }
    return tsr_filter2d_prepare(ctx, op, op->kernel.values, size, divisor, op->values[P_OFFSET]);
}

const tsr_op_desc tsr_op_convolve = {
    .name = "convolve",
    .version = 1,
    .kind = TSR_OP_STENCIL,
    .summary = "convolution with a user kernel (OpenCV cv2.filter2D, reflect-101)",
    .bands_rule = "same (alpha unchanged)",
    .params = params,
    .n_params = 3,
    .check = check,
    .prepare = prepare,
    .release = tsr_convolve_release,
    .run = tsr_filter2d_run,
};
