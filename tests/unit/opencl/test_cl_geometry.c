/*
 * The geometry kernels (resize, rotate, thumbnail) give the CPU's bytes:
 * every interpolation at big down- and upscales and by width/height, rotate
 * at exact, tiny and odd angles with and without expand, thumbnail boxes,
 * on 1..4 bands, 1x1 and thin images, tiles of 16 and the whole image. Each
 * run must use the device (tiles counted, no fallback), except the case
 * whose parameters are left to the CPU, which must not. TSR_SEED varies the noise.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cl_harness.h"
#include "tessera/tessera.h"

#include "random_steps.h"

typedef struct shape {
    int w, h;
} shape;

/* Inputs: 1x1, thin, small odd and mid sizes (one divisible by 2, 3, 4). */
static const shape shapes[] = {{1, 1}, {1, 37}, {53, 1}, {2, 3}, {7, 5}, {97, 83}, {300, 240}};
#define N_SHAPES (int)(sizeof shapes / sizeof shapes[0])
/* The smaller ones, for big upscales. */
#define N_SMALL_SHAPES 6

static const int tiles[] = {16, 65536};

/* A w x h image: noise, or a photo window when `photo` (up to 512). */
static tsr_image *input(tsr_ctx *ctx, shape s, int bands, int photo) {
    if (photo && s.w <= 512 && s.h <= 512)
        return load_window(ctx, bands, s.w, s.h, (512 - s.w) / 3, (512 - s.h) / 2);
    tsr_image *img = NULL;
    if (tsr_image_new(ctx, s.w, s.h, bands, &img))
        return NULL;
    for (int y = 0; y < s.h; y++)
        for (int x = 0; x < s.w * bands; x++)
            img->data[(size_t)y * img->stride + (size_t)x] = (uint8_t)rnd(256);
    return img;
}

/* Runs `text` on `in` on the CPU and on the device with `tile`; checks equal
 * bytes, and that the device ran it exactly when `on_device`. A parameter the input
 * cannot take (a size out of range) is skipped. */
