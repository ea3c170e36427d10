/* The resampling engine behind resize and thumbnail: OpenCV 4.6's
 * cv::resize for 8-bit images, reproduced table for table so that the bytes
 * match (resize.cpp: resizeGeneric_, resizeAreaFast_, ResizeArea_Invoker).
 * Tables are computed once per plan; run() evaluates each output pixel from
 * its image position only, so tiles never change the result. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/geometry/geometry.h"
#include "ops/geometry/resample_hpass.h"

#define COEF_BITS  11 /* INTER_RESIZE_COEF_BITS */
#define COEF_SCALE (1 << COEF_BITS)
#define MAX_TAPS   8

typedef tsr_resample_axis axis;

static void axis_free(axis *a) {
    free(a->ofs);
    free(a->coef);
    free(a->first);
    free(a->src);
    free(a->alpha);
}

void tsr_resample_free(tsr_resample *rs) {
    if (!rs)
        return;
    axis_free(&rs->x);
    axis_free(&rs->y);
    free(rs);
}

static short sat_short_f(float v) {
    int i = (int)lrintf(v);
    return (short)(i < -32768 ? -32768 : (i > 32767 ? 32767 : i));
}

static void cubic_coeffs(float x, float *c) {
    const float a = -0.75f;
    c[0] = ((a * (x + 1) - 5 * a) * (x + 1) + 8 * a) * (x + 1) - 4 * a;
    c[1] = ((a + 2) * x - (a + 3)) * x * x + 1;
    c[2] = ((a + 2) * (1 - x) - (a + 3)) * (1 - x) * (1 - x) + 1;
    c[3] = 1.f - c[0] - c[1] - c[2];
}

static void lanczos_coeffs(float x, float *c) {
    static const double s45 = 0.70710678118654752440084436210485;
    static const double cs[][2] = {{1, 0},  {-s45, -s45}, {0, 1},  {s45, -s45},
                                   {-1, 0}, {s45, s45},   {0, -1}, {-s45, s45}};
    float sum = 0;
    double y0 = -(x + 3) * M_PI * 0.25, s0 = sin(y0), c0 = cos(y0);
    for (int i = 0; i < 8; i++) {
        float yi = (x + 3 - i);
        if (fabsf(yi) >= 1e-6f) {
            double y = -yi * M_PI * 0.25;
            c[i] = (float)((cs[i][0] * s0 + cs[i][1] * c0) / (y * y));
        } else {
            c[i] = 1e30f;
        }
        sum += c[i];
    }
    sum = 1.f / sum;
    for (int i = 0; i < 8; i++)
        c[i] *= sum;
}

/* resizeGeneric_'s offsets and weights along one axis. `clamp_edges` (the
 * x axis): linear and area move the window inside the image at the edges,
 * with weights (1, 0); along y OpenCV keeps the weights and only clamps the
 * rows it reads, which rounds differently in its SIMD vertical pass. */
static int separable_axis(axis *a, tsr_interp interp, int taps, int in_n, double scale,
                          double inv_scale, bool clamp_edges) {
    a->ofs = malloc(sizeof(int) * (size_t)a->n);
    a->coef = malloc(sizeof(short) * (size_t)a->n * (size_t)taps);
    if (!a->ofs || !a->coef)
        return -1;
    bool area = interp == TSR_INTERP_AREA;
    bool wide = interp == TSR_INTERP_CUBIC || interp == TSR_INTERP_LANCZOS;
    for (int d = 0; d < a->n; d++) {
        float f;
        int s;
        if (!area) {
            f = (float)((d + 0.5) * scale - 0.5);
            s = (int)floorf(f);
            f -= (float)s;
        } else {
            s = (int)floor(d * scale);
            f = (float)((d + 1) - (s + 1) * inv_scale);
            f = f <= 0 ? 0.f : f - floorf(f);
        }
        if (clamp_edges && !wide && s < 0)
            f = 0, s = 0;
        if (clamp_edges && !wide && s >= in_n - 1)
            f = 0, s = in_n - 1;
        float c[MAX_TAPS];
        if (interp == TSR_INTERP_CUBIC)
            cubic_coeffs(f, c);
        else if (interp == TSR_INTERP_LANCZOS)
            lanczos_coeffs(f, c);
        else
            c[0] = 1.f - f, c[1] = f;
        a->ofs[d] = s - (taps / 2 - 1);
        for (int k = 0; k < taps; k++)
            a->coef[d * taps + k] = sat_short_f(c[k] * COEF_SCALE);
    }
    return 0;
}

