/* The histogram median's 16-bin segment operations on NEON (arm64) and
 * their row sweep; included once by median_hist.c. seg_find counts the
 * prefix sums not over `rest`: they never decrease, so that count is the
 * first lane over it. */
#ifndef TESSERA_OPS_CONVOLVE_MEDIAN_HIST_NEON_H
#define TESSERA_OPS_CONVOLVE_MEDIAN_HIST_NEON_H

static inline void seg_add_neon(uint16_t *d, const uint16_t *s) {
    vst1q_u16(d, vaddq_u16(vld1q_u16(d), vld1q_u16(s)));
    vst1q_u16(d + 8, vaddq_u16(vld1q_u16(d + 8), vld1q_u16(s + 8)));
}

static inline void seg_sub_neon(uint16_t *d, const uint16_t *s) {
    vst1q_u16(d, vsubq_u16(vld1q_u16(d), vld1q_u16(s)));
    vst1q_u16(d + 8, vsubq_u16(vld1q_u16(d + 8), vld1q_u16(s + 8)));
}

static inline void seg_slide_neon(uint16_t *d, const uint16_t *a, const uint16_t *s) {
    vst1q_u16(d, vaddq_u16(vld1q_u16(d), vsubq_u16(vld1q_u16(a), vld1q_u16(s))));
    vst1q_u16(d + 8, vaddq_u16(vld1q_u16(d + 8), vsubq_u16(vld1q_u16(a + 8), vld1q_u16(s + 8))));
}

/* Prefix sums of 8 lanes. */
static inline uint16x8_t prefix8_neon(uint16x8_t x) {
    uint16x8_t zero = vdupq_n_u16(0);
    x = vaddq_u16(x, vextq_u16(zero, x, 7));
    x = vaddq_u16(x, vextq_u16(zero, x, 6));
    return vaddq_u16(x, vextq_u16(zero, x, 4));
}

static inline int seg_find_neon(const uint16_t *seg, int rest, int *below) {
    uint16x8_t lo = prefix8_neon(vld1q_u16(seg)), hi = prefix8_neon(vld1q_u16(seg + 8));
    hi = vaddq_u16(hi, vdupq_laneq_u16(lo, 7));
    uint16x8_t r = vdupq_n_u16((uint16_t)rest);
    int i = vaddvq_u16(vshrq_n_u16(vcleq_u16(lo, r), 15)) +
            vaddvq_u16(vshrq_n_u16(vcleq_u16(hi, r), 15));
    if (i > 15)
        i = 15;
    uint16_t sums[16];
    vst1q_u16(sums, lo);
    vst1q_u16(sums + 8, hi);
    *below = sums[i] - seg[i];
    return i;
}

#define HS_NAME(x) x##_neon
#define HS_ATTR    /* always there on arm64 */
#include "ops/convolve/median_hist_tmpl.h"

#endif
