/*
 * The convolve family on OpenCL gives the CPU's bytes over every parameter
 * its ops take: box-blur ksize 1..101, gaussian-blur ksize 1..101 and sigma
 * from 0.01 to 100 (601 taps), convolve kernels 1x1..9x9 (integer, power of
 * two, fractional, negative, zero, huge; divisors and offsets), sharpen,
 * sobel's directions, median 3 and 5; on 1..4 bands, 1x1, 1xN, Nx1 and thin
 * images as well as larger ones, tiles of 16 and the whole image. Each run
 * must have used the device with no fallback. median 7..99 has no kernel:
 * the device must decline every stage holding one, with no fallback. Also checks, for every sum
 * and box side, the integer rounding the kernel uses for box-blur's double
 * division. TSR_SEED picks the noise and the random kernels.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cl_harness.h"
#include "tessera/tessera.h"

static unsigned long long rng = 0x2545f4914f6cdd1dull;

static unsigned rnd(unsigned n) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

typedef struct size2 {
    int w, h;
} size2;

/* Degenerate and thin shapes first, then ordinary ones. */
static const size2 shapes[] = {{1, 1},  {1, 19}, {23, 1},  {2, 3},   {5, 2},
                               {40, 3}, {3, 40}, {61, 47}, {130, 90}};
#define N_SHAPES (int)(sizeof shapes / sizeof shapes[0])

/* A w x h image of noise, or of a smooth ramp with some noise (flat areas
 * hit rounding ties that noise misses). */
static tsr_image *make_image(tsr_ctx *ctx, int w, int h, int bands, int smooth) {
    tsr_image *img = NULL;
    if (tsr_image_new(ctx, w, h, bands, &img))
        return NULL;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w * bands; x++)
            img->data[(size_t)y * img->stride + (size_t)x] =
                smooth ? (uint8_t)((x / bands) * 3 + y * 2 + (int)rnd(3)) : (uint8_t)rnd(256);
    return img;
}

static int same_image(const tsr_image *a, const tsr_image *b) {
    if (a->width != b->width || a->height != b->height || a->bands != b->bands)
        return 0;
    for (int y = 0; y < a->height; y++)
        if (memcmp(a->data + (size_t)y * a->stride, b->data + (size_t)y * b->stride,
                   (size_t)a->width * (size_t)a->bands))
            return 0;
    return 1;
}

/* Runs `text` on `in` with tile `tile` on the CPU and on the device: the
 * device must have run it without fallback and given the same bytes. */
static void compare(tsr_ctx *ctx, const tsr_image *in, const char *text, int tile) {
    tsr_pipeline *p = NULL;
    tsr_ctx_reset(ctx);
    if (tsr_pipeline_parse(ctx, text, &p)) {
        fprintf(stderr, "pipeline '%s' rejected: %s\n", text, tsr_ctx_message(ctx));
        CHECK(0);
        return;
    }
    tsr_run_options cpu = {.tile_size = tile};
    tsr_run_options dev = {.tile_size = tile, .accel = tsr_cl_backend_accel(backend)};
    tsr_image *a = NULL, *b = NULL;
    tsr_cl_stats before, after;
    CHECK_EQ_INT(tsr_pipeline_run(ctx, p, in, pool, &cpu, &a), TSR_OK);
    tsr_cl_backend_stats(backend, &before);
    CHECK_EQ_INT(tsr_pipeline_run(ctx, p, in, pool, &dev, &b), TSR_OK);
    tsr_cl_backend_stats(backend, &after);
    CHECK_EQ_INT(after.fallbacks, before.fallbacks);
    if (after.tiles == before.tiles) {
        fprintf(stderr, "'%s' did not run on the device\n", text);
        CHECK(0);
    }
    if (a && b && !same_image(a, b)) {
        fprintf(stderr, "OpenCL differs from the CPU: '%s' %dx%dx%d tile %d\n", text, in->width,
                in->height, in->bands, tile);
        CHECK(0);
    }
    n_compared++;
    tsr_image_free(a);
    tsr_image_free(b);
    tsr_pipeline_free(p);
}

/* Runs `text` with the device offered: it must decline every tile (none
 * run there, none fallen back) and the bytes are the CPU's. */