/* computeResizeAreaTab: for each output sample the source samples it covers
 * and their share of the cell, in source order. */
static int area_axis(axis *a, int in_n, double scale) {
    a->first = malloc(sizeof(int) * (size_t)(a->n + 1));
    a->src = malloc(sizeof(int) * (size_t)in_n * 2);
    a->alpha = malloc(sizeof(float) * (size_t)in_n * 2);
    if (!a->first || !a->src || !a->alpha)
        return -1;
    int k = 0;
    for (int d = 0; d < a->n; d++) {
        double f1 = d * scale, f2 = f1 + scale;
        double cell = scale < in_n - f1 ? scale : in_n - f1;
        int s1 = (int)ceil(f1), s2 = (int)floor(f2);
        s2 = s2 < in_n - 1 ? s2 : in_n - 1;
        s1 = s1 < s2 ? s1 : s2;
        a->first[d] = k;
        if (s1 - f1 > 1e-3) {
            a->src[k] = s1 - 1;
            a->alpha[k++] = (float)((s1 - f1) / cell);
        }
        for (int s = s1; s < s2; s++) {
            a->src[k] = s;
            a->alpha[k++] = (float)(1.0 / cell);
        }
        if (f2 - s2 > 1e-3) {
            double part = f2 - s2 < 1. ? f2 - s2 : 1.;
            a->src[k] = s2;
            a->alpha[k++] = (float)((part < cell ? part : cell) / cell);
        }
    }
    a->first[a->n] = k;
    return 0;
}

/* Where OpenCV's vertical pass switches from its SIMD formula to its scalar
 * one in a row of `width` samples. Linear: never (its 8-bit scalar code,
 * a specialisation of VResizeLinear, uses the SIMD formula too). Cubic:
 * VResizeCubicVec_32s8u covers blocks of 8 (128-bit vectors, the baseline
 * of Debian's build), the rest is fixed-point. */
static int vector_end(tsr_interp interp, int width) {
    if (interp == TSR_INTERP_LINEAR || interp == TSR_INTERP_AREA)
        return width;
    if (interp != TSR_INTERP_CUBIC)
        return 0;
    int x = 0;
    for (; x <= width - 8; x += 8)
        ;
    return x;
}

