/* The separable driver for symmetric kernels (Gaussian and box blurs):
 * each input row is padded, filtered horizontally into exact 16-bit sums
 * and kept in a ring of n rows; each output row is the vertical 32-bit sum
 * of n ring rows, turned into bytes as OpenCV does. Inner loops run over
 * contiguous interleaved samples so the compiler vectorizes them. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/convolve/convolve.h"

/* Image columns of padded columns x0-r .. x0+w+r-1 (reflect-101); false
 * when one falls outside `in`. */
static bool column_table(const tsr_region *in, int x0, int w, int r, int *cols) {
    for (int j = 0; j < w + 2 * r; j++) {
        cols[j] = tsr_reflect101(x0 - r + j, in->image_w);
        if (cols[j] < in->rect.x || cols[j] >= in->rect.x + in->rect.w)
            return false;
    }
    return true;
}

/* Pads image row y into `pad` via the column table (interior as one copy). */
static void pad_row(const tsr_region *in, int y, const int *cols, int x0, int w, int r,
                    uint8_t *pad) {
    int b = in->bands, ncols = w + 2 * r;
    int lo = x0 - r < 0 ? r - x0 : 0;                                   /* first interior */
    int hi = x0 + w + r > in->image_w ? in->image_w - (x0 - r) : ncols; /* end of interior */
    for (int j = 0; j < lo; j++)
        memcpy(pad + (size_t)j * b, TSR_REGION_AT(in, cols[j], y), (size_t)b);
    if (hi > lo)
        memcpy(pad + (size_t)lo * b, TSR_REGION_AT(in, cols[lo], y), (size_t)(hi - lo) * b);
    for (int j = hi > lo ? hi : lo; j < ncols; j++)
        memcpy(pad + (size_t)j * b, TSR_REGION_AT(in, cols[j], y), (size_t)b);
}

/* h[j] = sum_i taps[i] * pad[j + i*b] over len samples, exact in 16 bits. */
static void hpass(const sep_kernel *k, const uint8_t *pad, int b, size_t len, uint16_t *h) {
    int r = k->n / 2;
    uint16_t c = k->taps[r];
    const uint8_t *m = pad + (size_t)r * b;
    /* simd: auto-vectorised */
    for (size_t j = 0; j < len; j++)
        h[j] = (uint16_t)(c * m[j]);
    for (int i = 0; i < r; i++) {
        uint16_t t = k->taps[i];
        const uint8_t *p = pad + (size_t)i * b, *q = pad + (size_t)(k->n - 1 - i) * b;
        if (t == 1)
            /* simd: auto-vectorised */
            for (size_t j = 0; j < len; j++)
                h[j] = (uint16_t)(h[j] + p[j] + q[j]);
        else
            /* simd: auto-vectorised */
            for (size_t j = 0; j < len; j++)
                h[j] = (uint16_t)(h[j] + t * (uint16_t)(p[j] + q[j]));
    }
}

/* acc[j] = sum_i taps[i] * rows[i][j], exact in 32 bits. */
static void vpass(const sep_kernel *k, const uint16_t *const *rows, size_t len, uint32_t *acc) {
    int r = k->n / 2;
    uint32_t c = k->taps[r];
    const uint16_t *m = rows[r];
    /* simd: auto-vectorised */
    for (size_t j = 0; j < len; j++)
        acc[j] = c * m[j];
    for (int i = 0; i < r; i++) {
        uint32_t t = k->taps[i];
        const uint16_t *p = rows[i], *q = rows[k->n - 1 - i];
        /* simd: auto-vectorised */
        for (size_t j = 0; j < len; j++)
            acc[j] += t * ((uint32_t)p[j] + q[j]);
    }
}

/* acc[j] += sign * row[j] (sign 1 or -1): a box's vertical sum gains the
 * row coming in or loses the one leaving. */
static void vslide(const uint16_t *row, uint32_t sign, size_t len, uint32_t *acc) {
    /* simd: auto-vectorised */
    for (size_t j = 0; j < len; j++)
        acc[j] += sign * row[j];
}

