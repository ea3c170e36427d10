/*
 * The OpenCL backend gives the CPU backend's bytes. On PoCL's CPU device
 * (or whatever device `--backend opencl` picks): every op that has a kernel,
 * alone on 1..4 bands, windows of a real photo and of noise of random sizes,
 * with random parameters and tile sizes, then random chains mixing ops with
 * and without kernels; each must have run on the device (tiles counted, no
 * fallback) and match the CPU run byte for byte. TSR_SEED, TSR_ITERATIONS.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cl_harness.h"
#include "opencl/cl_kernels.h"
#include "tessera/tessera.h"

#include "random_steps.h"

/* A w x h image of uniform noise (the hardest input for rounding). */
static tsr_image *noise_image(tsr_ctx *ctx, int w, int h, int bands) {
    tsr_image *img = NULL;
    if (tsr_image_new(ctx, w, h, bands, &img))
        return NULL;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w * bands; x++)
            img->data[(size_t)y * img->stride + (size_t)x] = (uint8_t)rnd(256);
    return img;
}

/* Runs `text` on `in` on the CPU and on the device with a random tile;
 * checks equal bytes. `on_device`: the run must have used the device (2:
 * its GLOBAL op's map too). */
static void compare(tsr_ctx *ctx, const tsr_image *in, const char *text, int on_device) {
    tsr_pipeline *p = NULL;
    tsr_ctx_reset(ctx);
    if (tsr_pipeline_parse(ctx, text, &p)) {
        fprintf(stderr, "pipeline '%s' rejected: %s\n", text, tsr_ctx_message(ctx));
        CHECK(0);
        return;
    }
    static const int tiles[] = {16, 23, 64, 100, 256, 65536};
    int tile = tiles[rnd(6)];
    tsr_run_options cpu = {.tile_size = tile};
    tsr_run_options dev = {.tile_size = tile, .accel = tsr_cl_backend_accel(backend)};
    tsr_image *a = NULL, *b = NULL;
    tsr_status st = tsr_pipeline_run(ctx, p, in, pool, &cpu, &a);
    if (st == TSR_ERR_USAGE) { /* a crop outside a small image: not this test's business */
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
    if (on_device && after.tiles + after.maps == before.tiles + before.maps) {
        fprintf(stderr, "'%s' (%d bands) did not run on the device\n", text, in->bands);
        CHECK(0);
    }
    if (on_device == 2 && after.maps == before.maps) { /* a GLOBAL op with a device map */
        fprintf(stderr, "'%s' (%d bands): its reduction did not run on the device\n", text,
                in->bands);
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

/* Whether some family has a kernel for op `name` (for some parameters):
 * 2 when it has a map (a GLOBAL op's reduction on the device), else 1. */
static int has_kernel(const char *name) {
    const tsr_cl_op_kernel *const families[] = {tsr_cl_kernels_point,  tsr_cl_kernels_convolve,
                                                tsr_cl_kernels_edge,   tsr_cl_kernels_geometry,
                                                tsr_cl_kernels_global, tsr_cl_kernels_layout};
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++)
        for (const tsr_cl_op_kernel *k = families[f]; k->op; k++)
            if (!strcmp(k->op, name))
                return k->map ? 2 : 1;
    return 0;
}

/* An input: a photo window or noise, 1..300 px a side. */
static tsr_image *random_input(tsr_ctx *ctx, int bands) {
    int w = 1 + (int)rnd(300), h = 1 + (int)rnd(300);
    if (rnd(2))
        return noise_image(ctx, w, h, bands);
    return load_window(ctx, bands, w, h, (int)rnd((unsigned)(512 - w)),
                       (int)rnd((unsigned)(512 - h)));
}

static void test_each_kernel(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    int rounds = getenv("TSR_ITERATIONS") ? atoi(getenv("TSR_ITERATIONS")) : 3;
    for (int c = 0; c < N_CANDIDATES; c++) {
        int need = has_kernel(candidates[c]);
        if (!need)
            continue;
        for (int r = 0; r < rounds; r++)
            for (int bands = 1; bands <= 4; bands++) {
                char step[256];
                tsr_image *in = random_input(ctx, bands);
                CHECK(in != NULL);
                if (in && random_step(candidates[c], step, sizeof step))
                    compare(ctx, in, step, need);
                tsr_image_free(in);
            }
    }
    tsr_ctx_free(ctx);
}

/* Chains of 2..5 random ops, some with kernels and some without. */
static void test_mixed_chains(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    int iterations = getenv("TSR_ITERATIONS") ? atoi(getenv("TSR_ITERATIONS")) * 10 : 40;
    for (int it = 0; it < iterations; it++) {
        char text[2048] = "";
        int n = 2 + (int)rnd(4), have = 0;
        for (int k = 0; k < n; k++) {
            char step[256];
            if (!random_step(candidates[rnd(N_CANDIDATES)], step, sizeof step))
                continue;
            if (have++)
                strcat(text, "|");
            strcat(text, step);
        }
        tsr_image *in = random_input(ctx, 1 + (int)rnd(4));
        if (in && have)
            compare(ctx, in, text, 0);
        tsr_image_free(in);
    }
    tsr_ctx_free(ctx);
}

int main(void) {
    if (!cl_harness_begin(&rng_state))
        return 1;
    RUN(test_each_kernel);
    RUN(test_mixed_chains);
    return cl_harness_end();
}