static tsr_status plan(tsr_resample *rs, double isx, double isy) {
    double sx = 1. / isx, sy = 1. / isy;
    int ix = (int)lrint(sx), iy = (int)lrint(sy);
    bool area_fast = fabs(sx - ix) < DBL_EPSILON && fabs(sy - iy) < DBL_EPSILON;
    tsr_interp interp = rs->interp;
    if (rs->x.n == rs->in_w && rs->y.n == rs->in_h) {
        rs->mode = TSR_RESAMPLE_COPY;
        return TSR_OK;
    }
    if (interp == TSR_INTERP_NEAREST) {
        rs->mode = TSR_RESAMPLE_NEAREST;
        axis *axes[2] = {&rs->x, &rs->y};
        double inv[2] = {1. / isx, 1. / isy};
        int lim[2] = {rs->in_w, rs->in_h};
        for (int i = 0; i < 2; i++) {
            axes[i]->ofs = malloc(sizeof(int) * (size_t)axes[i]->n);
            if (!axes[i]->ofs)
                return TSR_ERR_NOMEM;
            for (int d = 0; d < axes[i]->n; d++) {
                int s = (int)floor(d * inv[i]);
                axes[i]->ofs[d] = s < lim[i] - 1 ? s : lim[i] - 1;
            }
        }
        return TSR_OK;
    }
    if (interp == TSR_INTERP_LINEAR && area_fast && ix == 2 && iy == 2)
        interp = TSR_INTERP_AREA;
    if (interp == TSR_INTERP_AREA && sx >= 1 && sy >= 1) {
        if (area_fast) {
            rs->mode = TSR_RESAMPLE_AREA_FAST;
            rs->fx = ix;
            rs->fy = iy;
            return TSR_OK;
        }
        rs->mode = TSR_RESAMPLE_AREA;
        if (area_axis(&rs->x, rs->in_w, sx) || area_axis(&rs->y, rs->in_h, sy))
            return TSR_ERR_NOMEM;
        return TSR_OK;
    }
    rs->mode = TSR_RESAMPLE_SEPARABLE;
    rs->interp = interp;
    rs->taps = interp == TSR_INTERP_LANCZOS ? 8 : (interp == TSR_INTERP_CUBIC ? 4 : 2);
    rs->vec_end = vector_end(interp, rs->x.n * rs->bands);
    if (separable_axis(&rs->x, interp, rs->taps, rs->in_w, sx, isx, true) ||
        separable_axis(&rs->y, interp, rs->taps, rs->in_h, sy, isy, false))
        return TSR_ERR_NOMEM;
    return TSR_OK;
}

tsr_status tsr_resample_new(tsr_ctx *ctx, const char *what, tsr_interp interp, int in_w, int in_h,
                            int bands, int out_w, int out_h, double inv_scale_x, double inv_scale_y,
                            tsr_resample **out) {
    *out = NULL;
    tsr_resample *rs = calloc(1, sizeof *rs);
    if (!rs)
        return tsr_error(ctx, TSR_ERR_NOMEM, "%s: out of memory for the resampling tables", what);
    rs->interp = interp;
    rs->in_w = in_w;
    rs->in_h = in_h;
    rs->bands = bands;
    rs->x.n = out_w;
    rs->y.n = out_h;
    if (plan(rs, inv_scale_x, inv_scale_y) != TSR_OK) {
        tsr_resample_free(rs);
        return tsr_error(ctx, TSR_ERR_NOMEM, "%s: out of memory for the resampling tables", what);
    }
    *out = rs;
    return TSR_OK;
}

/* Source span [*lo, *hi] read by output samples [d0, d1] along one axis. */
static void axis_span(const tsr_resample *rs, const axis *a, int factor, int in_n, int d0, int d1,
                      int *lo, int *hi) {
    switch (rs->mode) {
    case TSR_RESAMPLE_NEAREST:
        *lo = a->ofs[d0], *hi = a->ofs[d1];
        break;
    case TSR_RESAMPLE_SEPARABLE:
        *lo = a->ofs[d0], *hi = a->ofs[d1] + rs->taps - 1;
        break;
    case TSR_RESAMPLE_AREA_FAST:
        *lo = d0 * factor, *hi = d1 * factor + factor - 1;
        break;
    case TSR_RESAMPLE_AREA:
        *lo = a->src[a->first[d0]], *hi = a->src[a->first[d1 + 1] - 1];
        break;
    default:
        *lo = d0, *hi = d1;
    }
    *lo = tsr_clampi(*lo, 0, in_n - 1);
    *hi = tsr_clampi(*hi, 0, in_n - 1);
}

tsr_rect tsr_resample_need(const tsr_resample *rs, tsr_rect out) {
    if (tsr_rect_empty(out))
        return tsr_rect_make(0, 0, 0, 0);
    int x0, x1, y0, y1;
    axis_span(rs, &rs->x, rs->fx, rs->in_w, out.x, out.x + out.w - 1, &x0, &x1);
    axis_span(rs, &rs->y, rs->fy, rs->in_h, out.y, out.y + out.h - 1, &y0, &y1);
    return tsr_rect_make(x0, y0, x1 - x0 + 1, y1 - y0 + 1);
}

