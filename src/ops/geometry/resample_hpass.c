/* The linear resize's horizontal pass for 3 and 4 bands with SSE4.1 (the
 * AVX2 level runs it too): one output column a step, its two source
 * pixels read as 8 bytes, `pshufb` pairing each band's left and right
 * samples as 16-bit values, `pmaddwd` multiplying them by the column's two
 * weights and adding the pairs: the int sums of resample.c's scalar loop,
 * bit for bit (weights 0..2048, samples 0..255). docs/internals/simd.md. */
#include <stddef.h>
#include <string.h>

#include "ops/geometry/resample_hpass.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

static __attribute__((target("sse4.1"))) int hpass_sse41(const short *coef, const int *ofs,
                                                         const uint8_t *base, int x, int end,
                                                         int wide_end, int bands, int *dst) {
    const __m128i shuf =
        bands == 3 ? _mm_setr_epi8(0, -1, 3, -1, 1, -1, 4, -1, 2, -1, 5, -1, -1, -1, -1, -1)
                   : _mm_setr_epi8(0, -1, 4, -1, 1, -1, 5, -1, 2, -1, 6, -1, 3, -1, 7, -1);
    int stop = bands == 3 ? end - 1 : end; /* a 3-band column stores 4 ints: not the last */
    for (; x < stop && ofs[x] < wide_end; x++, dst += bands) {
        int32_t pair;
        memcpy(&pair, coef + 2 * x, sizeof pair); /* (c0, c1) as two int16 */
        __m128i p =
            _mm_loadl_epi64((const __m128i *)(const void *)(base + (ptrdiff_t)ofs[x] * bands));
        __m128i v = _mm_madd_epi16(_mm_shuffle_epi8(p, shuf), _mm_set1_epi32(pair));
        _mm_storeu_si128((__m128i *)(void *)dst, v); /* 3 bands: the 4th int is the next's */
    }
    return x;
}
#endif

int tsr_resample_hpass_linear(tsr_simd_level level, const short *coef, const int *ofs,
                              const uint8_t *base, int x, int end, int wide_end, int bands,
                              int *dst) {
#if defined(__x86_64__) || defined(__i386__)
    if ((level == TSR_SIMD_SSE41 || level >= TSR_SIMD_AVX2) && (bands == 3 || bands == 4))
        return hpass_sse41(coef, ofs, base, x, end, wide_end, bands, dst);
#endif
    (void)level, (void)coef, (void)ofs, (void)base, (void)end, (void)wide_end, (void)bands,
        (void)dst;
    return x;
}
