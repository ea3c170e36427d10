/* One instruction set's row sweep of the histogram median, included by
 * median_hist.c once per set (no include guard, by design). The includer
 * defines HS_NAME(x) (x with the set's suffix), HS_ATTR (the target set's
 * function attributes, may be empty) and, with those names and
 * attributes, the four 16-bin segment operations:
 *   seg_add(d, s)         d[i] += s[i]
 *   seg_sub(d, s)         d[i] -= s[i]
 *   seg_slide(d, a, s)    d[i] += a[i] - s[i]
 *   seg_find(seg, rest, &below)  the least i with seg[0] + .. + seg[i] >
 *                         rest (a segment's total always exceeds rest),
 *                         and the sum of the bins before it in *below.
 * HS_NAME and HS_ATTR are undefined at the end. */

/* Writes the current row's h->w medians to out[j * step]: the window
 * histogram's coarse level slides one column per pixel; a fine segment is
 * brought up to date only when the median falls in it, by sliding it over
 * the columns it missed or, when it missed half a window or more, by
 * summing the window's columns afresh (luc: the padded column up to which
 * each segment holds the window; Perreault and Hebert's lazy update). */
static HS_ATTR void HS_NAME(sweep)(const hist_cols *h, uint8_t *out, size_t step) {
    _Alignas(32) uint16_t coarse[HIST_BINS];
    _Alignas(32) uint16_t fine[HIST_BINS][HIST_BINS];
    int luc[HIST_BINS];
    /* h's fields in locals: a store through `out` (a byte pointer) may alias
     * anything, so the compiler would reload them after every pixel */
    const int d = 2 * h->r + 1, half = d * d / 2, w = h->w;
    const int *const col = h->col;
    const uint16_t *const cols = h->coarse, *const fines = h->fine;
    const size_t seg_stride = (size_t)h->n * HIST_BINS; /* fine: one coarse bin to the next */
    memset(coarse, 0, sizeof coarse);
    for (int p = 0; p < d - 1; p++)
        HS_NAME(seg_add)(coarse, cols + HIST_BINS * (size_t)col[p]);
    for (int k = 0; k < HIST_BINS; k++)
        luc[k] = -d; /* stale: rebuilt on first use */
    for (int j = 0; j < w; j++) {
        HS_NAME(seg_add)(coarse, cols + HIST_BINS * (size_t)col[j + d - 1]);
        int below, unused;
        int k = HS_NAME(seg_find)(coarse, half, &below);
        const uint16_t *fk = fines + seg_stride * (size_t)k;
        uint16_t *seg = fine[k];
        int end = j + d;
        if (2 * (end - luc[k]) >= d) {
            memset(seg, 0, sizeof fine[k]);
            for (int p = j; p < end; p++)
                HS_NAME(seg_add)(seg, fk + HIST_BINS * (size_t)col[p]);
        } else {
            for (int q = luc[k]; q < end; q++) {
                const uint16_t *in = fk + HIST_BINS * (size_t)col[q];
                const uint16_t *gone = fk + HIST_BINS * (size_t)col[q - d];
                HS_NAME(seg_slide)(seg, in, gone);
            }
        }
        luc[k] = end;
        int b = HS_NAME(seg_find)(seg, half - below, &unused);
        out[(size_t)j * step] = (uint8_t)(HIST_BINS * k + b);
        HS_NAME(seg_sub)(coarse, cols + HIST_BINS * (size_t)col[j]);
    }
}

#undef HS_NAME
#undef HS_ATTR