static void run_nearest(const tsr_resample *rs, const tsr_region *in, tsr_region *out) {
    int bands = rs->bands;
    for (int y = out->rect.y; y < out->rect.y + out->rect.h; y++) {
        uint8_t *d = TSR_REGION_AT(out, out->rect.x, y);
        for (int x = out->rect.x; x < out->rect.x + out->rect.w; x++, d += bands) {
            const uint8_t *s = TSR_REGION_AT(in, rs->x.ofs[x], rs->y.ofs[y]);
            memcpy(d, s, (size_t)bands);
        }
    }
}

/* resizeAreaFast_: whole blocks average with (sum + 2) >> 2 for 2x2 blocks of
 * 1 or 4 bands (OpenCV's SIMD path) and sum * (1/area) rounded otherwise;
 * blocks cut by the right or bottom edge average what they have. */
static void run_area_fast(const tsr_resample *rs, const tsr_region *in, tsr_region *out) {
    int bands = rs->bands, fx = rs->fx, fy = rs->fy, area = fx * fy;
    float scale = 1.f / (float)area;
    bool shift = fx == 2 && fy == 2 && bands != 2;
    int full_w = rs->in_w / fx;
    for (int y = out->rect.y; y < out->rect.y + out->rect.h; y++) {
        int sy0 = y * fy;
        bool full_row = sy0 + fy <= rs->in_h;
        uint8_t *d = TSR_REGION_AT(out, out->rect.x, y);
        for (int x = out->rect.x; x < out->rect.x + out->rect.w; x++) {
            int sx0 = x * fx;
            for (int b = 0; b < bands; b++, d++) {
                int sum = 0, count = 0;
                for (int j = 0; j < fy && sy0 + j < rs->in_h; j++) {
                    const uint8_t *s = TSR_REGION_AT(in, sx0, sy0 + j) + b;
                    for (int i = 0; i < fx && sx0 + i < rs->in_w; i++, count++)
                        sum += s[i * bands];
                }
                if (full_row && x < full_w)
                    *d = shift ? (uint8_t)((sum + 2) >> 2)
                               : tsr_sat_u8((int)lrintf((float)sum * scale));
                else
                    *d = tsr_sat_u8((int)lrintf((float)sum / (float)count));
            }
        }
    }
}

/* ResizeArea_Invoker: per row entry, a float sum over the column entries,
 * weighted by the row share; summed in OpenCV's order, rounded to even. */
static void run_area(const tsr_resample *rs, const tsr_region *in, tsr_region *out) {
    int bands = rs->bands;
    const axis *ax = &rs->x, *ay = &rs->y;
    for (int y = out->rect.y; y < out->rect.y + out->rect.h; y++) {
        uint8_t *d = TSR_REGION_AT(out, out->rect.x, y);
        for (int x = out->rect.x; x < out->rect.x + out->rect.w; x++) {
            float sum[TSR_MAX_BANDS] = {0};
            for (int j = ay->first[y]; j < ay->first[y + 1]; j++) {
                float buf[TSR_MAX_BANDS] = {0};
                const uint8_t *row = TSR_REGION_AT(in, in->rect.x, ay->src[j]);
                for (int k = ax->first[x]; k < ax->first[x + 1]; k++) {
                    const uint8_t *s = row + (ptrdiff_t)(ax->src[k] - in->rect.x) * bands;
                    for (int b = 0; b < bands; b++)
                        buf[b] += (float)s[b] * ax->alpha[k];
                }
                for (int b = 0; b < bands; b++)
                    sum[b] += ay->alpha[j] * buf[b];
            }
            for (int b = 0; b < bands; b++, d++)
                *d = tsr_sat_u8((int)lrintf(sum[b]));
        }
    }
}

/* The 2-tap horizontal pass with `bands` a constant after inlining, so the
 * per-pixel band loop unrolls. Offsets grow with x and only the last
 * column's (1, 0) window reaches the image edge: that tail reads one pixel. */
