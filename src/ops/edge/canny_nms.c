/* canny-nms: the local stage of canny. 3x3 Sobel (int16, replicated
 * borders), per-pixel channel selection, L1 magnitude and OpenCV's
 * non-maximum suppression; writes the candidate map (CANNY_NONE, CANNY_WEAK,
 * CANNY_STRONG) that canny-hysteresis floods. Radius 2: the magnitude of the
 * 8 neighbours needs their own 3x3 windows. */
#include <stdlib.h>
#include <string.h>

#include "ops/edge/edge.h"

#define CANNY_SHIFT 15
/* tan(22.5 degrees) in Q15, rounded as OpenCV does. */
#define TG22 ((int)(0.4142135623730950488016887242097 * (1 << CANNY_SHIFT) + 0.5))

/* Working rows of one run() call. Row arrays hold columns x0-1 .. x1 of the
 * output rect [x0, x1), indexed from 0. */
typedef struct nms_rows {
    int n;           /* columns per row array: out width + 2 */
    int16_t *mag[3]; /* L1 magnitude of rows y-1, y, y+1 (0 outside the image) */
    int16_t *dx[3];  /* dx of the selected channel, same rows */
    int16_t *dy[3];  /* dy of the selected channel, same rows */
    int16_t *vsum;   /* per sample: row above + 2 * row + row below, padded columns */
    int16_t *vdiff;  /* per sample: row below - row above, padded columns */
    int16_t *sdx;    /* per sample dx before channel selection */
    int16_t *sdy;    /* per sample dy before channel selection */
    void *block;     /* the one allocation all of the above live in */
} nms_rows;

static tsr_status prepare(tsr_ctx *ctx, tsr_op *op) {
    (void)ctx;
    op->out_w = op->in_w;
    op->out_h = op->in_h;
    op->out_bands = 1;
    op->radius = 2;
    return TSR_OK;
}

static tsr_status rows_alloc(nms_rows *r, int w, int bands) {
    size_t n = (size_t)w + 2;
    size_t total = 9 * n + 2 * (n + 2) * (size_t)bands + 2 * n * (size_t)bands;
    int16_t *p = malloc(total * sizeof *p);
    if (!p)
        return TSR_ERR_NOMEM;
    r->n = (int)n;
    r->block = p;
    for (int i = 0; i < 3; i++) {
        r->mag[i] = p, p += n;
        r->dx[i] = p, p += n;
        r->dy[i] = p, p += n;
    }
    r->vsum = p, p += (n + 2) * (size_t)bands;
    r->vdiff = p, p += (n + 2) * (size_t)bands;
    r->sdx = p, p += n * (size_t)bands;
    r->sdy = p;
    return TSR_OK;
}

/* dx and dy per sample from the vertical passes: cnt samples, the
 * neighbours one pixel (`bands` samples) apart. */
static void horizontal_pass(const int16_t *restrict vs, const int16_t *restrict vd,
                            int16_t *restrict sdx, int16_t *restrict sdy, int cnt, int bands) {
    int b2 = 2 * bands;
    /* simd: auto-vectorised */
    for (int i = 0; i < cnt; i++) {
        sdx[i] = (int16_t)(vs[i + b2] - vs[i]);
        sdy[i] = (int16_t)(vd[i] + 2 * vd[i + bands] + vd[i + b2]);
    }
}

/* Sums of the three rows: vs = p0 + 2 p1 + p2, vd = p2 - p0. */
static void vertical_sums(const uint8_t *p0, const uint8_t *p1, const uint8_t *p2,
                          int16_t *restrict vs, int16_t *restrict vd, int cnt) {
    /* simd: auto-vectorised */
    for (int i = 0; i < cnt; i++) {
        vs[i] = (int16_t)(p0[i] + 2 * p1[i] + p2[i]);
        vd[i] = (int16_t)(p2[i] - p0[i]);
    }
}

/* Colour: the channel with the largest magnitude, the first in OpenCV's
 * B, G, R order on ties (tessera holds R, G, B; alpha is ignored). */
static inline void select_channel(const int16_t *restrict sdx, const int16_t *restrict sdy,
                                  int16_t *restrict dx, int16_t *restrict dy, int16_t *restrict mag,
                                  int cols, int bands) {
    for (int j = 0; j < cols; j++) {
        const int16_t *gx = sdx + j * bands, *gy = sdy + j * bands;
        int m = abs(gx[2]) + abs(gy[2]), x = gx[2], y = gy[2];
        int m1 = abs(gx[1]) + abs(gy[1]), m0 = abs(gx[0]) + abs(gy[0]);
        int take1 = m1 > m;
        x = take1 ? gx[1] : x;
        y = take1 ? gy[1] : y;
        m = take1 ? m1 : m;
        int take0 = m0 > m;
        dx[j] = (int16_t)(take0 ? gx[0] : x);
        dy[j] = (int16_t)(take0 ? gy[0] : y);
        mag[j] = (int16_t)(take0 ? m0 : m);
    }
}

/* Vertical Sobel passes of image row y over columns [a - 1, b] (replicated
 * at the image edges) into r->vsum / r->vdiff. */
