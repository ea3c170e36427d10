/* The median op, every ksize 3..99: its selection networks on every input
 * of 0s and 1s (the 0-1 principle), each instruction set's kernels against
 * the scalar twin and against a direct count (replicate borders), images
 * smaller than the window, tiles smaller than the halo, photos in 1..4
 * bands, alpha untouched, and the ksize messages. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ops/convolve/median.h"
#include "ops/convolve/median_net.h"
#include "tessera/codec.h"

static tsr_ctx *ctx;
static int n_compared;

/* ---- the networks, bit-sliced: 64 inputs of 0s and 1s per word ---- */

#define BIT_C(a, b)                                                                                \
    do {                                                                                           \
        uint64_t lo_ = (a) & (b);                                                                  \
        (b) |= (a);                                                                                \
        (a) = lo_;                                                                                 \
    } while (0)
#define BIT_L(a, b) ((a) &= (b))
#define BIT_H(a, b) ((b) |= (a))

/* Word i of input pattern block `block`: lane l holds bit i of the
 * pattern block * 64 + l. */
static uint64_t pattern_word(int i, uint64_t block) {
    static const uint64_t lanes[6] = {0xAAAAAAAAAAAAAAAAull, 0xCCCCCCCCCCCCCCCCull,
                                      0xF0F0F0F0F0F0F0F0ull, 0xFF00FF00FF00FF00ull,
                                      0xFFFF0000FFFF0000ull, 0xFFFFFFFF00000000ull};
    return i < 6 ? lanes[i] : ((block >> (i - 6)) & 1) ? ~0ull : 0;
}

/* Lane l set when pattern block * 64 + l has more than n / 2 ones. */
static uint64_t majority_word(int n, uint64_t block) {
    uint64_t want = 0;
    for (int l = 0; l < 64; l++) {
        uint64_t m = block * 64 + (uint64_t)l;
        if (n < 64 && (m >> n) != 0)
            continue;
        if (__builtin_popcountll(m) > n / 2)
            want |= 1ull << l;
    }
    return want;
}

static void test_networks_on_all_binary_inputs(void) {
    uint64_t p[25];
    int bad = 0;
    for (uint64_t block = 0; block < 8; block++) { /* 2^9 patterns: 512 = 8 blocks */
        for (int i = 0; i < 9; i++)
            p[i] = pattern_word(i, block);
        TSR_MEDIAN9_NET(BIT_C, BIT_L, BIT_H, p);
        uint64_t want = majority_word(9, block);
        bad += p[4] != want;
    }
    for (uint64_t block = 0; block < (1ull << 25) / 64; block++) {
        for (int i = 0; i < 25; i++)
            p[i] = pattern_word(i, block);
        TSR_MEDIAN25_NET(BIT_C, BIT_L, BIT_H, p);
        bad += p[12] != majority_word(25, block);
    }
    CHECK_EQ_INT(bad, 0);
}

/* ---- images and references ---- */

static tsr_image *noise(int w, int h, int bands, unsigned seed) {
    tsr_image *img = NULL;
    if (tsr_image_new(ctx, w, h, bands, &img) != TSR_OK)
        return NULL;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w * bands; x++) {
            seed = seed * 1103515245u + 12345u;
            img->data[(size_t)y * img->stride + (size_t)x] = (uint8_t)(seed >> 16);
        }
    return img;
}

/* The median of band b's clamped window at (x, y), by counting. */
static int naive_median(const tsr_image *img, int x, int y, int b, int r) {
    int hist[256] = {0}, need = (2 * r + 1) * (2 * r + 1) / 2 + 1, v = 0;
    for (int u = -r; u <= r; u++)
        for (int w = -r; w <= r; w++) {
            int sy = tsr_clampi(y + u, 0, img->height - 1),
                sx = tsr_clampi(x + w, 0, img->width - 1);
            hist[img->data[(size_t)sy * img->stride + (size_t)sx * (size_t)img->bands +
                           (size_t)b]]++;
        }
    for (int seen = hist[0]; seen < need; seen += hist[++v])
        ;
    return v;
}

static tsr_op median_op(int k) {
    tsr_op op;
    memset(&op, 0, sizeof op);
    op.desc = &tsr_op_median;
    op.values[0] = k;
    op.given[0] = true;
    return op;
}

