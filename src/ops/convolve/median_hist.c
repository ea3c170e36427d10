/* Median 7..99: Perreault and Hebert's constant-time median ("Median
 * Filtering in Constant Time", IEEE TIP 2007), as OpenCV's
 * medianBlur_8u_O1. Each image column of the tile keeps a histogram of the
 * 2r+1 rows around the output row, in two tiers: 16 coarse bins (v >> 4)
 * and 256 fine ones. Moving down a row changes two values per column;
 * moving right a pixel adds one column histogram to the window's and
 * subtracts another. The median is found in the coarse tier, then in the
 * one fine segment of 16 bins it falls in, which is updated only then.
 * Counts fit 16 bits: a window holds at most 99 x 99 = 9801 values.
 *
 * Output tiles are cut into stripes of at most STRIPE columns, so the
 * column histograms of a stripe ((STRIPE + 2r) x 544 bytes per band) stay
 * in the L2 cache whatever the tile size. Bands are done one at a time. */
#include <stdlib.h>
#include <string.h>

#include "ops/convolve/median.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define HAVE_X86 1
#endif
#if defined(__aarch64__)
#include <arm_neon.h>
#define HAVE_NEON 1
#endif

#define HIST_BINS 16  /* bins per tier segment: 16 coarse, 16 x 16 fine */
#define STRIPE    256 /* output columns per stripe */

/* The column histograms of one stripe and one band. */
typedef struct hist_cols {
    int r;                 /* window radius */
    int n;                 /* columns held: image columns x0 .. x0 + n - 1 */
    int w;                 /* output columns of the stripe */
    const int *col;        /* padded column p (0 .. w + 2r - 1) -> held column */
    uint16_t *coarse;      /* n x 16: per column, counts of v >> 4 */
    uint16_t *fine;        /* 16 x n x 16: per coarse bin, per column, counts of v & 15 */
    uint32_t fine_at[256]; /* v's entry in a column's fine counts: (v >> 4) * 16n + (v & 15) */
} hist_cols;

/* ---- scalar twin ---- */

static inline void seg_add_scalar(uint16_t *d, const uint16_t *s) {
    for (int i = 0; i < HIST_BINS; i++)
        d[i] = (uint16_t)(d[i] + s[i]);
}

static inline void seg_sub_scalar(uint16_t *d, const uint16_t *s) {
    for (int i = 0; i < HIST_BINS; i++)
        d[i] = (uint16_t)(d[i] - s[i]);
}

static inline void seg_slide_scalar(uint16_t *d, const uint16_t *a, const uint16_t *s) {
    for (int i = 0; i < HIST_BINS; i++)
        d[i] = (uint16_t)(d[i] + a[i] - s[i]);
}

static inline int seg_find_scalar(const uint16_t *seg, int rest, int *below) {
    int sum = 0, i = 0;
    while (i < HIST_BINS - 1 && sum + seg[i] <= rest)
        sum += seg[i++];
    *below = sum;
    return i;
}

#define HS_NAME(x) x##_scalar
#define HS_ATTR    /* portable C */
#include "ops/convolve/median_hist_tmpl.h"

#ifdef HAVE_X86
#include "ops/convolve/median_hist_x86.h"
#endif
#ifdef HAVE_NEON
#include "ops/convolve/median_hist_neon.h"
#endif

typedef void (*sweep_fn)(const hist_cols *h, uint8_t *out, size_t step);

static sweep_fn sweep_for(tsr_simd_level level) {
#ifdef HAVE_X86
    if (level >= TSR_SIMD_AVX2) /* avx512 too */
        return sweep_avx2;
    if (level == TSR_SIMD_SSE41)
        return sweep_sse41;
#endif
#ifdef HAVE_NEON
    if (level == TSR_SIMD_NEON)
        return sweep_neon;
#endif
    (void)level;
    return sweep_scalar;
}

/* Adds `times` counts to the n columns for a row of n values `step`
 * bytes apart. The build has -fno-strict-aliasing, so the histogram
 * pointers are read into locals before the stores. */
static void row_add(const hist_cols *h, const uint8_t *s, size_t step, int times) {
    uint16_t *coarse = h->coarse, *fine = h->fine;
    const uint32_t *at = h->fine_at;
    for (int c = 0, n = h->n; c < n; c++, coarse += HIST_BINS, fine += HIST_BINS) {
        int v = s[(size_t)c * step];
        coarse[v >> 4] = (uint16_t)(coarse[v >> 4] + times);
        fine[at[v]] = (uint16_t)(fine[at[v]] + times);
    }
}

/* Replaces row `gone` by row `come` in the n columns (no test for equal
 * values: on photos it would mispredict more than it saves). */
static void row_swap(const hist_cols *h, const uint8_t *gone, const uint8_t *come, size_t step) {
    uint16_t *coarse = h->coarse, *fine = h->fine;
    const uint32_t *at = h->fine_at;
    for (int c = 0, n = h->n; c < n; c++, coarse += HIST_BINS, fine += HIST_BINS) {
        int vo = gone[(size_t)c * step], vn = come[(size_t)c * step];
        coarse[vo >> 4]--;
        fine[at[vo]]--;
        coarse[vn >> 4]++;
        fine[at[vn]]++;
    }
}

