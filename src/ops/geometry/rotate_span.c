/* rotate's inner loop: for each output pixel the fixed-point source
 * position, its bilinear weights from the table, and the weighted sum of
 * four neighbours, as OpenCV 4.6's remapBilinear. The SSE4.1 path (also
 * used at the AVX2 level) does a 3- or 4-band pixel's sum in one register:
 * a byte shuffle pairs each band's left and right neighbours as 16-bit
 * values and _mm_madd_epi16 multiplies them by their weights and adds the
 * pairs, the same integer products and sums as the scalar twin. NEON runs
 * the scalar twin. docs/internals/simd.md. */
#include <stdbool.h>
#include <string.h>

#include "ops/geometry/rotate_span.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define HAVE_X86 1
#endif

#define ROUND    (1 << (TSR_ROTATE_COEF_BITS - 1))
#define RS_BLOCK 64 /* pixels whose positions are computed together */

static inline int rotate_sat_short(int v) {
    return v < -32768 ? -32768 : (v > 32767 ? 32767 : v);
}

/* One output pixel's source: top-left neighbour (sx, sy), weights w. */
typedef struct rotate_pos {
    int sx, sy;
    const short *w;
} rotate_pos;

/* The source of output column x of the row whose column-0 position is
 * (x0, y0) (tsr_rotate_row); whether all four neighbours are inside. */
static inline bool rotate_at(const tsr_rotate_state *st, const tsr_region *in, int x0, int y0,
                             int x, rotate_pos *p) {
    int fx = (x0 + st->adelta[x]) >> (TSR_ROTATE_AB_BITS - TSR_ROTATE_INTER_BITS);
    int fy = (y0 + st->bdelta[x]) >> (TSR_ROTATE_AB_BITS - TSR_ROTATE_INTER_BITS);
    p->sx = rotate_sat_short(fx >> TSR_ROTATE_INTER_BITS);
    p->sy = rotate_sat_short(fy >> TSR_ROTATE_INTER_BITS);
    p->w = st->wtab[(fy & (TSR_ROTATE_INTER_TAB - 1)) * TSR_ROTATE_INTER_TAB +
                    (fx & (TSR_ROTATE_INTER_TAB - 1))];
    return p->sx >= 0 && p->sy >= 0 && p->sx < in->image_w - 1 && p->sy < in->image_h - 1;
}

/* The weighted sum of an interior pixel: s0 / s1 the rows of its top-left
 * neighbour. */
static inline __attribute__((always_inline)) void
rotate_sample(const uint8_t *s0, const uint8_t *s1, int bands, const short *w, uint8_t *d) {
    for (int b = 0; b < bands; b++) {
        int v = s0[b] * w[0] + s0[b + bands] * w[1] + s1[b] * w[2] + s1[b + bands] * w[3];
        d[b] = tsr_sat_u8((v + ROUND) >> TSR_ROTATE_COEF_BITS);
    }
}

/* Bilinear sample with OpenCV's constant-0 border: neighbours outside the
 * image count as 0 in the weighted sum. */
static void rotate_sample_border(const tsr_region *in, int sx, int sy, const short *w, uint8_t *d) {
    int bands = in->bands, iw = in->image_w, ih = in->image_h;
    if (sx < -1 || sy < -1 || sx >= iw || sy >= ih) { /* no neighbour inside */
        memset(d, 0, (size_t)bands);
        return;
    }
    int acc[TSR_MAX_BANDS] = {0};
    for (int k = 0; k < 4; k++) {
        int x = sx + (k & 1), y = sy + (k >> 1);
        if (x < 0 || y < 0 || x >= iw || y >= ih || w[k] == 0)
            continue;
        const uint8_t *s = TSR_REGION_AT(in, x, y);
        for (int b = 0; b < bands; b++)
            acc[b] += s[b] * w[k];
    }
    for (int b = 0; b < bands; b++)
        d[b] = tsr_sat_u8((acc[b] + ROUND) >> TSR_ROTATE_COEF_BITS);
}

#define RS_NAME(x)                     x##_scalar
#define RS_ATTR                        /* portable C */
#define RS_SAMPLE3(s0, s1, w, d, last) rotate_sample(s0, s1, 3, w, d)
#define RS_SAMPLE4(s0, s1, w, d)       rotate_sample(s0, s1, 4, w, d)
#include "ops/geometry/rotate_span_tmpl.h"

#ifdef HAVE_X86
/* Bands b of a pixel's two neighbours in one row as 16-bit pairs
 * (left_b, right_b): 3 bands read bytes 0..5, 4 bands 0..7. */
#define SHUF3 _mm_setr_epi8(0, -1, 3, -1, 1, -1, 4, -1, 2, -1, 5, -1, -1, -1, -1, -1)
#define SHUF4 _mm_setr_epi8(0, -1, 4, -1, 1, -1, 5, -1, 2, -1, 6, -1, 3, -1, 7, -1)

/* The rounded sums of one pixel's bands, as bytes in the low lanes. */
static __attribute__((target("sse4.1"))) inline __m128i
sum_sse41(const uint8_t *s0, const uint8_t *s1, const short *w, __m128i shuf) {
    __m128i wv = _mm_loadl_epi64((const __m128i *)(const void *)w);
    __m128i top = _mm_shuffle_epi8(_mm_loadl_epi64((const __m128i *)(const void *)s0), shuf);
    __m128i bottom = _mm_shuffle_epi8(_mm_loadl_epi64((const __m128i *)(const void *)s1), shuf);
    __m128i v = _mm_add_epi32(_mm_madd_epi16(top, _mm_shuffle_epi32(wv, 0x00)),
                              _mm_madd_epi16(bottom, _mm_shuffle_epi32(wv, 0x55)));
    v = _mm_srai_epi32(_mm_add_epi32(v, _mm_set1_epi32(ROUND)), TSR_ROTATE_COEF_BITS);
    v = _mm_packs_epi32(v, v);
    return _mm_packus_epi16(v, v);
}

static __attribute__((target("sse4.1"))) inline void
sample3_sse41(const uint8_t *s0, const uint8_t *s1, const short *w, uint8_t *d, int last) {
    int32_t px = _mm_cvtsi128_si32(sum_sse41(s0, s1, w, SHUF3));
    if (last)
        memcpy(d, &px, 3);
    else
        memcpy(d, &px, 4); /* the next pixel overwrites the 4th byte */
}

static __attribute__((target("sse4.1"))) inline void
sample4_sse41(const uint8_t *s0, const uint8_t *s1, const short *w, uint8_t *d) {
    int32_t px = _mm_cvtsi128_si32(sum_sse41(s0, s1, w, SHUF4));
    memcpy(d, &px, 4);
}

#define RS_NAME(x)                     x##_sse41
#define RS_ATTR                        __attribute__((target("sse4.1")))
#define RS_SAMPLE3(s0, s1, w, d, last) sample3_sse41(s0, s1, w, d, last)
#define RS_SAMPLE4(s0, s1, w, d)       sample4_sse41(s0, s1, w, d)
#include "ops/geometry/rotate_span_tmpl.h"
#endif

void tsr_rotate_span(tsr_simd_level level, const tsr_rotate_state *st, const tsr_region *in, int y,
                     int x_begin, int x_end, uint8_t *d) {
#ifdef HAVE_X86
    if (level == TSR_SIMD_SSE41 || level >= TSR_SIMD_AVX2) {
        span_sse41(st, in, y, x_begin, x_end, d);
        return;
    }
#endif
    (void)level;
    span_scalar(st, in, y, x_begin, x_end, d);
}
