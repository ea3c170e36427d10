/* Lookup-table point ops: what invert, brightness, contrast, gamma and
 * threshold share. The table is built once in prepare (from the parameters
 * only), so output never depends on tiling; point_row.c runs it. */
#include <stdlib.h>

#include "ops/point/point.h"
#include "ops/point/point_row.h"

tsr_status tsr_point_lut_prepare(tsr_ctx *ctx, tsr_op *op, point_lut_fn build) {
    uint8_t lut[256];
    tsr_point_kernel *kernel = aligned_alloc(64, sizeof *kernel);
    if (!kernel)
        return tsr_error(ctx, TSR_ERR_NOMEM, "%s: out of memory for its lookup table",
                         op->desc->name);
    build(op, lut);
    tsr_point_kernel_init(kernel, lut);
    op->state = kernel;
    op->out_w = op->in_w;
    op->out_h = op->in_h;
    op->out_bands = op->in_bands;
    return TSR_OK;
}

void tsr_point_lut_release(tsr_op *op) {
    free(op->state);
    op->state = NULL;
}

void tsr_point_apply_kernel(tsr_simd_level level, const tsr_point_kernel *kernel,
                            const tsr_region *in, tsr_region *out) {
    int bands = out->bands;
    bool alpha = bands == 2 || bands == 4;
    size_t n = (size_t)out->rect.w * (size_t)bands;
    for (int y = out->rect.y; y < out->rect.y + out->rect.h; y++) {
        const uint8_t *s = TSR_REGION_AT(in, out->rect.x, y);
        uint8_t *d = TSR_REGION_AT(out, out->rect.x, y);
        tsr_point_row(level, kernel, s, d, n);
        if (alpha)
            for (size_t i = (size_t)bands - 1; i < n; i += (size_t)bands)
                d[i] = s[i];
    }
}

tsr_status tsr_point_lut_run(const tsr_op *op, const tsr_region *in, tsr_region *out) {
    tsr_point_apply_kernel(tsr_simd_active(), op->state, in, out);
    return TSR_OK;
}