static tsr_status prepare(tsr_op *op, const tsr_image *img) {
    op->in_w = img->width;
    op->in_h = img->height;
    op->in_bands = img->bands;
    tsr_ctx_reset(ctx);
    return op->desc->prepare(ctx, op);
}

/* The op over `img` in tw x th tiles (whole image when 0) with `level`'s
 * kernels, the way the planner cuts and grows tiles. Caller frees. */
static tsr_image *run_tiled(const tsr_op *op, const tsr_image *img, int tw, int th,
                            tsr_simd_level level) {
    tsr_image *out = NULL;
    if (tw <= 0 || th <= 0) {
        tw = img->width;
        th = img->height;
    }
    if (tsr_image_new(ctx, img->width, img->height, img->bands, &out) != TSR_OK)
        return NULL;
    for (int y = 0; y < out->height; y += th)
        for (int x = 0; x < out->width; x += tw) {
            tsr_rect r = tsr_rect_intersect(tsr_rect_make(x, y, tw, th),
                                            tsr_rect_make(0, 0, out->width, out->height));
            tsr_region in = tsr_image_region(img, tsr_op_need_radius(op, r));
            tsr_region o = tsr_image_region(out, r);
            tsr_status st = tsr_median_run_level(op, &in, &o, level);
            CHECK_EQ_INT(st, TSR_OK);
            if (st) {
                tsr_image_free(out);
                return NULL;
            }
        }
    return out;
}

static bool same_image(const tsr_image *a, const tsr_image *b) {
    if (!a || !b || a->width != b->width || a->height != b->height || a->bands != b->bands)
        return false;
    for (int y = 0; y < a->height; y++)
        if (memcmp(a->data + (size_t)y * a->stride, b->data + (size_t)y * b->stride,
                   (size_t)a->width * (size_t)a->bands) != 0)
            return false;
    return true;
}

/* Every colour band against naive_median and alpha against the input. */
static bool matches_naive(const tsr_image *img, const tsr_image *got, int r) {
    int bands = img->bands, colour = bands == 2 || bands == 4 ? bands - 1 : bands;
    for (int y = 0; got && y < img->height; y++)
        for (int x = 0; x < img->width; x++)
            for (int b = 0; b < bands; b++) {
                size_t at = (size_t)y * got->stride + (size_t)x * (size_t)bands + (size_t)b;
                int want = b < colour ? naive_median(img, x, y, b, r) : img->data[at];
                if (got->data[at] != want) {
                    fprintf(stderr, "  %dx%dx%d r %d: (%d,%d) band %d is %d, want %d\n", img->width,
                            img->height, bands, r, x, y, b, got->data[at], want);
                    return false;
                }
            }
    return got != NULL;
}

/* The levels this machine runs, scalar first. */
static int machine_levels(tsr_simd_level *levels) {
    int n = 0;
    for (int l = 0; l < TSR_SIMD_COUNT; l++)
        if (tsr_simd_cpu_has((tsr_simd_level)l))
            levels[n++] = (tsr_simd_level)l;
    return n;
}

/* ---- the sorting-network rows ---- */

/* Rows of every length around the vector widths, every level against the
 * scalar twin and a direct median. */
static void test_sortnet_rows(void) {
    tsr_simd_level levels[TSR_SIMD_COUNT];
    int n_levels = machine_levels(levels);
    uint8_t buf[5][200], want[160], got[160];
    unsigned seed = 7;
    for (int k = 3; k <= 5; k += 2)
        for (size_t len = 1; len <= 150; len += len < 40 ? 1 : 13)
            for (size_t step = 1; step <= 4; step++) {
                const uint8_t *rows[5];
                for (int u = 0; u < k; u++) {
                    for (size_t i = 0; i < sizeof buf[u]; i++) {
                        seed = seed * 1103515245u + 12345u;
                        buf[u][i] = (uint8_t)(len % 3 ? seed >> 16 : (seed >> 16) & 3);
                    }
                    rows[u] = buf[u];
                }
                for (size_t j = 0; j < len; j++) {
                    int hist[256] = {0}, v = 0;
                    for (int u = 0; u < k; u++)
                        for (int c = 0; c < k; c++)
                            hist[rows[u][j + (size_t)c * step]]++;
                    for (int seen = hist[0]; seen <= k * k / 2; seen += hist[++v])
                        ;
                    want[j] = (uint8_t)v;
                }
                for (int l = 0; l < n_levels; l++) {
                    memset(got, 0xA5, sizeof got);
                    tsr_median_sortnet_row(levels[l], k, rows, len, step, got);
                    if (memcmp(got, want, len) != 0) {
                        fprintf(stderr, "  %s: k %d len %zu step %zu differs\n",
                                tsr_simd_name(levels[l]), k, len, step);
                        CHECK(0);
                    }
                    CHECK_EQ_INT(got[len], 0xA5); /* nothing written past the row */
                    n_compared++;
                }
            }
}