/* Fills the column histograms of band `band` for output row y: image rows
 * y-r .. y+r clamped, the clamped ends counted as often as they repeat. */
static void columns_start(hist_cols *h, const tsr_region *in, int x0, int y, int band) {
    int last = in->image_h - 1, r = h->r;
    int lo = y - r < 0 ? 0 : y - r, hi = y + r > last ? last : y + r;
    memset(h->coarse, 0, sizeof *h->coarse * HIST_BINS * (size_t)h->n);
    memset(h->fine, 0, sizeof *h->fine * HIST_BINS * HIST_BINS * (size_t)h->n);
    for (int sy = lo; sy <= hi; sy++) {
        int times = 1;
        if (sy == 0 && y - r < 0)
            times += r - y;
        if (sy == last && y + r > last)
            times += y + r - last;
        row_add(h, TSR_REGION_AT(in, x0, sy) + band, (size_t)in->bands, times);
    }
}

/* Moves the column histograms from output row y - 1 to row y. */
static void columns_down(hist_cols *h, const tsr_region *in, int x0, int y, int band) {
    int last = in->image_h - 1;
    int gone = tsr_clampi(y - 1 - h->r, 0, last), come = tsr_clampi(y + h->r, 0, last);
    if (gone != come)
        row_swap(h, TSR_REGION_AT(in, x0, gone) + band, TSR_REGION_AT(in, x0, come) + band,
                 (size_t)in->bands);
}

/* One stripe: output columns sx .. sx + sw - 1 of out->rect's rows, every
 * colour band. `col`, `coarse` and `fine` are buffers big enough for it. */
static void run_stripe(sweep_fn sweep, hist_cols *h, int *col, const tsr_region *in,
                       tsr_region *out, int sx, int sw) {
    int r = h->r, last_x = in->image_w - 1;
    int x0 = sx - r < 0 ? 0 : sx - r, x1 = sx + sw - 1 + r;
    if (x1 > last_x)
        x1 = last_x;
    h->n = x1 - x0 + 1;
    h->w = sw;
    for (int v = 0; v < 256; v++)
        h->fine_at[v] = (uint32_t)((v >> 4) * HIST_BINS * h->n + (v & 15));
    for (int p = 0; p < sw + 2 * r; p++)
        col[p] = tsr_clampi(sx - r + p, 0, last_x) - x0;
    int bands = out->bands, colour = bands == 2 || bands == 4 ? bands - 1 : bands;
    for (int band = 0; band < colour; band++) {
        for (int y = out->rect.y; y < out->rect.y + out->rect.h; y++) {
            if (y == out->rect.y)
                columns_start(h, in, x0, y, band);
            else
                columns_down(h, in, x0, y, band);
            sweep(h, TSR_REGION_AT(out, sx, y) + band, (size_t)bands);
        }
    }
}

/* Whether `in` holds every pixel the tile reads. */
static bool covers(const tsr_region *in, const tsr_region *out, int r) {
    tsr_rect need = tsr_rect_intersect(
        tsr_rect_make(out->rect.x - r, out->rect.y - r, out->rect.w + 2 * r, out->rect.h + 2 * r),
        tsr_rect_make(0, 0, in->image_w, in->image_h));
    return tsr_rect_contains(in->rect, need);
}

tsr_status tsr_median_hist_run(tsr_simd_level level, int r, const tsr_region *in, tsr_region *out) {
    if (tsr_rect_empty(out->rect))
        return TSR_OK;
    if (!covers(in, out, r))
        return TSR_ERR_INTERNAL;
    int stripe = out->rect.w < STRIPE ? out->rect.w : STRIPE, most = stripe + 2 * r;
    hist_cols h = {.r = r};
    int *col = malloc(sizeof *col * (size_t)most);
    h.coarse = malloc(sizeof *h.coarse * HIST_BINS * (size_t)most);
    h.fine = malloc(sizeof *h.fine * HIST_BINS * HIST_BINS * (size_t)most);
    h.col = col;
    tsr_status st = TSR_OK;
    if (!col || !h.coarse || !h.fine) {
        st = TSR_ERR_NOMEM;
        goto out;
    }
    sweep_fn sweep = sweep_for(level);
    for (int sx = out->rect.x; sx < out->rect.x + out->rect.w; sx += stripe) {
        int sw = out->rect.x + out->rect.w - sx < stripe ? out->rect.x + out->rect.w - sx : stripe;
        run_stripe(sweep, &h, col, in, out, sx, sw);
    }
    for (int y = out->rect.y; y < out->rect.y + out->rect.h; y++)
        tsr_stencil_copy_alpha(in, out, y);
out:
    free(col);
    free(h.coarse);
    free(h.fine);
    return st;
}
