/* The point ops' inner loop. A byte table costs about a cycle a sample as
 * scalar loads, far from the memory's speed, so:
 *
 * - a table that is a closed form (identity, invert, saturating add or
 *   subtract, threshold: what invert, brightness and threshold build) runs
 *   as that form in a loop GCC vectorises for the baseline ISA (pxor,
 *   paddusb, psubusb, a compare);
 * - any other table (contrast, gamma) is looked up 64 samples at a time
 *   with two AVX-512 VBMI vpermi2b (128 entries each) and a blend on the
 *   index's top bit; at AVX2, 32 at a time with 16 vpshufb over the
 *   table's 16-entry rows; otherwise a sample at a time, the scalar twin.
 *
 * The form is found by comparing all 256 entries, so it cannot differ from
 * the table. docs/internals/simd.md. */
#include "ops/point/point_row.h"

#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define HAVE_X86 1
#endif

/* The closed form `form` with constant k at sample v. */
static int closed_form(tsr_point_form form, int k, int v) {
    switch (form) {
    case TSR_POINT_IDENTITY:
        return v;
    case TSR_POINT_INVERT:
        return 255 - v;
    case TSR_POINT_ADD:
        return v + k > 255 ? 255 : v + k;
    case TSR_POINT_SUB:
        return v - k < 0 ? 0 : v - k;
    case TSR_POINT_THRESHOLD:
        return v >= k ? 255 : 0;
    default:
        return -1;
    }
}

static bool table_is(const uint8_t lut[256], tsr_point_form form, int k) {
    if (k < 0 || k > 255)
        return false;
    for (int v = 0; v < 256; v++)
        if (lut[v] != closed_form(form, k, v))
            return false;
    return true;
}

/* The first v with lut[v] == 255 (256 if none): a threshold's constant. */
static int first_white(const uint8_t lut[256]) {
    int v = 0;
    while (v < 256 && lut[v] != 255)
        v++;
    return v;
}

void tsr_point_kernel_init(tsr_point_kernel *kernel, const uint8_t lut[256]) {
    memcpy(kernel->lut, lut, 256);
    const struct {
        tsr_point_form form;
        int k;
    } candidates[] = {
        {TSR_POINT_IDENTITY, 0},
        {TSR_POINT_INVERT, 0},
        {TSR_POINT_ADD, lut[0]},
        {TSR_POINT_SUB, 255 - lut[255]},
        {TSR_POINT_THRESHOLD, first_white(lut)},
    };
    kernel->form = TSR_POINT_TABLE;
    kernel->k = 0;
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++)
        if (table_is(lut, candidates[i].form, candidates[i].k)) {
            kernel->form = candidates[i].form;
            kernel->k = (uint8_t)candidates[i].k;
            return;
        }
}

/* ---- closed forms: plain C that GCC vectorises ---- */

static void row_invert(const uint8_t *s, uint8_t *d, size_t n) {
    /* simd: auto-vectorised */
    for (size_t i = 0; i < n; i++)
        d[i] = (uint8_t)(255 - s[i]);
}

/* min(v, 255 - k) + k is min(v + k, 255) in bytes (pminub, paddb), where
 * the widened sum made GCC work in 16-bit lanes at a quarter the speed. */
static void row_add(const uint8_t *s, uint8_t *d, size_t n, uint8_t k) {
    uint8_t top = (uint8_t)(255 - k);
    /* simd: auto-vectorised */
    for (size_t i = 0; i < n; i++)
        d[i] = (uint8_t)((s[i] < top ? s[i] : top) + k);
}

static void row_sub(const uint8_t *s, uint8_t *d, size_t n, uint8_t k) {
    /* simd: auto-vectorised */
    for (size_t i = 0; i < n; i++)
        d[i] = (uint8_t)(s[i] > k ? s[i] - k : 0);
}

static void row_threshold(const uint8_t *s, uint8_t *d, size_t n, uint8_t k) {
    /* simd: auto-vectorised */
    for (size_t i = 0; i < n; i++)
        d[i] = (uint8_t)(s[i] >= k ? 255 : 0);
}

/* ---- tables ---- */

