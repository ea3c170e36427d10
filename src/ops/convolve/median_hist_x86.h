/* The histogram median's 16-bin segment operations on SSE4.1 and AVX2,
 * and their row sweeps; included once by median_hist.c (x86 only). A
 * segment is 16 counts of 16 bits: two SSE registers or one AVX2 register.
 * seg_find takes prefix sums in log steps, compares them all with `rest`
 * (signed compares are exact: counts stay below 9802), takes the first
 * lane over it from the movemask and the sum below it as the largest
 * prefix sum not over `rest`, all in registers. */
#ifndef TESSERA_OPS_CONVOLVE_MEDIAN_HIST_X86_H
#define TESSERA_OPS_CONVOLVE_MEDIAN_HIST_X86_H

#define SSE41 __attribute__((target("sse4.1")))
#define AVX2  __attribute__((target("avx2")))

#define LOAD128(p)     _mm_loadu_si128((const __m128i *)(const void *)(p))
#define STORE128(p, v) _mm_storeu_si128((__m128i *)(void *)(p), v)
#define LOAD256(p)     _mm256_loadu_si256((const __m256i *)(const void *)(p))
#define STORE256(p, v) _mm256_storeu_si256((__m256i *)(void *)(p), v)

static inline SSE41 void seg_add_sse41(uint16_t *d, const uint16_t *s) {
    STORE128(d, _mm_add_epi16(LOAD128(d), LOAD128(s)));
    STORE128(d + 8, _mm_add_epi16(LOAD128(d + 8), LOAD128(s + 8)));
}

static inline SSE41 void seg_sub_sse41(uint16_t *d, const uint16_t *s) {
    STORE128(d, _mm_sub_epi16(LOAD128(d), LOAD128(s)));
    STORE128(d + 8, _mm_sub_epi16(LOAD128(d + 8), LOAD128(s + 8)));
}

static inline SSE41 void seg_slide_sse41(uint16_t *d, const uint16_t *a, const uint16_t *s) {
    STORE128(d, _mm_add_epi16(LOAD128(d), _mm_sub_epi16(LOAD128(a), LOAD128(s))));
    STORE128(d + 8, _mm_add_epi16(LOAD128(d + 8), _mm_sub_epi16(LOAD128(a + 8), LOAD128(s + 8))));
}

/* Prefix sums of 8 lanes. */
static inline SSE41 __m128i prefix8_sse41(__m128i x) {
    x = _mm_add_epi16(x, _mm_slli_si128(x, 2));
    x = _mm_add_epi16(x, _mm_slli_si128(x, 4));
    return _mm_add_epi16(x, _mm_slli_si128(x, 8));
}

/* The largest of 8 + 8 lanes (the prefix sums at or below `rest`: the
 * last of them, as they never decrease): phminposuw on the complement. */
static inline SSE41 int max16_sse41(__m128i a, __m128i b) {
    __m128i m = _mm_minpos_epu16(_mm_xor_si128(_mm_max_epu16(a, b), _mm_set1_epi32(-1)));
    return 0xFFFF - (_mm_cvtsi128_si32(m) & 0xFFFF);
}

static inline SSE41 int seg_find_sse41(const uint16_t *seg, int rest, int *below) {
    __m128i lo = prefix8_sse41(LOAD128(seg)), hi = prefix8_sse41(LOAD128(seg + 8));
    hi = _mm_add_epi16(hi, _mm_shuffle_epi8(lo, _mm_set1_epi16(0x0F0E))); /* + lo's total */
    __m128i r = _mm_set1_epi16((short)rest);
    __m128i over_lo = _mm_cmpgt_epi16(lo, r), over_hi = _mm_cmpgt_epi16(hi, r);
    unsigned over = (unsigned)_mm_movemask_epi8(_mm_packs_epi16(over_lo, over_hi));
    *below = max16_sse41(_mm_andnot_si128(over_lo, lo), _mm_andnot_si128(over_hi, hi));
    return __builtin_ctz(over | 0x8000u);
}

#define HS_NAME(x) x##_sse41
#define HS_ATTR    SSE41
#include "ops/convolve/median_hist_tmpl.h"

static inline AVX2 void seg_add_avx2(uint16_t *d, const uint16_t *s) {
    STORE256(d, _mm256_add_epi16(LOAD256(d), LOAD256(s)));
}

static inline AVX2 void seg_sub_avx2(uint16_t *d, const uint16_t *s) {
    STORE256(d, _mm256_sub_epi16(LOAD256(d), LOAD256(s)));
}

static inline AVX2 void seg_slide_avx2(uint16_t *d, const uint16_t *a, const uint16_t *s) {
    STORE256(d, _mm256_add_epi16(LOAD256(d), _mm256_sub_epi16(LOAD256(a), LOAD256(s))));
}

static inline AVX2 int seg_find_avx2(const uint16_t *seg, int rest, int *below) {
    __m256i x = LOAD256(seg);
    x = _mm256_add_epi16(x, _mm256_slli_si256(x, 2)); /* prefix sums in each 128-bit lane */
    x = _mm256_add_epi16(x, _mm256_slli_si256(x, 4));
    x = _mm256_add_epi16(x, _mm256_slli_si256(x, 8));
    __m256i carry = _mm256_permute2x128_si256(x, x, 0x08); /* (0, low lane) */
    x = _mm256_add_epi16(x, _mm256_shuffle_epi8(carry, _mm256_set1_epi16(0x0F0E)));
    __m256i over = _mm256_cmpgt_epi16(x, _mm256_set1_epi16((short)rest));
    __m256i at_most = _mm256_andnot_si256(over, x);
    *below = max16_sse41(_mm256_castsi256_si128(at_most), _mm256_extracti128_si256(at_most, 1));
    unsigned bits = (unsigned)_mm256_movemask_epi8(over); /* two bits a lane */
    return __builtin_ctz(bits | 0x80000000u) >> 1;
}

#define HS_NAME(x) x##_avx2
#define HS_ATTR    AVX2
#include "ops/convolve/median_hist_tmpl.h"

#undef SSE41
#undef AVX2
#undef LOAD128
#undef STORE128
#undef LOAD256
#undef STORE256

#endif