/* Turns the vertical sums into bytes as OpenCV does for the kernel kind. */
static void finish(const sep_kernel *k, const uint32_t *acc, size_t len, uint8_t *d) {
    switch (k->final) {
    case SEP_ROUND16:
        for (size_t j = 0; j < len; j++) {
            uint32_t v = (acc[j] + (1u << 15)) >> 16;
            d[j] = (uint8_t)(v > 255 ? 255 : v);
        }
        break;
    case SEP_BOX_FIXED:
        for (size_t j = 0; j < len; j++) {
            uint32_t v = ((acc[j] + k->div_delta) * k->div_scale) >> 23;
            d[j] = (uint8_t)(v > 255 ? 255 : v);
        }
        break;
    case SEP_BOX_FLOAT:
        for (size_t j = 0; j < len; j++) {
            double v = nearbyint((double)acc[j] * k->box_scale);
            d[j] = (uint8_t)(v > 255 ? 255 : v);
        }
        break;
    }
}

tsr_status tsr_separable_run(const sep_kernel *k, const tsr_region *in, tsr_region *out) {
    tsr_status st = TSR_OK;
    int n = k->n, r = n / 2, w = out->rect.w, b = out->bands, x0 = out->rect.x;
    size_t len = (size_t)w * (size_t)b;
    int *cols = malloc(sizeof *cols * (size_t)(w + 2 * r));
    int *tags = malloc(sizeof *tags * (size_t)n);
    uint8_t *pad = malloc((size_t)(w + 2 * r) * (size_t)b);
    uint16_t *ring = malloc(sizeof *ring * len * (size_t)n);
    uint32_t *acc = malloc(sizeof *acc * len);
    const uint16_t *rows[SEP_MAX_TAPS];
    if (!cols || !tags || !pad || !ring || !acc) {
        st = TSR_ERR_NOMEM;
        goto out;
    }
    if (n > SEP_MAX_TAPS || !column_table(in, x0, w, r, cols)) {
        st = TSR_ERR_INTERNAL;
        goto out;
    }
    for (int i = 0; i < n; i++)
        tags[i] = -1;
    /* A box (every tap 1) moves its vertical sum down a row by adding the
     * row that comes in and taking off the one that leaves: two rows a
     * pixel instead of n, the same exact sums. */
    bool box = k->final != SEP_ROUND16;
    for (int y = out->rect.y; y < out->rect.y + out->rect.h; y++) {
        const uint16_t *leaving = NULL;
        if (box && y > out->rect.y) {
            int sy = tsr_reflect101(y - 1 - r, in->image_h);
            if (tags[sy % n] == sy) /* still in the ring: the row coming in takes its slot */
                leaving = ring + len * (size_t)(sy % n);
        }
        if (leaving) /* taken off before its slot is reused */
            vslide(leaving, (uint32_t)-1, len, acc);
        for (int i = 0; i < n; i++) {
            int sy = tsr_reflect101(y - r + i, in->image_h);
            if (sy < in->rect.y || sy >= in->rect.y + in->rect.h) {
                st = TSR_ERR_INTERNAL;
                goto out;
            }
            uint16_t *slot = ring + len * (size_t)(sy % n);
            if (tags[sy % n] != sy) {
                pad_row(in, sy, cols, x0, w, r, pad);
                hpass(k, pad, b, len, slot);
                tags[sy % n] = sy;
            }
            rows[i] = slot;
        }
        if (leaving)
            vslide(rows[n - 1], 1, len, acc);
        else
            vpass(k, rows, len, acc);
        uint8_t *d = TSR_REGION_AT(out, x0, y);
        finish(k, acc, len, d);
        if (b == 2 || b == 4) {
            const uint8_t *s = TSR_REGION_AT(in, x0, y);
            for (size_t j = (size_t)b - 1; j < len; j += (size_t)b)
                d[j] = s[j];
        }
    }
out:
    free(cols);
    free(tags);
    free(pad);
    free(ring);
    free(acc);
    return st;
}
