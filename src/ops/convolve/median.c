/* median: the median of the ksize x ksize window per colour band, every
 * odd ksize from 3 to 99, byte-exact with OpenCV cv2.medianBlur (which
 * replicates the edge pixels as its border). 3 and 5 run sorting networks
 * (median_sortnet.c), 7 and up the constant-time histogram method
 * (median_hist.c); median.h says why both match OpenCV everywhere. */
#include "ops/convolve/median.h"

static const tsr_param_spec params[] = {
    {"ksize", TSR_PARAM_INT, 3, TSR_MEDIAN_KSIZE_MIN, TSR_MEDIAN_KSIZE_MAX, NULL, false,
     "window side, odd, 3..99 (cv2.medianBlur ksize)",
     "Width of the window, an odd number from 3 to 99; larger removes more specks, and more "
     "detail",
     "px"},
};

/* Errors: an even ksize, or one outside 3..99 (ops built by hand; the
 * parsers check the range first). */
static tsr_status check(tsr_ctx *ctx, const tsr_op *op) {
    double v = op->values[0];
    int k = (int)v;
    if (k != v || k < TSR_MEDIAN_KSIZE_MIN || k > TSR_MEDIAN_KSIZE_MAX || k % 2 == 0)
        return tsr_error(ctx, TSR_ERR_USAGE,
                         "median: ksize must be an odd number from %d to %d, got %g",
                         TSR_MEDIAN_KSIZE_MIN, TSR_MEDIAN_KSIZE_MAX, v);
    return TSR_OK;
}

/* Errors: those of check(). */
static tsr_status prepare(tsr_ctx *ctx, tsr_op *op) {
    int k = (int)op->values[0];
    tsr_status st = check(ctx, op);
    if (st)
        return st;
    op->radius = k / 2;
    op->out_w = op->in_w;
    op->out_h = op->in_h;
    op->out_bands = op->in_bands;
    return TSR_OK;
}

/* The stencil driver's row callbacks, one per instruction set: the driver
 * takes no user pointer, and the level must not live in op (shared by
 * every thread and process that runs the op). */
static void row_at(tsr_simd_level level, const tsr_op *op, const uint8_t *const *rows, int w,
                   int bands, uint8_t *out) {
    tsr_median_sortnet_row(level, (int)op->values[0], rows, (size_t)w * (size_t)bands,
                           (size_t)bands, out);
}

static void row_scalar(const tsr_op *op, const uint8_t *const *rows, int w, int bands, uint8_t *out,
                       void *scratch) {
    (void)scratch;
    row_at(TSR_SIMD_SCALAR, op, rows, w, bands, out);
}

static void row_sse41(const tsr_op *op, const uint8_t *const *rows, int w, int bands, uint8_t *out,
                      void *scratch) {
    (void)scratch;
    row_at(TSR_SIMD_SSE41, op, rows, w, bands, out);
}

static void row_neon(const tsr_op *op, const uint8_t *const *rows, int w, int bands, uint8_t *out,
                     void *scratch) {
    (void)scratch;
    row_at(TSR_SIMD_NEON, op, rows, w, bands, out);
}

static void row_avx2(const tsr_op *op, const uint8_t *const *rows, int w, int bands, uint8_t *out,
                     void *scratch) {
    (void)scratch;
    row_at(TSR_SIMD_AVX2, op, rows, w, bands, out);
}

tsr_status tsr_median_run_level(const tsr_op *op, const tsr_region *in, tsr_region *out,
                                tsr_simd_level level) {
    if (op->radius * 2 + 1 > TSR_MEDIAN_SORTNET_MAX)
        return tsr_median_hist_run(level, op->radius, in, out);
    static const stencil_row_fn rows[TSR_SIMD_COUNT] = {
        [TSR_SIMD_SCALAR] = row_scalar, [TSR_SIMD_SSE41] = row_sse41, [TSR_SIMD_NEON] = row_neon,
        [TSR_SIMD_AVX2] = row_avx2,     [TSR_SIMD_AVX512] = row_avx2, /* no 512-bit path of its own
                                                                       */
    };
    stencil_row_fn row = (unsigned)level < TSR_SIMD_COUNT ? rows[level] : row_scalar;
    return tsr_stencil_run(op, in, out, op->radius, BORDER_REPLICATE, row, 0);
}

static tsr_status run(const tsr_op *op, const tsr_region *in, tsr_region *out) {
    return tsr_median_run_level(op, in, out, tsr_simd_active());
}

const tsr_op_desc tsr_op_median = {
    .name = "median",
    .version = 1,
    .kind = TSR_OP_STENCIL,
    .summary = "median of the ksize x ksize window (OpenCV cv2.medianBlur, replicate border)",
    .bands_rule = "same (alpha unchanged)",
    .params = params,
    .n_params = 1,
    .check = check,
    .prepare = prepare,
    .run = run,
};