static void compare_declined(tsr_ctx *ctx, const tsr_image *in, const char *text, int tile) {
    tsr_pipeline *p = NULL;
    tsr_ctx_reset(ctx);
    if (tsr_pipeline_parse(ctx, text, &p)) {
        fprintf(stderr, "pipeline '%s' rejected: %s\n", text, tsr_ctx_message(ctx));
        CHECK(0);
        return;
    }
    tsr_run_options cpu = {.tile_size = tile};
    tsr_run_options dev = {.tile_size = tile, .accel = tsr_cl_backend_accel(backend)};
    tsr_image *a = NULL, *b = NULL;
    tsr_cl_stats before, after;
    CHECK_EQ_INT(tsr_pipeline_run(ctx, p, in, pool, &cpu, &a), TSR_OK);
    tsr_cl_backend_stats(backend, &before);
    CHECK_EQ_INT(tsr_pipeline_run(ctx, p, in, pool, &dev, &b), TSR_OK);
    tsr_cl_backend_stats(backend, &after);
    CHECK_EQ_INT(after.fallbacks, before.fallbacks);
    CHECK_EQ_INT(after.tiles, before.tiles);
    CHECK(a && b && same_image(a, b));
    n_compared++;
    tsr_image_free(a);
    tsr_image_free(b);
    tsr_pipeline_free(p);
}

/* `text` on every band count, each on a shape picked by `first` (so a
 * sweep over a parameter meets every shape), tiles of 16 and the whole
 * image alternating. */
static void sweep(tsr_ctx *ctx, const char *text, int first) {
    for (int bands = 1; bands <= 4; bands++) {
        size2 s = shapes[(first + 3 * bands) % N_SHAPES];
        tsr_image *in = make_image(ctx, s.w, s.h, bands, (first + bands) % 2);
        CHECK(in != NULL);
        if (in)
            compare(ctx, in, text, (first / 2 + bands) % 2 ? 16 : TSR_TILE_MAX);
        tsr_image_free(in);
    }
}

/* `text` on every shape and band count, with tiles of 16 and the whole
 * image. */
static void sweep_all(tsr_ctx *ctx, const char *text) {
    for (int s = 0; s < N_SHAPES; s++)
        for (int bands = 1; bands <= 4; bands++) {
            tsr_image *in = make_image(ctx, shapes[s].w, shapes[s].h, bands, s % 2);
            CHECK(in != NULL);
            if (in) {
                compare(ctx, in, text, 16);
                compare(ctx, in, text, TSR_TILE_MAX);
            }
            tsr_image_free(in);
        }
}

static void test_box_blur(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    char text[64];
    for (int k = 1; k <= 101; k += 2) {
        snprintf(text, sizeof text, "box-blur:ksize=%d", k);
        sweep(ctx, text, k / 2);
    }
    sweep_all(ctx, "box-blur:ksize=3");
    sweep_all(ctx, "box-blur:ksize=17"); /* the first double division */
    tsr_ctx_free(ctx);
}

/* box-blur's large boxes: nearbyint(acc * (1.0 / d)) on the CPU is
 * (2 acc + d) / (2 d) in sep_finish, for every sum a ksize^2 box can hold. */
static void test_box_rounding(void) {
    long long wrong = 0;
    for (unsigned n = 17; n <= 101; n += 2) {
        unsigned d = n * n;
        double scale = 1.0 / d;
        for (unsigned acc = 0; acc <= d * 255; acc++)
            if ((unsigned)nearbyint((double)acc * scale) != (2 * acc + d) / (2 * d))
                wrong++;
    }
    CHECK_EQ_INT(wrong, 0);
}

static void test_gaussian_ksize(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    char text[64];
    for (int k = 1; k <= 101; k += 2) {
        snprintf(text, sizeof text, "gaussian-blur:ksize=%d", k);
        sweep(ctx, text, k / 2);
    }
    sweep_all(ctx, "gaussian-blur");
    sweep_all(ctx, "gaussian-blur:sigma=1.5");
    tsr_ctx_free(ctx);
}

static void test_gaussian_sigma(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    static const char *const steps[] = {
        "gaussian-blur:sigma=0.01",          "gaussian-blur:sigma=0.1",
        "gaussian-blur:sigma=0.3",           "gaussian-blur:sigma=0.5",
        "gaussian-blur:sigma=0.8",           "gaussian-blur:sigma=1",
        "gaussian-blur:sigma=2.37",          "gaussian-blur:sigma=5",
        "gaussian-blur:sigma=12.5",          "gaussian-blur:sigma=33.3",
        "gaussian-blur:sigma=100",           "gaussian-blur:sigma=100,ksize=3",
        "gaussian-blur:sigma=100,ksize=101", "gaussian-blur:sigma=0.1,ksize=101",
        "gaussian-blur:sigma=0.7,ksize=9",   "gaussian-blur:sigma=3,ksize=1",
        "gaussian-blur:sigma=50,ksize=51",   "gaussian-blur:sigma=0,ksize=11",
    };
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
        sweep(ctx, steps[i], (int)i);
    tsr_ctx_free(ctx);
}

/* "convolve:kernel=..." with size x size taps from `pick` (0 random small
 * integers, 1 fractions, 2 huge, 3 zeros) and the suffix. */
