/*
 * The point, global and layout families on OpenCL give the CPU's bytes over
 * their whole parameter ranges: every enum choice and the extremes of each
 * number, 1..4 bands, 1x1 and one-pixel-thin images, flat and two-level
 * images (equalize's and Otsu's corner cases), tiles of 16 and of the whole
 * image; then random chains of these ops only, which must run entirely on
 * the device. Each run must have used the device (GLOBAL ops: their maps
 * too) with no fallback. TSR_SEED, TSR_ITERATIONS.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cl_harness.h"
#include "tessera/tessera.h"

#include "random_steps.h"

/* Steps whose parameters do not depend on the image. */
static const char *const fixed_steps[] = {
    "grayscale",
    "invert",
    "brightness:delta=-255",
    "brightness:delta=-1",
    "brightness:delta=0",
    "brightness:delta=255",
    "contrast:factor=0",
    "contrast:factor=0.37",
    "contrast:factor=1",
    "contrast:factor=1.5",
    "contrast:factor=10",
    "gamma:gamma=0.01",
    "gamma:gamma=0.45",
    "gamma:gamma=1",
    "gamma:gamma=2.2",
    "gamma:gamma=10",
    "threshold:value=0",
    "threshold:value=1",
    "threshold:value=128",
    "threshold:value=255",
    "equalize",
    "threshold-otsu",
    "flip:axis=horizontal",
    "flip:axis=vertical",
    "flip:axis=both",
    "rotate90",
    "rotate180",
    "rotate270",
    "crop:x=0,y=0",
    "grayscale|equalize|rotate90",
    "contrast:factor=2|gamma:gamma=2.2|grayscale|flip:axis=vertical|threshold-otsu",
    "rotate270|equalize|flip:axis=both|threshold-otsu|rotate180",
};
#define N_FIXED (int)(sizeof fixed_steps / sizeof fixed_steps[0])

/* The ops of these families among random_steps.h's candidates. */
static const char *const mine[] = {
    "grayscale",      "invert", "brightness", "contrast",  "gamma",     "threshold", "equalize",
    "threshold-otsu", "flip",   "rotate90",   "rotate180", "rotate270", "crop",
};
#define N_MINE (int)(sizeof mine / sizeof mine[0])

typedef enum input_kind { NOISE, PHOTO, FLAT, TWO_LEVEL } input_kind;

/* A w x h image: noise, a photo window, one grey level, or two levels in a
 * checkerboard; alpha (where there is one) a ramp. */
static tsr_image *make_input(tsr_ctx *ctx, input_kind kind, int w, int h, int bands) {
    if (kind == PHOTO && w <= 512 && h <= 512)
        return load_window(ctx, bands, w, h, (int)rnd((unsigned)(513 - w)),
                           (int)rnd((unsigned)(513 - h)));
    tsr_image *img = NULL;
    if (tsr_image_new(ctx, w, h, bands, &img))
        return NULL;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *d = img->data + (size_t)y * img->stride + (size_t)x * (size_t)bands;
            for (int b = 0; b < bands; b++) {
                int alpha = (bands == 2 || bands == 4) && b == bands - 1;
                if (alpha)
                    d[b] = (uint8_t)(x * 3 + y);
                else if (kind == FLAT)
                    d[b] = (uint8_t)(77 + 40 * b);
                else if (kind == TWO_LEVEL)
                    d[b] = (x + y) % 2 ? 12 : 230;
                else
                    d[b] = (uint8_t)rnd(256);
            }
        }
    return img;
}

/* Whether `text` holds a GLOBAL op (whose map must then run on the device). */
static int has_global(const char *text) {
    return strstr(text, "equalize") || strstr(text, "otsu");
}

/* Runs `text` on `in` with tile side `tile` on the CPU and on the device;
 * checks equal bytes. `whole`: every op has a kernel, so the device must
 * have run tiles (and maps for GLOBAL ops) with no fallback. */
