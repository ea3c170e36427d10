/* The global family's descriptors and what its files share (private to ops/global). */
#ifndef TESSERA_OPS_GLOBAL_H
#define TESSERA_OPS_GLOBAL_H

#include "tessera/op.h"

extern const tsr_op_desc tsr_op_equalize;       /* per-band histogram equalization */
extern const tsr_op_desc tsr_op_threshold_otsu; /* binary threshold at Otsu's level */

/* A 256-bin histogram per band (colour bands only; alpha bins stay 0), the
 * partial and merged summary of both ops. Integer counts, so any tile
 * grouping merges to the same bytes. */
typedef struct band_histograms {
    uint64_t bins[TSR_MAX_BANDS][256]; /* bins[band][value]: samples of that value */
} band_histograms;

/* Number of colour bands: alpha (band 2 of 2, band 4 of 4) excluded. */
static inline int colour_bands(int bands) {
    return bands == 2 || bands == 4 ? bands - 1 : bands;
}

size_t tsr_histograms_size(const tsr_op *op);
/* Counts the colour samples of tile `in` into `partial` (a band_histograms). */
void tsr_histograms_map(const tsr_op *op, const tsr_region *in, void *partial);
/* Adds `partial` into `acc`. */
void tsr_histograms_merge(const tsr_op *op, void *acc, const void *partial);

/* State of both ops after finalize: one lookup table per band. */
typedef struct band_luts {
    uint8_t lut[TSR_MAX_BANDS][256]; /* colour bands only */
    int threshold;                   /* threshold-otsu: the level t (v > t -> 255) */
} band_luts;

/* Same-size, same-bands prepare (allocates no state). */
tsr_status tsr_global_prepare(tsr_ctx *ctx, tsr_op *op);
/* Frees op->state (a band_luts). */
void tsr_global_release(tsr_op *op);
/* Maps each colour band through its table in op->state; alpha copied. */
tsr_status tsr_global_run(const tsr_op *op, const tsr_region *in, tsr_region *out);

#endif
