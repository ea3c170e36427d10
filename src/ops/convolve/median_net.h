/* Median selection networks for ksize 3 and 5, written once for every
 * element type: C(a, b) puts min(a, b) in a and max(a, b) in b; L(a, b)
 * sets a = min(a, b) and H(a, b) sets b = max(a, b) (half comparators,
 * where the other output is never read again).
 *
 * The window is taken column by column: first each column of k values is
 * sorted (TSR_SORT3, TSR_SORT5: 3 and 9 comparators), which a row of
 * outputs shares (each column serves k outputs), then a selection network
 * works on the sorted columns: p[k * c + r] is rank r (0 = smallest) of
 * column c. The median ends in p[4] (3x3) and p[12] (5x5); the other
 * entries are left in no particular order.
 *
 * TSR_MEDIAN9_COLS (12 min/max operations) is Paeth's: the median of the
 * columns' lows' maximum, medians' median and highs' minimum.
 * TSR_MEDIAN25_COLS (106 operations) was found by machine: Batcher's
 * odd-even merge sort over the 25 values after sorting each rank across
 * the columns, every comparator whose removal keeps the median right on
 * all column-sorted inputs of 0s and 1s removed, and those with one used
 * output cut to half comparators. A comparator network that selects
 * correctly on every input of 0s and 1s selects correctly on every input
 * (the 0-1 principle), so the unit test runs column sort + selection on
 * all 2^9 and 2^25 such inputs, bit-sliced (tests/unit/ops/test_median.c).
 * Against a whole-window network (30 and 202 operations) this does 18 and
 * 124 per output. */
#ifndef TESSERA_OPS_CONVOLVE_MEDIAN_NET_H
#define TESSERA_OPS_CONVOLVE_MEDIAN_NET_H

/* clang-format off */
#define TSR_SORT3(C, a, b, c) C(a, b); C(b, c); C(a, b);

#define TSR_SORT5(C, a, b, c, d, e) \
    C(a, b); C(d, e); C(c, e); C(c, d); C(a, d); C(a, c); C(b, e); C(b, d); C(b, c);

#define TSR_MEDIAN9_COLS(C, L, H, p) \
    H(p[0], p[3]); H(p[3], p[6]); L(p[5], p[8]); L(p[2], p[5]); C(p[1], p[4]); L(p[4], p[7]); \
    H(p[1], p[4]); C(p[6], p[4]); L(p[4], p[2]); H(p[6], p[4]);

#define TSR_MEDIAN25_COLS(C, L, H, p) \
    C(p[0], p[5]); C(p[10], p[15]); H(p[0], p[15]); C(p[5], p[20]); C(p[5], p[15]); \
    C(p[1], p[6]); C(p[16], p[21]); C(p[11], p[21]); C(p[11], p[16]); H(p[1], p[16]); \
    C(p[6], p[21]); C(p[6], p[16]); C(p[6], p[11]); C(p[2], p[7]); C(p[17], p[22]); \
    C(p[12], p[22]); C(p[12], p[17]); C(p[2], p[17]); H(p[2], p[12]); L(p[7], p[22]); \
    C(p[7], p[17]); C(p[7], p[12]); C(p[3], p[8]); C(p[18], p[23]); C(p[13], p[18]); \
    C(p[3], p[18]); C(p[3], p[13]); L(p[8], p[23]); L(p[8], p[18]); C(p[8], p[13]); \
    C(p[4], p[9]); C(p[19], p[24]); L(p[14], p[24]); C(p[14], p[19]); L(p[4], p[19]); \
    C(p[9], p[14]); H(p[4], p[5]); C(p[5], p[7]); H(p[3], p[5]); H(p[5], p[6]); H(p[8], p[10]); \
    C(p[9], p[11]); L(p[14], p[15]); C(p[12], p[14]); C(p[13], p[14]); C(p[10], p[12]); \
    C(p[11], p[13]); C(p[11], p[12]); L(p[13], p[14]); H(p[6], p[10]); C(p[7], p[11]); \
    H(p[7], p[9]); L(p[11], p[13]); C(p[9], p[10]); C(p[11], p[12]); C(p[16], p[20]); \
    L(p[18], p[20]); L(p[17], p[21]); C(p[17], p[18]); L(p[12], p[16]); L(p[10], p[18]); \
    H(p[10], p[12]); H(p[9], p[17]); L(p[13], p[17]); L(p[11], p[13]); H(p[11], p[12]);
/* clang-format on */

#endif