static void compare(tsr_ctx *ctx, const tsr_image *in, const char *text, int tile, int whole) {
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
    tsr_status st = tsr_pipeline_run(ctx, p, in, pool, &cpu, &a);
    if (st == TSR_ERR_USAGE) { /* a crop past a small image */
        tsr_pipeline_free(p);
        return;
    }
    CHECK_EQ_INT(st, TSR_OK);
    tsr_cl_stats before, after;
    tsr_cl_backend_stats(backend, &before);
    tsr_ctx_reset(ctx);
    CHECK_EQ_INT(tsr_pipeline_run(ctx, p, in, pool, &dev, &b), TSR_OK);
    tsr_cl_backend_stats(backend, &after);
    CHECK_EQ_INT(after.fallbacks, before.fallbacks);
    if (whole && (after.tiles == before.tiles || (has_global(text) && after.maps == before.maps))) {
        fprintf(stderr, "'%s' (%d bands) did not run on the device\n", text, in->bands);
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

/* Every fixed step and crops at the image's corners and middle, on `in`,
 * with tiles of 16 and of the whole image. */
static void sweep_image(tsr_ctx *ctx, const tsr_image *in) {
    int w = in->width, h = in->height;
    char crops[3][128];
    snprintf(crops[0], sizeof crops[0], "crop:x=%d,y=%d", w - 1, h - 1);
    snprintf(crops[1], sizeof crops[1], "crop:x=%d,y=%d,width=%d,height=%d", w / 3, h / 4,
             w / 2 > 0 ? w / 2 : 1, h / 2 > 0 ? h / 2 : 1);
    snprintf(crops[2], sizeof crops[2], "crop:x=0,y=%d,width=%d,height=1|rotate90|equalize", h / 2,
             w);
    static const int tiles[] = {TSR_TILE_MIN, TSR_TILE_MAX};
    for (int t = 0; t < 2; t++) {
        for (int s = 0; s < N_FIXED; s++)
            compare(ctx, in, fixed_steps[s], tiles[t], 1);
        for (int s = 0; s < 3; s++)
            compare(ctx, in, crops[s], tiles[t], 1);
    }
}

/* The sweep on 1x1, thin, small and mid-sized images of every band count. */
static void test_parameter_sweep(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    static const struct {
        input_kind kind;
        int w, h;
    } inputs[] = {
        {NOISE, 1, 1},    {PHOTO, 1, 40}, {NOISE, 40, 1},      {PHOTO, 97, 83},
        {NOISE, 130, 70}, {FLAT, 33, 21}, {TWO_LEVEL, 50, 50},
    };
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++)
        for (int bands = 1; bands <= 4; bands++) {
            tsr_image *in = make_input(ctx, inputs[i].kind, inputs[i].w, inputs[i].h, bands);
            CHECK(in != NULL);
            if (in)
                sweep_image(ctx, in);
            tsr_image_free(in);
        }
    tsr_ctx_free(ctx);
}

/* The histogram kernel over many work groups: larger images, whole-image
 * map tiles and 16-px tiles (64-px map tiles). */
static void test_large_histograms(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    static const char *const steps[] = {"equalize", "threshold-otsu", "grayscale|equalize"};
    for (int bands = 1; bands <= 4; bands++) {
        tsr_image *noise = make_input(ctx, NOISE, 700, 450, bands);
        tsr_image *photo = make_input(ctx, PHOTO, 512, 512, bands);
        CHECK(noise && photo);
        for (int s = 0; s < 3 && noise && photo; s++) {
            compare(ctx, noise, steps[s], TSR_TILE_MAX, 1);
            compare(ctx, photo, steps[s], TSR_TILE_MAX, 1);
            compare(ctx, photo, steps[s], TSR_TILE_MIN, 1);
        }
        tsr_image_free(noise);
        tsr_image_free(photo);
    }
    tsr_ctx_free(ctx);
}

/* Random chains of 1..5 of these families' ops with random parameters
 * (random_steps.h): all have kernels, so all run on the device. */
static void test_random_chains(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    int iterations = getenv("TSR_ITERATIONS") ? atoi(getenv("TSR_ITERATIONS")) * 10 : 30;
    static const int tiles[] = {16, 23, 64, 100, 256, 65536};
    for (int it = 0; it < iterations; it++) {
        char text[2048] = "";
        int n = 1 + (int)rnd(5);
        for (int k = 0; k < n; k++) {
            char step[256];
            if (!random_step(mine[rnd(N_MINE)], step, sizeof step))
                continue;
            if (text[0])
                strcat(text, "|");
            strcat(text, step);
        }
        input_kind kind = rnd(2) ? NOISE : PHOTO;
        tsr_image *in =
            make_input(ctx, kind, 1 + (int)rnd(300), 1 + (int)rnd(300), 1 + (int)rnd(4));
        CHECK(in != NULL);
        if (in && text[0])
            compare(ctx, in, text, tiles[rnd(6)], 1);
        tsr_image_free(in);
    }
    tsr_ctx_free(ctx);
}

/* Every op name these families list is among random_steps.h's candidates
 * (so test_cl_exact covers it too). */
static void test_candidates_listed(void) {
    for (int i = 0; i < N_MINE; i++) {
        int found = 0;
        for (int c = 0; c < N_CANDIDATES; c++)
            found |= !strcmp(candidates[c], mine[i]);
        CHECK(found);
    }
}

int main(void) {
    if (!cl_harness_begin(&rng_state))
        return 1;
    RUN(test_candidates_listed);
    RUN(test_parameter_sweep);
    RUN(test_large_histograms);
    RUN(test_random_chains);
    return cl_harness_end();
}
