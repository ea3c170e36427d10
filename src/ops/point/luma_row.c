/* grayscale's inner loop. The scalar twin is a loop GCC vectorises, but in
 * 32-bit lanes, and SSE2 has no 32-bit multiply: it ran at a fifth of the
 * memory's speed. The SSE4.1 path (also used at the AVX2 and AVX-512
 * levels) does 3-band rows 16 pixels a step: pshufb spreads 4 pixels' R
 * and G, and B, into 16-bit lanes, pmaddwd multiplies them by the weights
 * and adds the pairs (the same integer products and sums as the scalar
 * twin), and the sums are rounded, shifted and packed to bytes. NEON and
 * 4-band rows run the scalar twin. docs/internals/simd.md. */
#include "ops/point/luma_row.h"

#include <stddef.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define HAVE_X86 1
#endif

static inline void luma_scalar(const uint8_t *restrict s, uint8_t *restrict d, int n, int bands) {
    /* simd: auto-vectorised */
    for (int x = 0; x < n; x++) {
        const uint8_t *p = s + (size_t)x * bands;
        uint8_t v = (uint8_t)((p[0] * TSR_LUMA_R + p[1] * TSR_LUMA_G + p[2] * TSR_LUMA_B +
                               (1 << (TSR_LUMA_SHIFT - 1))) >>
                              TSR_LUMA_SHIFT);
        if (bands == 3) {
            d[x] = v;
        } else {
            d[2 * (size_t)x] = v;
            d[2 * (size_t)x + 1] = p[3];
        }
    }
}

#ifdef HAVE_X86
/* The luma of the 4 pixels whose 12 bytes start at p (16 bytes are read). */
static __attribute__((target("sse4.1"))) inline __m128i luma4_sse41(const uint8_t *p) {
    const __m128i rg = _mm_setr_epi8(0, -1, 1, -1, 3, -1, 4, -1, 6, -1, 7, -1, 9, -1, 10, -1);
    const __m128i b0 = _mm_setr_epi8(2, -1, -1, -1, 5, -1, -1, -1, 8, -1, -1, -1, 11, -1, -1, -1);
    const __m128i wrg = _mm_set1_epi32(TSR_LUMA_R | TSR_LUMA_G << 16);
    const __m128i wb = _mm_set1_epi32(TSR_LUMA_B);
    const __m128i half = _mm_set1_epi32(1 << (TSR_LUMA_SHIFT - 1));
    __m128i v = _mm_loadu_si128((const __m128i *)p);
    __m128i sum = _mm_add_epi32(_mm_madd_epi16(_mm_shuffle_epi8(v, rg), wrg),
                                _mm_madd_epi16(_mm_shuffle_epi8(v, b0), wb));
    return _mm_srli_epi32(_mm_add_epi32(sum, half), TSR_LUMA_SHIFT);
}

/* 16 pixels a step while the 4 bytes past the step's 48 are in the row
 * (its last load reads them); returns the pixels done. */
static __attribute__((target("sse4.1"))) int luma3_sse41(const uint8_t *s, uint8_t *d, int n) {
    int x = 0;
    for (; x + 18 <= n; x += 16) { /* 3x + 52 <= 3n */
        const uint8_t *p = s + (size_t)x * 3;
        __m128i a = _mm_packs_epi32(luma4_sse41(p), luma4_sse41(p + 12));
        __m128i b = _mm_packs_epi32(luma4_sse41(p + 24), luma4_sse41(p + 36));
        _mm_storeu_si128((__m128i *)(d + x), _mm_packus_epi16(a, b));
    }
    return x;
}
#endif

void tsr_luma_row(tsr_simd_level level, const uint8_t *s, uint8_t *d, int n, int bands) {
    int done = 0;
#ifdef HAVE_X86
    if (bands == 3 && (level == TSR_SIMD_SSE41 || level >= TSR_SIMD_AVX2))
        done = luma3_sse41(s, d, n);
#endif
    (void)level;
    if (bands == 3)
        luma_scalar(s + (size_t)done * 3, d + done, n - done, 3);
    else
        luma_scalar(s, d, n, 4);
}