/* The scalar twin; from sample `from` on. */
static void row_table_scalar(const uint8_t *lut, const uint8_t *s, uint8_t *d, size_t from,
                             size_t n) {
    for (size_t i = from; i < n; i++)
        d[i] = lut[s[i]];
}

#ifdef HAVE_X86
/* 32 samples at a time: the table's row j (entries 16j..16j+15) answers
 * the samples whose v - 16j is 0..15. Adding 0x70 with saturation keeps
 * those under 0x80 with v - 16j as the low nibble, and takes every other
 * sample to 0x80 or more, which vpshufb turns into 0; the 16 answers are
 * OR-ed. Returns the samples done. */
static __attribute__((target("avx2"))) size_t row_table_avx2(const uint8_t *lut, const uint8_t *s,
                                                             uint8_t *d, size_t n) {
    const __m256i sixteen = _mm256_set1_epi8(16), bias = _mm256_set1_epi8(0x70);
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256i x = _mm256_loadu_si256((const __m256i *)(s + i)), r = _mm256_setzero_si256();
        for (int j = 0; j < 16; j++) {
            __m256i row =
                _mm256_broadcastsi128_si256(_mm_load_si128((const __m128i *)(lut + 16 * j)));
            r = _mm256_or_si256(r, _mm256_shuffle_epi8(row, _mm256_adds_epu8(x, bias)));
            x = _mm256_sub_epi8(x, sixteen);
        }
        _mm256_storeu_si256((__m256i *)(d + i), r);
    }
    return i;
}

#define AVX512_TARGET __attribute__((target("avx2,avx512f,avx512bw,avx512vbmi")))

/* 64 samples at a time: vpermi2b looks up the low 7 bits of each sample in
 * 128 entries (two registers); the top bit picks the lower or upper half
 * of the table. The tail is done with masked loads and stores. */
static AVX512_TARGET void row_table_avx512(const uint8_t *lut, const uint8_t *s, uint8_t *d,
                                           size_t n) {
    const __m512i t0 = _mm512_load_si512(lut), t1 = _mm512_load_si512(lut + 64);
    const __m512i t2 = _mm512_load_si512(lut + 128), t3 = _mm512_load_si512(lut + 192);
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m512i x = _mm512_loadu_si512(s + i);
        __m512i lo = _mm512_permutex2var_epi8(t0, x, t1), hi = _mm512_permutex2var_epi8(t2, x, t3);
        _mm512_storeu_si512(d + i, _mm512_mask_blend_epi8(_mm512_movepi8_mask(x), lo, hi));
    }
    if (i < n) {
        __mmask64 m = ~0ULL >> (64 - (n - i));
        __m512i x = _mm512_maskz_loadu_epi8(m, s + i);
        __m512i lo = _mm512_permutex2var_epi8(t0, x, t1), hi = _mm512_permutex2var_epi8(t2, x, t3);
        _mm512_mask_storeu_epi8(d + i, m, _mm512_mask_blend_epi8(_mm512_movepi8_mask(x), lo, hi));
    }
}
#endif

static void row_table(tsr_simd_level level, const uint8_t *lut, const uint8_t *s, uint8_t *d,
                      size_t n) {
    size_t done = 0;
#ifdef HAVE_X86
    if (level >= TSR_SIMD_AVX512) {
        row_table_avx512(lut, s, d, n);
        return;
    }
    if (level == TSR_SIMD_AVX2)
        done = row_table_avx2(lut, s, d, n);
#endif
    (void)level;
    row_table_scalar(lut, s, d, done, n);
}

void tsr_point_row(tsr_simd_level level, const tsr_point_kernel *kernel, const uint8_t *s,
                   uint8_t *d, size_t n) {
    switch (kernel->form) {
    case TSR_POINT_IDENTITY:
        if (d != s)
            memcpy(d, s, n);
        break;
    case TSR_POINT_INVERT:
        row_invert(s, d, n);
        break;
    case TSR_POINT_ADD:
        row_add(s, d, n, kernel->k);
        break;
    case TSR_POINT_SUB:
        row_sub(s, d, n, kernel->k);
        break;
    case TSR_POINT_THRESHOLD:
        row_threshold(s, d, n, kernel->k);
        break;
    default:
        row_table(level, kernel->lut, s, d, n);
    }
}