static inline void hpass_linear(const tsr_resample *rs, const uint8_t *row, int first, int x0,
                                int w, int bands, int *restrict dst, int region_end) {
    const short *restrict coef = rs->x.coef;
    const int *restrict ofs = rs->x.ofs;
    const uint8_t *restrict base = row - (ptrdiff_t)first * bands;
    int last = rs->in_w - 1, end = x0 + w, x = x0;
    while (end > x0 && ofs[end - 1] >= last)
        end--;
    /* the vector path reads 8 bytes: two taps and the start of a third
     * pixel, which must be in the region's row */
    int done = tsr_resample_hpass_linear(tsr_simd_active(), coef, ofs, base, x, end, region_end - 2,
                                         bands, dst);
    dst += (size_t)(done - x) * bands;
    x = done;
    for (; x < end; x++, dst += bands) {
        int c0 = coef[2 * x], c1 = coef[2 * x + 1];
        const uint8_t *restrict p = base + (ptrdiff_t)ofs[x] * bands;
        for (int b = 0; b < bands; b++)
            dst[b] = p[b] * c0 + p[b + bands] * c1;
    }
    for (; x < x0 + w; x++, dst += bands) {
        int c = coef[2 * x] + coef[2 * x + 1];
        const uint8_t *restrict p = base + (ptrdiff_t)ofs[x] * bands;
        for (int b = 0; b < bands; b++)
            dst[b] = p[b] * c;
    }
}

/* Horizontal pass of one source row over output columns [x0, x0+w): sums of
 * clamped taps times 1/2048 weights, in int as OpenCV does. */
static void hpass(const tsr_resample *rs, const tsr_region *in, int sy, int x0, int w, int *dst) {
    int bands = rs->bands, taps = rs->taps, first = in->rect.x, last = rs->in_w - 1;
    int region_end = in->rect.x + in->rect.w;
    const uint8_t *row = TSR_REGION_AT(in, first, sy);
    if (taps == 2) {
        switch (bands) {
        case 1:
            hpass_linear(rs, row, first, x0, w, 1, dst, region_end);
            return;
        case 3:
            hpass_linear(rs, row, first, x0, w, 3, dst, region_end);
            return;
        case 4:
            hpass_linear(rs, row, first, x0, w, 4, dst, region_end);
            return;
        default:
            hpass_linear(rs, row, first, x0, w, bands, dst, region_end);
            return;
        }
    }
    for (int x = x0; x < x0 + w; x++) {
        const short *c = rs->x.coef + (size_t)x * taps;
        int s0 = rs->x.ofs[x];
        for (int b = 0; b < bands; b++) {
            unsigned acc = 0;
            for (int k = 0; k < taps; k++)
                acc += (unsigned)(row[(tsr_clampi(s0 + k, 0, last) - first) * bands + b] * c[k]);
            *dst++ = (int)acc;
        }
    }
}

/* Vertical pass of one output row: OpenCV's SIMD formulas before vec_end
 * (linear: (((S0 >> 4) * b0) >> 16) + (((S1 >> 4) * b1) >> 16), rounded by 2
 * bits; cubic: float), its fixed-point formula after. `pos` is the row-sample index of
 * dst[0] in the whole output row. */
