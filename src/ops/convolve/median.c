/* median: 3x3 or 5x5 median per colour band, byte-exact with OpenCV
 * cv2.medianBlur (which replicates the edge pixels as its border). */
#include "ops/convolve/convolve.h"

static const tsr_param_spec params[] = {
    {"ksize", TSR_PARAM_INT, 3, 3, 5, NULL, false, "window side: 3 or 5",
     "Width of the window, 3 or 5; larger removes more specks, and more detail", "px"},
};

/* Errors: ksize 4. */
static tsr_status check(tsr_ctx *ctx, const tsr_op *op) {
    int k = (int)op->values[0];
    if (k != 3 && k != 5)
        return tsr_error(ctx, TSR_ERR_USAGE, "median: ksize must be 3 or 5, got %d", k);
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

#define SORT2(a, b)                                                                                \
    do {                                                                                           \
        if ((a) > (b)) {                                                                           \
            uint8_t t_ = (a);                                                                      \
            (a) = (b);                                                                             \
            (b) = t_;                                                                              \
        }                                                                                          \
    } while (0)

/* Median of 9 with the classic 19-exchange network. */
static uint8_t median9(uint8_t *p) {
    SORT2(p[1], p[2]);
    SORT2(p[4], p[5]);
    SORT2(p[7], p[8]);
    SORT2(p[0], p[1]);
    SORT2(p[3], p[4]);
    SORT2(p[6], p[7]);
    SORT2(p[1], p[2]);
    SORT2(p[4], p[5]);
    SORT2(p[7], p[8]);
    SORT2(p[0], p[3]);
    SORT2(p[5], p[8]);
    SORT2(p[4], p[7]);
    SORT2(p[3], p[6]);
    SORT2(p[1], p[4]);
    SORT2(p[2], p[5]);
    SORT2(p[4], p[7]);
    SORT2(p[4], p[2]);
    SORT2(p[6], p[4]);
    SORT2(p[4], p[2]);
    return p[4];
}

/* Median of 25: the 13th smallest after an insertion sort. */
static uint8_t median25(const uint8_t *p) {
    uint8_t sorted[25];
    int n = 0;
    for (int i = 0; i < 25; i++) {
        int j = n++;
        while (j > 0 && sorted[j - 1] > p[i]) {
            sorted[j] = sorted[j - 1];
            j--;
        }
        sorted[j] = p[i];
    }
    return sorted[12];
}

static void row(const tsr_op *op, const uint8_t *const *rows, int w, int bands, uint8_t *out,
                void *scratch) {
    (void)scratch;
    int k = (int)op->values[0];
    size_t len = (size_t)w * (size_t)bands, b = (size_t)bands;
    uint8_t win[25];
    for (size_t j = 0; j < len; j++) {
        int n = 0;
        for (int u = 0; u < k; u++)
            for (int v = 0; v < k; v++)
                win[n++] = rows[u][j + (size_t)v * b];
        out[j] = k == 3 ? median9(win) : median25(win);
    }
}

static tsr_status run(const tsr_op *op, const tsr_region *in, tsr_region *out) {
    return tsr_stencil_run(op, in, out, op->radius, BORDER_REPLICATE, row, 0);
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
