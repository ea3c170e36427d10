/* filter2D-style convolution shared by sharpen and convolve. Integer kernels
 * sum exactly in 32-bit integers (byte-exact with OpenCV cv2.filter2D, whose
 * float sums of integer products are exact too); other kernels sum in
 * double, tap by tap in a fixed order, so results never depend on tiling.
 * Integer kernels with a power-of-two divisor and an integer offset round
 * in integers: OpenCV's float taps k / 2^n and their sums are exact while
 * |sum| < 2^24, so its round-half-even of the float equals ours bit for bit.
 * 3x3 ones whose sums fit 16 bits run as one fused 16-bit pass. */
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
    int bits = 0;
    while (bits < 20 && (double)(1 << bits) < divisor)
        bits++;
    double scaled = fabs(offset) * (double)(1 << bits);
    f->shift = f->integer && offset == floor(offset) && divisor == (double)(1 << bits) &&
               (bits == 0 || magnitude * 255 + scaled < 16777216.0);
    f->bits = bits;
    f->ioffset = f->shift ? (int)offset * (1 << bits) : 0;
    f->fused16 = f->shift && size == 3 && magnitude * 255 + scaled + (1 << bits) <= 32767;
    op->state = f;
    op->radius = size / 2;
    op->out_w = op->in_w;
    op->out_h = op->in_h;
    op->out_bands = op->in_bands;
    return TSR_OK;
}

/* sat(round_half_even(v)) without a libm call: adding and removing 1.5 *
 * 2^52 rounds to even in the default rounding mode; vectorizes. */
static inline uint8_t to_byte(double v) {
    v = v < 0 ? 0 : (v > 255 ? 255 : v);
    return (uint8_t)((v + 6755399441055744.0) - 6755399441055744.0);
}

/* sat(round_half_even(v / 2^bits)) for integer v (arithmetic shifts). */
static inline uint8_t shift_to_byte(int32_t v, int bits, int32_t rnd, int32_t odd) {
    int32_t q = (v + rnd + ((v >> bits) & odd)) >> bits;
    return (uint8_t)(q < 0 ? 0 : (q > 255 ? 255 : q));
}

/* One output row of a 3x3 shift kernel in a single 16-bit pass (no sum or
 * rounding step leaves 16 bits, checked in prepare). */
static void row3_fused16(const filter2d *f, const uint8_t *const *rows, size_t len, int b,
                         uint8_t *restrict out) {
    int16_t k[9] = {0};
    for (int t = 0; t < f->n_taps; t++)
        k[f->offset_of[t]] = (int16_t)f->itap[t];
    const uint8_t *restrict a = rows[0], *restrict m = rows[1], *restrict c = rows[2];
    const int bits = f->bits;
    const int16_t off = (int16_t)f->ioffset;
    const int16_t rnd = (int16_t)(bits ? (1 << (bits - 1)) - 1 : 0), odd = (int16_t)(bits ? 1 : 0);
    size_t b1 = (size_t)b, b2 = 2 * (size_t)b;
    for (size_t j = 0; j < len; j++) {
        int16_t v = (int16_t)(off + k[0] * a[j] + k[1] * a[j + b1] + k[2] * a[j + b2] +
                              k[3] * m[j] + k[4] * m[j + b1] + k[5] * m[j + b2] + k[6] * c[j] +
                              k[7] * c[j + b1] + k[8] * c[j + b2]);
        int16_t q = (int16_t)((v + rnd + ((v >> bits) & odd)) >> bits);
        out[j] = (uint8_t)(q < 0 ? 0 : (q > 255 ? 255 : q));
    }
}

/* One output row: acc over the taps, then divide, offset, round, saturate. */
static void row(const tsr_op *op, const uint8_t *const *rows, int w, int bands,
                uint8_t *restrict out, void *scratch) {
    const filter2d *f = op->state;
    size_t len = (size_t)w * (size_t)bands;
    if (f->fused16) {
        row3_fused16(f, rows, len, bands, out);
        return;
    }
    if (f->integer) {
        int32_t *restrict acc = scratch;
        for (size_t j = 0; j < len; j++)
            acc[j] = 0;
        for (int t = 0; t < f->n_taps; t++) {
            int u = f->offset_of[t] / f->size, v = f->offset_of[t] % f->size, k = f->itap[t];
            const uint8_t *restrict s = rows[u] + (size_t)v * bands;
            for (size_t j = 0; j < len; j++)
                acc[j] += k * s[j];
        }
        if (f->shift) {
            int bits = f->bits;
            int32_t rnd = bits ? (1 << (bits - 1)) - 1 : 0, odd = bits ? 1 : 0;
            for (size_t j = 0; j < len; j++)
                out[j] = shift_to_byte(acc[j] + f->ioffset, bits, rnd, odd);
        } else {
            double divisor = f->divisor, offset = f->offset;
            for (size_t j = 0; j < len; j++)
                out[j] = to_byte(acc[j] / divisor + offset);
        }
        return;
    }
    double *restrict acc = scratch;
    for (size_t j = 0; j < len; j++)
        acc[j] = 0;
    for (int t = 0; t < f->n_taps; t++) {
        int u = f->offset_of[t] / f->size, v = f->offset_of[t] % f->size;
        double k = f->dtap[t];
        const uint8_t *restrict s = rows[u] + (size_t)v * bands;
        for (size_t j = 0; j < len; j++)
            acc[j] += k * s[j];
    }
    double divisor = f->divisor, offset = f->offset;
    for (size_t j = 0; j < len; j++)
        out[j] = to_byte(acc[j] / divisor + offset);
}

tsr_status tsr_filter2d_run(const tsr_op *op, const tsr_region *in, tsr_region *out) {
    const filter2d *f = op->state;
    size_t scratch = (size_t)out->rect.w * (size_t)out->bands * sizeof(double);
    return tsr_stencil_run(op, in, out, f->size / 2, BORDER_REFLECT101, row, scratch);
}
