/* Median selection networks over 9 and 25 values (ksize 3 and 5), written
 * once for every element type: C(a, b) puts min(a, b) in a and max(a, b)
 * in b; L(a, b) sets a = min(a, b) and H(a, b) sets b = max(a, b) (half
 * comparators, where the other output is never read again). The median
 * ends in p[4] (of p[0..8]) and p[12] (of p[0..24]); the other entries are
 * left in no particular order.
 *
 * median9: the classic 19-exchange network (Paeth's / Devillard's), its
 * comparators whose other output is unused cut to half comparators (30
 * min/max operations). median25: Batcher's odd-even merge sort on 32
 * inputs, the comparators on the 7 absent inputs dropped (they would hold
 * +infinity) and everything not feeding p[12] pruned the same way (202
 * operations). A comparator network that selects correctly on every input
 * of 0s and 1s selects correctly on every input (the 0-1 principle), so the
 * unit test checks all 2^9 and 2^25 such inputs bit-sliced
 * (tests/unit/ops/test_median.c). */
#ifndef TESSERA_OPS_CONVOLVE_MEDIAN_NET_H
#define TESSERA_OPS_CONVOLVE_MEDIAN_NET_H

/* clang-format off */
#define TSR_MEDIAN9_NET(C, L, H, p) \
    C(p[1], p[2]); C(p[4], p[5]); C(p[7], p[8]); C(p[0], p[1]); C(p[3], p[4]); C(p[6], p[7]); \
    C(p[1], p[2]); C(p[4], p[5]); C(p[7], p[8]); H(p[0], p[3]); L(p[5], p[8]); C(p[4], p[7]); \
    H(p[3], p[6]); H(p[1], p[4]); L(p[2], p[5]); L(p[4], p[7]); C(p[4], p[2]); H(p[6], p[4]); \
    L(p[4], p[2]);

#define TSR_MEDIAN25_NET(C, L, H, p) \
    C(p[0], p[1]); C(p[2], p[3]); C(p[0], p[2]); C(p[1], p[3]); C(p[1], p[2]); C(p[4], p[5]); \
    C(p[6], p[7]); C(p[4], p[6]); C(p[5], p[7]); C(p[5], p[6]); C(p[0], p[4]); C(p[2], p[6]); \
    C(p[2], p[4]); C(p[1], p[5]); C(p[3], p[7]); C(p[3], p[5]); C(p[1], p[2]); C(p[3], p[4]); \
    C(p[5], p[6]); C(p[8], p[9]); C(p[10], p[11]); C(p[8], p[10]); C(p[9], p[11]); \
    C(p[9], p[10]); C(p[12], p[13]); C(p[14], p[15]); C(p[12], p[14]); C(p[13], p[15]); \
    C(p[13], p[14]); C(p[8], p[12]); C(p[10], p[14]); C(p[10], p[12]); C(p[9], p[13]); \
    C(p[11], p[15]); C(p[11], p[13]); C(p[9], p[10]); C(p[11], p[12]); C(p[13], p[14]); \
    C(p[0], p[8]); C(p[4], p[12]); C(p[4], p[8]); C(p[2], p[10]); C(p[6], p[14]); \
    C(p[6], p[10]); C(p[2], p[4]); C(p[6], p[8]); C(p[10], p[12]); C(p[1], p[9]); \
    C(p[5], p[13]); C(p[5], p[9]); C(p[3], p[11]); L(p[7], p[15]); C(p[7], p[11]); \
    C(p[3], p[5]); C(p[7], p[9]); C(p[11], p[13]); C(p[1], p[2]); C(p[3], p[4]); C(p[5], p[6]); \
    C(p[7], p[8]); C(p[9], p[10]); C(p[11], p[12]); L(p[13], p[14]); C(p[16], p[17]); \
    C(p[18], p[19]); C(p[16], p[18]); C(p[17], p[19]); C(p[17], p[18]); C(p[20], p[21]); \
    C(p[22], p[23]); C(p[20], p[22]); C(p[21], p[23]); C(p[21], p[22]); C(p[16], p[20]); \
    C(p[18], p[22]); C(p[18], p[20]); C(p[17], p[21]); C(p[19], p[23]); C(p[19], p[21]); \
    C(p[17], p[18]); C(p[19], p[20]); C(p[21], p[22]); C(p[16], p[24]); C(p[20], p[24]); \
    C(p[18], p[20]); C(p[22], p[24]); C(p[19], p[21]); C(p[17], p[18]); C(p[19], p[20]); \
    C(p[21], p[22]); C(p[23], p[24]); H(p[0], p[16]); L(p[8], p[24]); H(p[8], p[16]); \
    H(p[4], p[20]); L(p[12], p[20]); L(p[12], p[16]); H(p[2], p[18]); L(p[10], p[18]); \
    L(p[6], p[22]); H(p[6], p[10]); H(p[10], p[12]); H(p[1], p[17]); H(p[9], p[17]); \
    H(p[5], p[21]); L(p[13], p[21]); L(p[13], p[17]); H(p[3], p[19]); L(p[11], p[19]); \
    L(p[7], p[23]); H(p[7], p[11]); L(p[11], p[13]); H(p[11], p[12]);
/* clang-format on */

#endif