/* ---- the whole op, every level ---- */

/* Images smaller than the window and thin ones, every ksize class, every
 * level, against the direct count; tiles of 3x2 as well as whole. */
static void test_small_images_against_naive(void) {
    static const int shapes[][2] = {{1, 1}, {2, 7}, {7, 2}, {50, 3}, {3, 50}, {1, 40}, {33, 21}};
    static const int ksizes[] = {3, 5, 7, 9, 15, 31, 51, 99};
    tsr_simd_level levels[TSR_SIMD_COUNT];
    int n_levels = machine_levels(levels);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int bands = 1; bands <= 4; bands++) {
            tsr_image *img = noise(shapes[s][0], shapes[s][1], bands, (unsigned)(s * 5 + bands));
            for (size_t i = 0; img && i < sizeof ksizes / sizeof ksizes[0]; i++) {
                tsr_op op = median_op(ksizes[i]);
                CHECK_EQ_INT(prepare(&op, img), TSR_OK);
                for (int l = 0; l < n_levels; l++)
                    for (int tiled = 0; tiled < 2; tiled++) {
                        tsr_image *got = run_tiled(&op, img, tiled ? 3 : 0, 2, levels[l]);
                        if (!matches_naive(img, got, op.radius)) {
                            fprintf(stderr, "  ksize %d %s%s\n", ksizes[i],
                                    tsr_simd_name(levels[l]), tiled ? " tiled" : "");
                            CHECK(0);
                        }
                        n_compared++;
                        tsr_image_free(got);
                    }
            }
            tsr_image_free(img);
        }
}

/* A copy of `src` with `bands` bands: grey from band 1, alpha a pattern. */
static tsr_image *with_bands(const tsr_image *src, int bands) {
    tsr_image *img = NULL;
    if (tsr_image_new(ctx, src->width, src->height, bands, &img) != TSR_OK)
        return NULL;
    for (int y = 0; y < src->height; y++)
        for (int x = 0; x < src->width; x++) {
            const uint8_t *s = src->data + (size_t)y * src->stride + (size_t)x * 3;
            uint8_t *d = img->data + (size_t)y * img->stride + (size_t)x * (size_t)bands;
            for (int b = 0; b < bands; b++)
                d[b] = bands >= 3 && b < 3 ? s[b] : s[1];
            if (bands == 2 || bands == 4)
                d[bands - 1] = (uint8_t)((x * 7 + y * 13) % 251);
        }
    return img;
}

/* A photo in 1..4 bands, every ksize class: each level gives the scalar
 * twin's bytes, whole and in tiles of 16x16 (smaller than a 49 halo),
 * 37x23, 100x7 and 256x256; the scalar twin matches the direct count on a
 * sample of pixels and leaves alpha alone. */