static void kernel_step(char *buf, size_t size, int side, int pick, const char *suffix) {
    int n = snprintf(buf, size, "convolve:kernel=");
    for (int i = 0; i < side * side && n < (int)size; i++) {
        const char *sep = i ? " " : "";
        if (pick == 0)
            n += snprintf(buf + n, size - (size_t)n, "%s%d", sep, (int)rnd(9) - 4);
        else if (pick == 1)
            n +=
                snprintf(buf + n, size - (size_t)n, "%s%.3f", sep, ((int)rnd(2001) - 1000) / 997.0);
        else if (pick == 2)
            n += snprintf(buf + n, size - (size_t)n, "%s%d", sep, (int)rnd(2000001) - 1000000);
        else
            n += snprintf(buf + n, size - (size_t)n, "%s0", sep);
    }
    if (n < (int)size)
        snprintf(buf + n, size - (size_t)n, "%s", suffix);
}

static void test_convolve(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    static const char *const suffixes[] = {
        "",
        ",divisor=1",
        ",divisor=1,offset=7",
        ",divisor=4,offset=-3",
        ",divisor=16",
        ",divisor=3",
        ",divisor=-2.5",
        ",offset=0.5",
        ",divisor=1,offset=-255",
        ",divisor=524288",
        ",divisor=0.1,offset=128.25",
    };
    char text[1024];
    int step = 0;
    for (int side = 1; side <= 9; side += 2)
        for (int pick = 0; pick < 4; pick++)
            for (size_t s = 0; s < sizeof suffixes / sizeof suffixes[0]; s++) {
                kernel_step(text, sizeof text, side, pick, suffixes[s]);
                sweep(ctx, text, step++);
            }
    static const char *const fixed[] = {
        "convolve:kernel=1 2 1 2 4 2 1 2 1",               /* divisor 16: shift, fused16 */
        "convolve:kernel=0 -1 0 -1 5 -1 0 -1 0,offset=10", /* sharpen with an offset */
        "convolve:kernel=1 1 1 1 1 1 1 1 1",               /* divisor 9: double rows */
        "convolve:kernel=-1 -1 -1 -1 8 -1 -1 -1 -1",       /* sum 0: divisor 1 */
        "convolve:kernel=0.0625 0.125 0.0625 0.125 0.25 0.125 0.0625 0.125 0.0625",
        "convolve:kernel=1000000 -1000000 1000000 -1000000 1 -1000000 1000000 -1000000 1000000",
        "convolve:kernel=3",
        "convolve:kernel=0.5,offset=0.5",
        "sharpen",
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        sweep_all(ctx, fixed[i]);
    tsr_ctx_free(ctx);
}

static void test_sobel_median(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    static const char *const steps[] = {
        "sobel",  "sobel:direction=x", "sobel:direction=y", "sobel:direction=both",
        "median", "median:ksize=3",    "median:ksize=5",
    };
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
        sweep_all(ctx, steps[i]);
    tsr_ctx_free(ctx);
}

/* median 7 and up: no kernel, so the device declines the op and every
 * fused stage holding it; the CPU computes it, and nothing counts as a
 * fallback. */
static void test_median_large_stays_on_cpu(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    static const char *const steps[] = {
        "median:ksize=7",          "median:ksize=15",
        "median:ksize=99",         "gaussian-blur:sigma=2|median:ksize=9",
        "median:ksize=51|sharpen", "median:ksize=5|median:ksize=7",
    };
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
        for (int s = 0; s < N_SHAPES; s += 2) {
            int bands = 1 + (int)(i + (size_t)s) % 4;
            tsr_image *in = make_image(ctx, shapes[s].w, shapes[s].h, bands, s % 2);
            CHECK(in != NULL);
            if (in)
                compare_declined(ctx, in, steps[i], s % 4 ? 16 : TSR_TILE_MAX);
            tsr_image_free(in);
        }
    tsr_ctx_free(ctx);
}

/* Several of the family in one fused stage (temp slots reused op after op). */
static void test_chains(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    static const char *const chains[] = {
        "gaussian-blur:sigma=2|sobel|median:ksize=5",
        "box-blur:ksize=21|convolve:kernel=0.1 0.2 0.1 0.2 0.3 0.2 0.1 0.2 0.1|sharpen",
        "median|gaussian-blur:ksize=7|box-blur:ksize=5|sobel:direction=y",
        "convolve:kernel=1 2 1 2 4 2 1 2 1|gaussian-blur:sigma=9|median:ksize=3",
    };
    for (size_t i = 0; i < sizeof chains / sizeof chains[0]; i++)
        sweep_all(ctx, chains[i]);
    tsr_ctx_free(ctx);
}

int main(void) {
    if (!cl_harness_begin(&rng))
        return 1;
    RUN(test_box_rounding);
    RUN(test_box_blur);
    RUN(test_gaussian_ksize);
    RUN(test_gaussian_sigma);
    RUN(test_convolve);
    RUN(test_sobel_median);
    RUN(test_median_large_stays_on_cpu);
    RUN(test_chains);
    return cl_harness_end();
}
