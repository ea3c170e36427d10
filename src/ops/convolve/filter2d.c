/* filter2D-style convolution shared by sharpen and convolve. Integer kernels
 * sum exactly in 32-bit integers (byte-exact with OpenCV cv2.filter2D, whose
 * float sums of integer products are exact too); other kernels sum in
 * double, tap by tap in a fixed order, so results never depend on tiling. */
#include <math.h>
#include <stdlib.h>

#include "ops/convolve/convolve.h"

tsr_status tsr_filter2d_prepare(tsr_ctx *ctx, tsr_op *op, const double *kernel, int size,
                                double divisor, double offset) {
    filter2d *f = calloc(1, sizeof *f);
    if (!f)
        return tsr_error(ctx, TSR_ERR_NOMEM, "%s: out of memory", op->desc->name);
    f->size = size;
    f->integer = true;
    double magnitude = 0; /* sum of |taps|: integer sums must fit 32 bits */
    for (int i = 0; i < size * size; i++) {
        if (kernel[i] == 0)
            continue;
        f->offset_of[f->n_taps] = i;
        f->dtap[f->n_taps] = kernel[i];
        magnitude += fabs(kernel[i]);
        if (kernel[i] != floor(kernel[i]) || magnitude > 8e6)
            f->integer = false;
        else
            f->itap[f->n_taps] = (int)kernel[i];
        f->n_taps++;
    }
    f->divisor = divisor;
    f->offset = offset;
    op->state = f;
    op->radius = size / 2;
    op->out_w = op->in_w;
    op->out_h = op->in_h;
    op->out_bands = op->in_bands;
    return TSR_OK;
}

static uint8_t to_byte(double v) {
    v = nearbyint(v);
    return (uint8_t)(v <= 0 ? 0 : (v >= 255 ? 255 : v));
}

/* One output row: acc over the taps, then divide, offset, round, saturate. */
static void row(const tsr_op *op, const uint8_t *const *rows, int w, int bands, uint8_t *out,
                void *scratch) {
    const filter2d *f = op->state;
    size_t len = (size_t)w * (size_t)bands;
    if (f->integer) {
        int32_t *acc = scratch;
        for (size_t j = 0; j < len; j++)
            acc[j] = 0;
        for (int t = 0; t < f->n_taps; t++) {
            int u = f->offset_of[t] / f->size, v = f->offset_of[t] % f->size, k = f->itap[t];
            const uint8_t *s = rows[u] + (size_t)v * bands;
            for (size_t j = 0; j < len; j++)
                acc[j] += k * s[j];
        }
        if (f->divisor == 1 && f->offset == floor(f->offset)) {
            int off = (int)f->offset;
            for (size_t j = 0; j < len; j++)
                out[j] = tsr_sat_u8(acc[j] + off);
        } else {
            for (size_t j = 0; j < len; j++)
                out[j] = to_byte(acc[j] / f->divisor + f->offset);
        }
        return;
    }
    double *acc = scratch;
    for (size_t j = 0; j < len; j++)
        acc[j] = 0;
    for (int t = 0; t < f->n_taps; t++) {
        int u = f->offset_of[t] / f->size, v = f->offset_of[t] % f->size;
        double k = f->dtap[t];
        const uint8_t *s = rows[u] + (size_t)v * bands;
        for (size_t j = 0; j < len; j++)
            acc[j] += k * s[j];
    }
    for (size_t j = 0; j < len; j++)
        out[j] = to_byte(acc[j] / f->divisor + f->offset);
}

tsr_status tsr_filter2d_run(const tsr_op *op, const tsr_region *in, tsr_region *out) {
    const filter2d *f = op->state;
    size_t scratch = (size_t)out->rect.w * (size_t)out->bands * sizeof(double);
    return tsr_stencil_run(op, in, out, f->size / 2, BORDER_REFLECT101, row, scratch);
}
