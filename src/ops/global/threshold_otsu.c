/* threshold-otsu: binary threshold at Otsu's level, byte-exact with OpenCV
 * 4.6 cv2.threshold(gray, 0, 255, THRESH_BINARY | THRESH_OTSU) on one band:
 * v > t -> 255, else 0. Colour images use one histogram over all colour
 * bands together and threshold each band; alpha is unchanged. */
#include <float.h>
#include <stdio.h>
#include <stdlib.h>

#include "ops/global/global.h"

/* OpenCV's getThreshVal_Otsu_8u, in the same double operations and order. */
static int otsu_level(const uint64_t *h) {
    uint64_t total = 0;
    for (int i = 0; i < 256; i++)
        total += h[i];
    double mu = 0, scale = 1. / (double)total;
    for (int i = 0; i < 256; i++)
        mu += i * (double)h[i];
    mu *= scale;
    double mu1 = 0, q1 = 0, max_sigma = 0;
    int max_val = 0;
    for (int i = 0; i < 256; i++) {
        double p_i = (double)h[i] * scale, q2, mu2, sigma;
        mu1 *= q1;
        q1 += p_i;
        q2 = 1. - q1;
        if ((q1 < q2 ? q1 : q2) < FLT_EPSILON || (q1 > q2 ? q1 : q2) > 1. - FLT_EPSILON)
            continue;
        mu1 = (mu1 + i * p_i) / q1;
        mu2 = (mu - q1 * mu1) / q2;
        sigma = q1 * q2 * (mu1 - mu2) * (mu1 - mu2);
        if (sigma > max_sigma) {
            max_sigma = sigma;
            max_val = i;
        }
    }
    return max_val;
}

/* Sums the colour bands' histograms, finds the level, builds the tables. */
static tsr_status finalize(tsr_ctx *ctx, tsr_op *op, const tsr_image *whole) {
    (void)whole;
    const band_histograms *h = op->summary;
    uint64_t all[256] = {0};
    int cb = colour_bands(op->in_bands);
    for (int c = 0; c < cb; c++)
        for (int v = 0; v < 256; v++)
            all[v] += h->bins[c][v];
    band_luts *l = calloc(1, sizeof *l);
    if (!l)
        return tsr_error(ctx, TSR_ERR_NOMEM, "threshold-otsu: out of memory");
    l->threshold = otsu_level(all);
    for (int c = 0; c < cb; c++)
        for (int v = 0; v < 256; v++)
            l->lut[c][v] = v > l->threshold ? 255 : 0;
    free(op->state);
    op->state = l;
    return TSR_OK;
}

/* {"threshold":t}; the caller frees it. */
static char *describe(const tsr_op *op) {
    const band_luts *l = op->state;
    char *s = malloc(32);
    if (s)
        snprintf(s, 32, "{\"threshold\":%d}", l ? l->threshold : -1);
    return s;
}

const tsr_op_desc tsr_op_threshold_otsu = {
    .name = "threshold-otsu",
    .version = 1,
    .kind = TSR_OP_GLOBAL,
    .summary = "binary threshold at Otsu's level (OpenCV THRESH_OTSU, byte-exact): v > t -> 255",
    .bands_rule = "same (one level for all colour bands; alpha unchanged)",
    .params = NULL,
    .n_params = 0,
    .prepare = tsr_global_prepare,
    .release = tsr_global_release,
    .run = tsr_global_run,
    .summary_size = tsr_histograms_size,
    .map = tsr_histograms_map,
    .merge = tsr_histograms_merge,
    .finalize = finalize,
    .describe = describe,
};
