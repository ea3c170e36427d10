/* gaussian-blur: bit-exact with OpenCV 4.6 cv2.GaussianBlur on 8-bit images
 * (reflect-101 borders). OpenCV builds the kernel in double (fixed tables for
 * sigma <= 0 and ksize <= 9), rounds it to 8.8 fixed point with error
 * diffusion (the centre tap takes the remainder so the taps sum to 256),
 * then sums exactly: horizontal in 16 bits, vertical in 32, and rounds the
 * 16 fraction bits once. We do the same. */
#include <math.h>
#include <stdlib.h>

#include "ops/convolve/convolve.h"

enum { P_SIGMA, P_KSIZE };

static const tsr_param_spec params[] = {
    {"sigma", TSR_PARAM_FLOAT, 0, 0, 100, NULL, false,
     "standard deviation; 0 = from ksize (0.3*((ksize-1)/2-1)+0.8)",
     "Blur strength in pixels; larger is blurrier (0: taken from ksize)", "px"},
    {"ksize", TSR_PARAM_INT, 0, 0, 101, NULL, false,
     "odd kernel side; 0 = from sigma (round(6*sigma+1)|1), or 5 when sigma is 0 too",
     "Width of the blur window, an odd number; 0 picks it from sigma", "px"},
};

/* OpenCV's fixed kernels for sigma <= 0, in 1/256 units. */
static const uint16_t small3[] = {64, 128, 64};
static const uint16_t small5[] = {16, 64, 96, 64, 16};
static const uint16_t small7[] = {8, 28, 56, 72, 56, 28, 8};
static const uint16_t small9[] = {4, 13, 30, 51, 60, 51, 30, 13, 4};

/* The 8.8 fixed-point taps of OpenCV's getGaussianKernelBitExact followed by
 * getGaussianKernelFixedPoint_ED, for odd n. */
static void gaussian_taps(int n, double sigma, uint16_t *taps) {
    const uint16_t *fixed = NULL;
    if (n == 1) {
        taps[0] = 256;
        return;
    }
    if (sigma <= 0)
        fixed = n == 3 ? small3 : n == 5 ? small5 : n == 7 ? small7 : n == 9 ? small9 : NULL;
    if (fixed) {
        for (int i = 0; i < n; i++)
            taps[i] = fixed[i];
        return;
    }
    double s = sigma > 0 ? sigma : n * 0.15 + 0.35;
    double scale2 = -0.125 / (s * s), values[SEP_MAX_TAPS / 2 + 1], sum = 0;
    int half = (n - 1) / 2;
    for (int i = 0, x = 1 - n; i < half; i++, x += 2) {
        values[i] = exp((double)(x * x) * scale2);
        sum += values[i];
    }
    sum = sum * 2 + 1;
    double mul = 1 / sum, err = 0;
    int total = 0;
    for (int i = 0; i < half; i++) {
        double adj = values[i] * mul * 256 + err;
        long v = lrint(adj);
        err = adj - (double)v;
        taps[i] = taps[n - 1 - i] = (uint16_t)v;
        total += (int)v;
    }
    taps[half] = (uint16_t)(256 - 2 * total);
}

/* Errors: an even ksize (0, from sigma, is always odd). */
static tsr_status check(tsr_ctx *ctx, const tsr_op *op) {
    int ksize = (int)op->values[P_KSIZE];
    if (ksize % 2 == 0 && ksize != 0)
        return tsr_error(ctx, TSR_ERR_USAGE, "gaussian-blur: ksize must be odd, got %d", ksize);
    return TSR_OK;
}

/* Resolves ksize (from sigma when 0; 5 when both are 0, OpenCV's seed
 * default GaussianBlur(img, (5,5), 0)) and builds the kernel. Only the
 * values matter, never whether they were given, so the normalized pipeline
 * text means the same. Errors: those of check(). */
static tsr_status prepare(tsr_ctx *ctx, tsr_op *op) {
    double sigma = op->values[P_SIGMA];
    int ksize = (int)op->values[P_KSIZE];
    tsr_status st = check(ctx, op);
    if (st)
        return st;
    if (ksize == 0)
        ksize = sigma > 0 ? (int)lrint(sigma * 3 * 2 + 1) | 1 /* <= 601 as sigma <= 100 */
                          : 5;
    sep_kernel *k = calloc(1, sizeof *k);
    if (!k)
        return tsr_error(ctx, TSR_ERR_NOMEM, "gaussian-blur: out of memory");
    k->n = ksize;
    k->final = SEP_ROUND16;
    gaussian_taps(ksize, sigma, k->taps);
    op->state = k;
    op->radius = ksize / 2;
    op->out_w = op->in_w;
    op->out_h = op->in_h;
    op->out_bands = op->in_bands;
    return TSR_OK;
}

static tsr_status run(const tsr_op *op, const tsr_region *in, tsr_region *out) {
    return tsr_separable_run(op->state, in, out);
}

const tsr_op_desc tsr_op_gaussian_blur = {
    .name = "gaussian-blur",
    .version = 1,
    .kind = TSR_OP_STENCIL,
    .summary = "Gaussian blur (OpenCV cv2.GaussianBlur, bit-exact, reflect-101 borders)",
    .bands_rule = "same (alpha unchanged)",
    .params = params,
    .n_params = 2,
    .check = check,
    .prepare = prepare,
    .release = tsr_convolve_release,
    .run = run,
};