static void vertical_pass(const tsr_region *in, nms_rows *r, int y, int a, int b) {
    int bands = in->bands, w = in->image_w, h = in->image_h;
    int lo = a - 1 < 0 ? 0 : a - 1;
    int hi = b < w ? b : w - 1;
    int off = (lo - (a - 1)) * bands;
    int cnt = (hi - lo + 1) * bands;
    const uint8_t *p0 = TSR_REGION_AT(in, lo, tsr_clampi(y - 1, 0, h - 1));
    const uint8_t *p1 = TSR_REGION_AT(in, lo, y);
    const uint8_t *p2 = TSR_REGION_AT(in, lo, tsr_clampi(y + 1, 0, h - 1));
    vertical_sums(p0, p1, p2, r->vsum + off, r->vdiff + off, cnt);
    if (off) {
        for (int k = 0; k < bands; k++) {
            r->vsum[k] = r->vsum[bands + k];
            r->vdiff[k] = r->vdiff[bands + k];
        }
    }
    if (hi < b) {
        int last = (b - a + 1) * bands;
        for (int k = 0; k < bands; k++) {
            r->vsum[last + k] = r->vsum[last - bands + k];
            r->vdiff[last + k] = r->vdiff[last - bands + k];
        }
    }
}

/* Fills ring slot `slot` with the gradient of image row y for columns
 * x0-1 .. x0+n-2; zero magnitude outside the image, as OpenCV's border. */
static void gradient_row(const tsr_region *in, nms_rows *r, int slot, int y, int x0) {
    int bands = in->bands, n = r->n, xa = x0 - 1;
    int16_t *mag = r->mag[slot], *dx = r->dx[slot], *dy = r->dy[slot];
    memset(mag, 0, (size_t)n * sizeof *mag);
    memset(dx, 0, (size_t)n * sizeof *dx);
    memset(dy, 0, (size_t)n * sizeof *dy);
    int a = xa < 0 ? 0 : xa;
    int b = xa + n < in->image_w ? xa + n : in->image_w;
    if (y < 0 || y >= in->image_h || a >= b)
        return;
    vertical_pass(in, r, y, a, b);
    horizontal_pass(r->vsum, r->vdiff, r->sdx, r->sdy, (b - a) * bands, bands);
    const int16_t *sdx = r->sdx, *sdy = r->sdy;
    int cols = b - a, o = a - xa;
    if (bands < 3) {
        /* Gray, or gray + alpha: band 0 only. */
        for (int j = 0; j < cols; j++) {
            int gx = sdx[j * bands], gy = sdy[j * bands];
            dx[o + j] = (int16_t)gx;
            dy[o + j] = (int16_t)gy;
            mag[o + j] = (int16_t)(abs(gx) + abs(gy));
        }
        return;
    }
    /* Constant strides let the compiler vectorize the selection. */
    if (bands == 3)
        select_channel(sdx, sdy, dx + o, dy + o, mag + o, cols, 3);
    else
        select_channel(sdx, sdy, dx + o, dy + o, mag + o, cols, 4);
}

/* Non-maximum suppression of one row: k indexes the ring arrays (column x0-1
 * at 0), so output column j is at k = j + 1. */
static void suppress_row(const int16_t *mp, const int16_t *mc, const int16_t *mn,
                         const int16_t *dxr, const int16_t *dyr, int low, int high, uint8_t *dst,
                         int w) {
    for (int j = 0; j < w; j++) {
        int k = j + 1, m = mc[k];
        uint8_t v = CANNY_NONE;
        if (m > low) {
            int xs = dxr[k], ys = dyr[k];
            int x = abs(xs), y = abs(ys) << CANNY_SHIFT;
            int tg22x = x * TG22;
            int keep;
            if (y < tg22x) {
                keep = m > mc[k - 1] && m >= mc[k + 1];
            } else if (y > tg22x + (x << (CANNY_SHIFT + 1))) {
                keep = m > mp[k] && m >= mn[k];
            } else {
                int s = (xs ^ ys) < 0 ? -1 : 1;
                keep = m > mp[k - s] && m > mn[k + s];
            }
            if (keep)
                v = m > high ? CANNY_STRONG : CANNY_WEAK;
        }
        dst[j] = v;
    }
}

/* Computes the candidate map of out->rect; `in` covers the rect grown by 2. */
static tsr_status run(const tsr_op *op, const tsr_region *in, tsr_region *out) {
    int x0 = out->rect.x, y0 = out->rect.y, w = out->rect.w, h = out->rect.h;
    int low, high;
    nms_rows r;
    if (w <= 0 || h <= 0)
        return TSR_OK;
    tsr_canny_thresholds(op, &low, &high);
    if (rows_alloc(&r, w, in->bands))
        return TSR_ERR_NOMEM;
    /* Ring of three gradient rows: slot p = y-1, c = y, q = y+1. */
    int p = 0, c = 1, q = 2;
    gradient_row(in, &r, p, y0 - 1, x0);
    gradient_row(in, &r, c, y0, x0);
    for (int y = y0; y < y0 + h; y++) {
        gradient_row(in, &r, q, y + 1, x0);
        suppress_row(r.mag[p], r.mag[c], r.mag[q], r.dx[c], r.dy[c], low, high,
                     TSR_REGION_AT(out, x0, y), w);
        int t = p;
        p = c;
        c = q;
        q = t;
    }
    free(r.block);
    return TSR_OK;
}

const tsr_op_desc tsr_op_canny_nms = {
    .name = "canny-nms",
    .version = 1,
    .kind = TSR_OP_STENCIL,
    .summary = "canny's local stage: candidate map 0 none, 1 weak, 2 strong",
    .bands_rule = "any->1",
    .params = tsr_canny_params,
    .n_params = CANNY_N_PARAMS,
    .prepare = prepare,
    .run = run,
    .hidden = true,
};