static void compare(tsr_ctx *ctx, const tsr_image *in, const char *text, int tile, int on_device) {
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
    if (st == TSR_ERR_USAGE || st == TSR_ERR_LIMIT) {
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
    if (on_device != (after.tiles != before.tiles)) {
        fprintf(stderr, "'%s' (%dx%dx%d) %s on the device\n", text, in->width, in->height,
                in->bands, on_device ? "did not run" : "ran");
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

/* `text` on shapes[0..n_shapes), bands cycling 1..4 (all four when
 * `all_bands`), both tile sizes, noise and photo alternating. */
static void sweep(const char *text, int n_shapes, int all_bands, int on_device) {
    static int turn;
    tsr_ctx *ctx = tsr_ctx_new();
    for (int s = 0; s < n_shapes; s++, turn++)
        for (int bands = 1; bands <= 4; bands++) {
            if (!all_bands && bands != 1 + turn % 4)
                continue;
            tsr_image *in = input(ctx, shapes[s], bands, (turn + bands) % 3 == 0);
            CHECK(in != NULL);
            for (int t = 0; in && t < 2; t++)
                compare(ctx, in, text, tiles[t], on_device);
            tsr_image_free(in);
        }
    tsr_ctx_free(ctx);
}

static const char *const interps[] = {"linear", "area", "lanczos", "nearest", "cubic"};

/* Every interpolation by scale: big shrinks, exact halves and thirds (the
 * area fast paths), near 1 and up to 4x (on the smaller shapes). */
static void test_resize_scale(void) {
    static const double down[] = {0.05, 0.1, 1 / 3.0, 0.25, 0.5, 0.62, 0.999};
    static const double up[] = {1.001, 1.37, 2, 3, 4};
    char text[128];
    for (int i = 0; i < 5; i++) {
        for (size_t k = 0; k < sizeof down / sizeof down[0]; k++) {
            snprintf(text, sizeof text, "resize:scale=%.17g,interp=%s", down[k], interps[i]);
            sweep(text, N_SHAPES, 0, 1);
        }
        for (size_t k = 0; k < sizeof up / sizeof up[0]; k++) {
            snprintf(text, sizeof text, "resize:scale=%.17g,interp=%s", up[k], interps[i]);
            sweep(text, N_SMALL_SHAPES, 0, 1);
        }
    }
}

/* Every interpolation by width, height or both (aspect changes, 1-pixel
 * sides, integer factors on one axis only). */
static void test_resize_size(void) {
    static const char *const sizes[] = {
        "width=1",           "height=1",          "width=3,height=2",
        "width=150",         "height=80",         "width=100,height=120",
        "width=1,height=40", "width=33,height=1", "width=600,height=7"};
    char text[128];
    for (int i = 0; i < 5; i++)
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            snprintf(text, sizeof text, "resize:%s,interp=%s", sizes[k], interps[i]);
            sweep(text, N_SHAPES, 0, 1);
        }
}

/* All bands for each interpolation at a shrink and an enlargement. */
static void test_resize_bands(void) {
    char text[128];
    for (int i = 0; i < 5; i++) {
        snprintf(text, sizeof text, "resize:scale=0.43,interp=%s", interps[i]);
        sweep(text, N_SHAPES, 1, 1);
        snprintf(text, sizeof text, "resize:scale=1.8,interp=%s", interps[i]);
        sweep(text, N_SMALL_SHAPES, 1, 1);
    }
}

/* Exact multiples of 90, tiny angles, odd ones, expand both ways. */
static void test_rotate(void) {
    static const double angles[] = {0,     90,   -90,    180,  -180,   270, 360,   45,    30,
                                    -17.5, 0.01, -0.001, 1e-6, 179.99, 0.5, 123.4, -359.9};
    char text[128];
    for (size_t k = 0; k < sizeof angles / sizeof angles[0]; k++)
        for (int expand = 0; expand < 2; expand++) {
            snprintf(text, sizeof text, "rotate:angle=%.17g,expand=%s", angles[k],
                     expand ? "true" : "false");
            sweep(text, N_SHAPES, k % 4 == 0, 1);
        }
}

/* Boxes smaller and larger than the inputs (no upscale: a copy), one side. */
static void test_thumbnail(void) {
    static const char *const boxes[] = {"width=2",   "width=7",   "width=40",  "width=64,height=9",
                                        "width=100", "width=150", "width=300", "width=1000"};
    char text[128];
    for (size_t k = 0; k < sizeof boxes / sizeof boxes[0]; k++) {
        snprintf(text, sizeof text, "thumbnail:%s", boxes[k]);
        sweep(text, N_SHAPES, k % 3 == 0, 1);
    }
}

/* Integer shrinks by hundreds: whole blocks of any size run on the device
 * (300x240 to 1x1 is one 300 x 240 block), blocks cut by the edge only up
 * to 65535 pixels: 600x400 at 1/400 has a 200 x 400 edge block and is left
 * to the CPU. The same bytes either way. */
static void test_area_blocks(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_image *a = input(ctx, (shape){300, 240}, 3, 0), *b = input(ctx, (shape){600, 400}, 2, 0);
    tsr_image *c = input(ctx, (shape){375, 250}, 1, 0);
    CHECK(a && b && c);
    if (a && b && c) {
        compare(ctx, a, "thumbnail:width=1", 16, 1);
        compare(ctx, a, "resize:width=1,height=1,interp=area", 65536, 1);
        compare(ctx, c, "resize:scale=0.004,interp=area", 16, 1);
        compare(ctx, b, "resize:scale=0.0025,interp=area", 16, 0);
    }
    tsr_image_free(a);
    tsr_image_free(b);
    tsr_image_free(c);
    tsr_ctx_free(ctx);
}

/* random_steps.h's parameters for the three ops on random inputs. */
static void test_random_steps(void) {
    static const char *const ops[] = {"resize", "rotate", "thumbnail"};
    for (int k = 0; k < 30; k++) {
        char step[256];
        CHECK(random_step(ops[k % 3], step, sizeof step));
        shape s = {1 + (int)rnd(300), 1 + (int)rnd(300)};
        tsr_ctx *ctx = tsr_ctx_new();
        tsr_image *in = input(ctx, s, 1 + (int)rnd(4), (int)rnd(2));
        CHECK(in != NULL);
        if (in)
            compare(ctx, in, step, 16 + (int)rnd(100), 1);
        tsr_image_free(in);
        tsr_ctx_free(ctx);
    }
}

/* Geometry ops fused with each other and with a point op. */
static void test_chains(void) {
    static const char *const chains[] = {
        "resize:scale=0.5|rotate:angle=30",
        "rotate:angle=-12.5,expand=true|resize:width=77,interp=lanczos",
        "resize:scale=2.5,interp=cubic|thumbnail:width=90",
        "thumbnail:width=60|rotate:angle=200,expand=true|resize:scale=1.3,interp=nearest",
        "invert|resize:scale=0.3,interp=area|invert",
    };
    for (size_t k = 0; k < sizeof chains / sizeof chains[0]; k++)
        sweep(chains[k], N_SHAPES, 1, 1);
}

int main(void) {
    if (!cl_harness_begin(&rng_state))
        return 1;
    RUN(test_resize_scale);
    RUN(test_resize_size);
    RUN(test_resize_bands);
    RUN(test_rotate);
    RUN(test_thumbnail);
    RUN(test_area_blocks);
    RUN(test_chains);
    RUN(test_random_steps);
    return cl_harness_end();
}
