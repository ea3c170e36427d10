/* What equalize and threshold-otsu share: per-band histograms as the
 * map/merge summary, and per-band lookup tables as the apply step. */
#include <stdlib.h>

#include "ops/global/global.h"

size_t tsr_histograms_size(const tsr_op *op) {
    (void)op;
    return sizeof(band_histograms);
}

void tsr_histograms_map(const tsr_op *op, const tsr_region *in, void *partial) {
    (void)op;
    band_histograms *h = partial;
    int b = in->bands, cb = colour_bands(b);
    for (int y = 0; y < in->rect.h; y++) {
        const uint8_t *s = in->data + (size_t)y * in->stride;
        if (b == 1) {
            for (int x = 0; x < in->rect.w; x++)
                h->bins[0][s[x]]++;
            continue;
        }
        for (int x = 0; x < in->rect.w; x++, s += b)
            for (int c = 0; c < cb; c++)
                h->bins[c][s[c]]++;
    }
}

void tsr_histograms_merge(const tsr_op *op, void *acc, const void *partial) {
    (void)op;
    band_histograms *a = acc;
    const band_histograms *p = partial;
    for (int c = 0; c < TSR_MAX_BANDS; c++)
        for (int v = 0; v < 256; v++)
            a->bins[c][v] += p->bins[c][v];
}

tsr_status tsr_global_prepare(tsr_ctx *ctx, tsr_op *op) {
    (void)ctx;
    op->out_w = op->in_w;
    op->out_h = op->in_h;
    op->out_bands = op->in_bands;
    return TSR_OK;
}

void tsr_global_release(tsr_op *op) {
    free(op->state);
    op->state = NULL;
}

tsr_status tsr_global_run(const tsr_op *op, const tsr_region *in, tsr_region *out) {
    const band_luts *l = op->state;
    if (!l)
        return TSR_ERR_INTERNAL;
    int b = out->bands, cb = colour_bands(b);
    for (int y = out->rect.y; y < out->rect.y + out->rect.h; y++) {
        const uint8_t *s = TSR_REGION_AT(in, out->rect.x, y);
        uint8_t *d = TSR_REGION_AT(out, out->rect.x, y);
        for (int x = 0; x < out->rect.w; x++, s += b, d += b) {
            for (int c = 0; c < cb; c++)
                d[c] = l->lut[c][s[c]];
            if (cb < b)
                d[cb] = s[cb];
        }
    }
    return TSR_OK;
}