static void test_photo_levels_and_tiles(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/chelsea.png", check_data_dir());
    tsr_image *photo = NULL;
    CHECK_EQ_INT(tsr_image_load(ctx, path, NULL, &photo, NULL), TSR_OK);
    if (!photo || photo->bands != 3)
        return;
    static const int ksizes[] = {3, 5, 7, 11, 21, 51, 99};
    static const int tiles[][2] = {{16, 16}, {37, 23}, {100, 7}, {256, 256}};
    tsr_simd_level levels[TSR_SIMD_COUNT];
    int n_levels = machine_levels(levels);
    for (int bands = 1; bands <= 4; bands++) {
        tsr_image *img = with_bands(photo, bands);
        for (size_t i = 0; img && i < sizeof ksizes / sizeof ksizes[0]; i++) {
            tsr_op op = median_op(ksizes[i]);
            CHECK_EQ_INT(prepare(&op, img), TSR_OK);
            tsr_image *ref = run_tiled(&op, img, 0, 0, TSR_SIMD_SCALAR);
            for (int p = 0; ref && p < 40; p++) {
                int x = (p * 97) % img->width, y = (p * 61) % img->height;
                if (p < 4) /* the corners */
                    x = p % 2 ? img->width - 1 : 0, y = p / 2 ? img->height - 1 : 0;
                int b = p % bands, colour = bands == 2 || bands == 4 ? bands - 1 : bands;
                size_t at = (size_t)y * ref->stride + (size_t)x * (size_t)bands + (size_t)b;
                int want = b < colour ? naive_median(img, x, y, b, op.radius) : img->data[at];
                CHECK_EQ_INT(ref->data[at], want);
            }
            for (int l = 0; l < n_levels; l++)
                for (int t = -1; t < 4; t++) {
                    if (levels[l] == TSR_SIMD_SCALAR && t < 0)
                        continue;
                    tsr_image *got = t < 0
                                         ? run_tiled(&op, img, 0, 0, levels[l])
                                         : run_tiled(&op, img, tiles[t][0], tiles[t][1], levels[l]);
                    if (!same_image(ref, got)) {
                        fprintf(stderr, "  ksize %d bands %d %s tile %dx%d differs\n", ksizes[i],
                                bands, tsr_simd_name(levels[l]), t < 0 ? 0 : tiles[t][0],
                                t < 0 ? 0 : tiles[t][1]);
                        CHECK(0);
                    }
                    n_compared++;
                    tsr_image_free(got);
                }
            tsr_image_free(ref);
        }
        tsr_image_free(img);
    }
    tsr_image_free(photo);
}

/* Flat images fill one bin with all 9801 counts of a 99 window: the
 * lowest and highest values and one in between. */
static void test_flat_extremes(void) {
    static const int values[] = {0, 255, 128, 15, 16};
    tsr_simd_level levels[TSR_SIMD_COUNT];
    int n_levels = machine_levels(levels);
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        tsr_image *img = noise(120, 110, 3, 1);
        memset(img->data, values[i], img->stride * (size_t)img->height);
        for (int k = 3; k <= 99; k += 48) {
            tsr_op op = median_op(k);
            CHECK_EQ_INT(prepare(&op, img), TSR_OK);
            for (int l = 0; l < n_levels; l++) {
                tsr_image *got = run_tiled(&op, img, 64, 64, levels[l]);
                CHECK(same_image(img, got));
                tsr_image_free(got);
            }
        }
        tsr_image_free(img);
    }
}

/* An even, too small or too large ksize is refused with the range. */
static void test_ksize_messages(void) {
    static const double bad[] = {4, 1, 101, 98, 0, -3, 3.5};
    tsr_image *img = noise(8, 8, 3, 1);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tsr_op op = median_op(0);
        op.values[0] = bad[i];
        CHECK_EQ_INT(prepare(&op, img), TSR_ERR_USAGE);
        CHECK_STR_CONTAINS(tsr_ctx_message(ctx),
                           "median: ksize must be an odd number from 3 to 99");
    }
    for (int k = 3; k <= 99; k += 2) {
        tsr_op op = median_op(k);
        CHECK_EQ_INT(prepare(&op, img), TSR_OK);
        CHECK_EQ_INT(op.radius, k / 2);
    }
    tsr_image_free(img);
}

int main(void) {
    ctx = tsr_ctx_new();
    printf("     SIMD levels here:");
    for (int l = 0; l < TSR_SIMD_COUNT; l++)
        if (tsr_simd_cpu_has((tsr_simd_level)l))
            printf(" %s", tsr_simd_name((tsr_simd_level)l));
    printf(" (active: %s)\n", tsr_simd_name(tsr_simd_active()));
    RUN(test_networks_on_all_binary_inputs);
    RUN(test_sortnet_rows);
    RUN(test_small_images_against_naive);
    RUN(test_photo_levels_and_tiles);
    RUN(test_flat_extremes);
    RUN(test_ksize_messages);
    printf("     %d runs compared\n", n_compared);
    tsr_ctx_free(ctx);
    return check_finish();
}
