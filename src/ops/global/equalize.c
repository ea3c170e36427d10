/* equalize: histogram equalization per colour band, byte-exact with OpenCV
 * 4.6 cv2.equalizeHist on each band (alpha unchanged). */
#include <math.h>
#include <stdlib.h>

#include "ops/global/global.h"

/* OpenCV's table: first used level -> 0, then the running count scaled by
 * 255 / (total - count of that level) in float, rounded half to even; an
 * image of one level keeps it. */
static void equalize_lut(const uint64_t *hist, uint8_t *lut) {
    uint64_t total = 0;
    for (int v = 0; v < 256; v++)
        total += hist[v];
    int i = 0;
    while (i < 255 && hist[i] == 0)
        i++;
    if (hist[i] == total) {
        for (int v = 0; v < 256; v++)
            lut[v] = (uint8_t)i;
        return;
    }
    float scale = 255.f / (float)(int)(total - hist[i]);
    int sum = 0;
    for (int v = 0; v <= i; v++)
        lut[v] = 0;
    for (i++; i < 256; i++) {
        sum += (int)hist[i];
        float t = nearbyintf((float)sum * scale);
        lut[i] = (uint8_t)(t <= 0 ? 0 : (t >= 255 ? 255 : t));
    }
}

/* Builds one table per colour band from the merged histograms. */
static tsr_status finalize(tsr_ctx *ctx, tsr_op *op, const tsr_image *whole) {
    (void)whole;
    const band_histograms *h = op->summary;
    band_luts *l = calloc(1, sizeof *l);
    if (!l)
        return tsr_error(ctx, TSR_ERR_NOMEM, "equalize: out of memory");
    for (int c = 0; c < colour_bands(op->in_bands); c++)
        equalize_lut(h->bins[c], l->lut[c]);
    free(op->state);
    op->state = l;
    return TSR_OK;
}

const tsr_op_desc tsr_op_equalize = {
    .name = "equalize",
    .version = 1,
    .kind = TSR_OP_GLOBAL,
    .summary = "histogram equalization per colour band (OpenCV cv2.equalizeHist, byte-exact)",
    .bands_rule = "same (alpha unchanged)",
    .params = NULL,
    .n_params = 0,
    .prepare = tsr_global_prepare,
    .release = tsr_global_release,
    .run = tsr_global_run,
    .summary_size = tsr_histograms_size,
    .map = tsr_histograms_map,
    .merge = tsr_histograms_merge,
    .finalize = finalize,
};