static void vpass(const tsr_resample *rs, int *const *rows, const short *beta, int pos, int n,
                  uint8_t *dst) {
    int taps = rs->taps, i = 0;
    if (taps == 2) {
        /* 16-bit multiply-high as in OpenCV: S >> 4 <= 32640 and the weights
         * are 0..2048, so every step fits int16 and vectorizes. */
        const int *restrict r0 = rows[0], *restrict r1 = rows[1];
        int16_t b0 = beta[0], b1 = beta[1];
        uint8_t *restrict d = dst;
        /* simd: auto-vectorised */
        for (; i < n; i++) {
            int16_t s0 = (int16_t)(r0[i] >> 4), s1 = (int16_t)(r1[i] >> 4);
            int16_t t = (int16_t)((int16_t)((s0 * b0) >> 16) + (int16_t)((s1 * b1) >> 16));
            int16_t v = (int16_t)((t + 2) >> 2);
            d[i] = (uint8_t)(v < 0 ? 0 : (v > 255 ? 255 : v));
        }
        return;
    }
    for (; i < n && taps == 4 && pos + i < rs->vec_end; i++) {
        const float scale = 1.f / (COEF_SCALE * COEF_SCALE);
        float b[4];
        for (int k = 0; k < 4; k++)
            b[k] = beta[k] * scale;
        float v =
            (float)rows[0][i] * b[0] +
            ((float)rows[1][i] * b[1] + ((float)rows[2][i] * b[2] + (float)rows[3][i] * b[3]));
        long r = lrintf(v);
        r = r < -32768 ? -32768 : (r > 32767 ? 32767 : r);
        dst[i] = tsr_sat_u8((int)r);
    }
    for (; i < n; i++) {
        unsigned acc = 0;
        for (int k = 0; k < taps; k++)
            acc += (unsigned)rows[k][i] * (unsigned)(int)beta[k];
        dst[i] = tsr_sat_u8((int)(acc + (1u << (2 * COEF_BITS - 1))) >> (2 * COEF_BITS));
    }
}

/* resizeGeneric_: per output row, the horizontal pass of its `taps` clamped
 * source rows (cached across rows), then the vertical pass. */
static tsr_status run_separable(const tsr_resample *rs, const tsr_region *in, tsr_region *out) {
    int taps = rs->taps, n = out->rect.w * rs->bands;
    int *buf = malloc(sizeof(int) * (size_t)n * (size_t)taps);
    if (!buf)
        return TSR_ERR_NOMEM;
    int *slot[MAX_TAPS], tag[MAX_TAPS];
    for (int k = 0; k < taps; k++)
        slot[k] = buf + (size_t)k * n, tag[k] = -1;
    for (int y = out->rect.y; y < out->rect.y + out->rect.h; y++) {
        int *rows[MAX_TAPS];
        int lo = tsr_clampi(rs->y.ofs[y], 0, rs->in_h - 1);
        for (int k = 0; k < taps; k++) {
            int sy = tsr_clampi(rs->y.ofs[y] + k, 0, rs->in_h - 1);
            int found = -1, free_slot = -1;
            for (int s = 0; s < taps; s++) {
                if (tag[s] == sy)
                    found = s;
                if (tag[s] < lo && free_slot < 0)
                    free_slot = s;
            }
            if (found < 0) {
                found = free_slot;
                hpass(rs, in, sy, out->rect.x, out->rect.w, slot[found]);
                tag[found] = sy;
            }
            rows[k] = slot[found];
        }
        vpass(rs, rows, rs->y.coef + (size_t)y * taps, out->rect.x * rs->bands, n,
              TSR_REGION_AT(out, out->rect.x, y));
    }
    free(buf);
    return TSR_OK;
}

tsr_status tsr_resample_run(const tsr_resample *rs, const tsr_region *in, tsr_region *out) {
    switch (rs->mode) {
    case TSR_RESAMPLE_COPY:
        tsr_region_copy(in, out);
        return TSR_OK;
    case TSR_RESAMPLE_NEAREST:
        run_nearest(rs, in, out);
        return TSR_OK;
    case TSR_RESAMPLE_AREA_FAST:
        run_area_fast(rs, in, out);
        return TSR_OK;
    case TSR_RESAMPLE_AREA:
        run_area(rs, in, out);
        return TSR_OK;
    default:
        return run_separable(rs, in, out);
    }
}

void tsr_resample_op_release(tsr_op *op) {
    tsr_resample_free(op->state);
    op->state = NULL;
}

tsr_rect tsr_resample_op_need(const tsr_op *op, tsr_rect out) {
    return tsr_resample_need(op->state, out);
}

tsr_status tsr_resample_op_run(const tsr_op *op, const tsr_region *in, tsr_region *out) {
    return tsr_resample_run(op->state, in, out);
}
