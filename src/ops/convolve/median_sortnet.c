/* Median 3 and 5 on sorting networks, as OpenCV's medianBlur_SortNet: each
 * vector lane is one output byte, so a 32-byte AVX2 vector computes 32
 * bytes of a row (all bands interleaved) with 30 (3x3) or 202 (5x5)
 * min/max instructions. The scalar twin is the same network on one byte. */
#include "ops/convolve/median.h"
#include "ops/convolve/median_net.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define HAVE_X86 1
#endif
#if defined(__aarch64__)
#include <arm_neon.h>
#define HAVE_NEON 1
#endif

typedef void (*sortnet_fn)(const uint8_t *const *rows, size_t len, size_t step, uint8_t *out);

#define SN_NAME(x)     x##_scalar
#define SN_ATTR        /* portable C */
#define SN_V           uint8_t
#define SN_W           1
#define SN_LOAD(p)     (*(p))
#define SN_STORE(p, v) (*(p) = (v))
#define SN_MIN(a, b)   ((a) < (b) ? (a) : (b))
#define SN_MAX(a, b)   ((a) < (b) ? (b) : (a))
#include "ops/convolve/median_sortnet_tmpl.h"

#ifdef HAVE_X86
#define SN_NAME(x)     x##_sse41
#define SN_ATTR        __attribute__((target("sse4.1")))
#define SN_V           __m128i
#define SN_W           16
#define SN_LOAD(p)     _mm_loadu_si128((const __m128i *)(const void *)(p))
#define SN_STORE(p, v) _mm_storeu_si128((__m128i *)(void *)(p), v)
#define SN_MIN(a, b)   _mm_min_epu8(a, b)
#define SN_MAX(a, b)   _mm_max_epu8(a, b)
#include "ops/convolve/median_sortnet_tmpl.h"

#define SN_NAME(x)     x##_avx2
#define SN_ATTR        __attribute__((target("avx2")))
#define SN_V           __m256i
#define SN_W           32
#define SN_LOAD(p)     _mm256_loadu_si256((const __m256i *)(const void *)(p))
#define SN_STORE(p, v) _mm256_storeu_si256((__m256i *)(void *)(p), v)
#define SN_MIN(a, b)   _mm256_min_epu8(a, b)
#define SN_MAX(a, b)   _mm256_max_epu8(a, b)
#include "ops/convolve/median_sortnet_tmpl.h"
#endif

#ifdef HAVE_NEON
#define SN_NAME(x)     x##_neon
#define SN_ATTR        /* always there on arm64 */
#define SN_V           uint8x16_t
#define SN_W           16
#define SN_LOAD(p)     vld1q_u8(p)
#define SN_STORE(p, v) vst1q_u8(p, v)
#define SN_MIN(a, b)   vminq_u8(a, b)
#define SN_MAX(a, b)   vmaxq_u8(a, b)
#include "ops/convolve/median_sortnet_tmpl.h"
#endif

void tsr_median_sortnet_row(tsr_simd_level level, int k, const uint8_t *const *rows, size_t len,
                            size_t step, uint8_t *out) {
    bool five = k == 5;
    sortnet_fn fn = five ? median25_scalar : median9_scalar;
#ifdef HAVE_X86
    if (level >= TSR_SIMD_AVX2 && len >= 32)
        fn = five ? median25_avx2 : median9_avx2;
    else if ((level >= TSR_SIMD_AVX2 || level == TSR_SIMD_SSE41) && len >= 16)
        fn = five ? median25_sse41 : median9_sse41;
#endif
#ifdef HAVE_NEON
    if (level == TSR_SIMD_NEON && len >= 16)
        fn = five ? median25_neon : median9_neon;
#endif
    (void)level;
    fn(rows, len, step, out);
}
