/*
 * The edge family on OpenCL gives the CPU's bytes: canny (canny-nms and
 * canny-hysteresis, its map and its apply) through the engine with and
 * without the device on photos and noise of 1..4 bands, many threshold
 * pairs, thin and tiny images, tiles 16, 64, 100 and whole; chains around
 * canny; and canny-hysteresis's device map (the summary partial's bytes)
 * and apply against the CPU's on random candidate maps and long spirals;
 * hough-lines (votes, drawing) after canny and on photos.
 * TSR_SEED, TSR_ITERATIONS.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cl_harness.h"
#include "engine/accel.h"
#include "ops/edge/edge.h"
#include "ops/edge/edge_test_util.h"
#include "tessera/tessera.h"

#include "random_steps.h"

static const int tiles[] = {16, 64, 100, -1}; /* -1: the whole image */
#define N_TILES (int)(sizeof tiles / sizeof tiles[0])

/* A w x h image of uniform noise. */
static tsr_image *noise_image(tsr_ctx *ctx, int w, int h, int bands) {
    tsr_image *img = NULL;
    if (tsr_image_new(ctx, w, h, bands, &img))
        return NULL;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w * bands; x++)
            img->data[(size_t)y * img->stride + (size_t)x] = (uint8_t)rnd(256);
    return img;
}

/* A w x h window at (x0, y0) of photo `name` (tests/data) with `bands`
 * bands: gray (green), gray + alpha ramp, RGB, RGB + alpha ramp. */
static tsr_image *photo_window(tsr_ctx *ctx, const char *name, int bands, int x0, int y0, int w,
                               int h) {
    tsr_image *full = edge_load(ctx, name), *img = NULL;
    if (!full)
        return NULL;
    w = x0 + w > full->width ? full->width - x0 : w;
    h = y0 + h > full->height ? full->height - y0 : h;
    if (full->bands >= 3 && w > 0 && h > 0 && !tsr_image_new(ctx, w, h, bands, &img))
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                const uint8_t *s = full->data + (size_t)(y + y0) * full->stride +
                                   (size_t)(x + x0) * (size_t)full->bands;
                uint8_t *d = img->data + (size_t)y * img->stride + (size_t)x * (size_t)bands;
                for (int b = 0; b < bands; b++)
                    d[b] = b < 3 ? s[bands < 3 ? 1 : b] : (uint8_t)(x * 3 + y);
            }
    tsr_image_free(full);
    return img;
}

/* Plans and runs `p` on `in` with `opts`; the output in *out and what the
 * ops found (tsr_plan_results_json) in *results. */
static tsr_status run_plan(tsr_ctx *ctx, const tsr_pipeline *p, const tsr_image *in,
                           const tsr_run_options *opts, tsr_image **out, char **results) {
    tsr_plan *plan = NULL;
    *results = NULL;
    tsr_status st = tsr_plan_new(ctx, p, in->width, in->height, in->bands, opts->tile_size, &plan);
    if (!st)
        st = tsr_plan_run(ctx, plan, in, pool, opts, out);
    if (!st)
        *results = tsr_plan_results_json(plan);
    tsr_plan_free(plan);
    return st;
}

/* Runs `text` on `in` on the CPU and on the device with tile `tile`;
 * checks equal bytes and results (hough-lines' lines), no fallback and,
 * where `tiles_min` / `maps_min` say, that many device tiles and maps at
 * least. */
static void compare(tsr_ctx *ctx, const tsr_image *in, const char *text, int tile, int tiles_min,
                    int maps_min) {
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
    char *ra = NULL, *rb = NULL;
    CHECK_EQ_INT(run_plan(ctx, p, in, &cpu, &a, &ra), TSR_OK);
    tsr_cl_stats before, after;
    tsr_cl_backend_stats(backend, &before);
    CHECK_EQ_INT(run_plan(ctx, p, in, &dev, &b, &rb), TSR_OK);
    tsr_cl_backend_stats(backend, &after);
    CHECK_EQ_INT(after.fallbacks, before.fallbacks);
    if (after.tiles - before.tiles < (uint64_t)tiles_min ||
        after.maps - before.maps < (uint64_t)maps_min) {
        fprintf(stderr, "'%s' %dx%dx%d tile %d: %d device tiles, %d maps\n", text, in->width,
                in->height, in->bands, tile, (int)(after.tiles - before.tiles),
                (int)(after.maps - before.maps));
        CHECK(0);
    }
    if (!a || !b || !same_image(a, b) || !ra || !rb || strcmp(ra, rb)) {
        fprintf(stderr, "OpenCL differs from the CPU: '%s' %dx%dx%d tile %d\n", text, in->width,
                in->height, in->bands, tile);
        CHECK(0);
    }
    n_compared++;
    free(ra);
    free(rb);
    tsr_image_free(a);
    tsr_image_free(b);
    tsr_pipeline_free(p);
}

/* canny alone: both stages on the device, so at least two tiles (one per
 * stage) and one map. */
static void compare_canny(tsr_ctx *ctx, const tsr_image *in, double low, double high, int tile) {
    char text[128];
    snprintf(text, sizeof text, "canny:low=%g,high=%g", low, high);
    compare(ctx, in, text, tile, 2, 1);
}

static const double pairs[][2] = {
    {0, 0},   {10, 40},   {100, 200}, {200, 100},  {50.7, 120.2}, {0, 10000},
    {30, 31}, {150, 151}, {300, 900}, {999, 1000}, {2040, 2041},  {75.5, 75.9},
};
#define N_PAIRS (int)(sizeof pairs / sizeof pairs[0])

/* Photos of 1..4 bands, every threshold pair, every tile size. */
static void test_photos(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    static const char *const photos[] = {"astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg",
                                         "hubble_deep_field.jpg"};
    for (int p = 0; p < 5; p++)
        for (int bands = 1; bands <= 4; bands++) {
            tsr_image *in = photo_window(ctx, photos[p], bands, 13 + 7 * p, 29, 257, 190);
            CHECK(in != NULL);
            for (int t = 0; in && t < N_PAIRS; t++)
                compare_canny(ctx, in, pairs[t][0], pairs[t][1], tiles[(t + p + bands) % N_TILES]);
            tsr_image_free(in);
        }
    tsr_ctx_free(ctx);
}

/* A whole photo at every tile size. */
static void test_whole_photo(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_image *in = photo_window(ctx, "astronaut.png", 3, 0, 0, 512, 512);
    CHECK(in != NULL);
    for (int t = 0; in && t < N_TILES; t++)
        compare_canny(ctx, in, 40, 110, tiles[t]);
    tsr_image_free(in);
    tsr_ctx_free(ctx);
}

/* Noise and tiny or thin shapes (1x1, single rows and columns, sizes around
 * the 64-px block) of 1..4 bands. */
static void test_noise_and_thin(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    static const int sizes[][2] = {{1, 1},   {1, 2},   {2, 1},   {2, 2},   {3, 3},    {1, 300},
                                   {300, 1}, {2, 150}, {150, 2}, {63, 65}, {64, 64},  {65, 63},
                                   {65, 1},  {1, 65},  {128, 5}, {7, 129}, {129, 130}};
    int rounds = getenv("TSR_ITERATIONS") ? atoi(getenv("TSR_ITERATIONS")) : 3;
    for (int s = 0; s < (int)(sizeof sizes / sizeof sizes[0]); s++)
        for (int bands = 1; bands <= 4; bands++)
            for (int r = 0; r < rounds; r++) {
                tsr_image *in = noise_image(ctx, sizes[s][0], sizes[s][1], bands);
                CHECK(in != NULL);
                const double *t = pairs[rnd(N_PAIRS)];
                if (in)
                    compare_canny(ctx, in, fmin(t[0] * rndf(0.5, 4), 10000),
                                  fmin(t[1] * rndf(0.5, 4), 10000), tiles[rnd(N_TILES)]);
                tsr_image_free(in);
            }
    tsr_ctx_free(ctx);
}

/* canny with other ops before and after it (a stage on the device needs
 * every op of it to have a kernel; the bytes must match either way). */
static void test_chains(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    static const struct {
        const char *text;
        int tiles_min; /* device tiles at least: 0 where no stage has every kernel */
    } chains[] = {
        {"invert|canny:low=20,high=60", 2},
        {"canny:low=20,high=60|invert", 2},
        {"brightness:delta=30|canny:low=50,high=90|invert", 2},
        {"gaussian-blur:sigma=1.5|canny:low=10,high=30", 1},
        {"canny:low=10,high=30|gaussian-blur:sigma=1", 1},
        {"canny:low=30,high=80|canny:low=0,high=0", 3},
        {"median:ksize=3|canny|box-blur:ksize=3", 0},
        {"canny:low=5,high=20|hough-lines:threshold=30,mode=draw", 3},
        {"canny:low=5,high=20|hough-lines:threshold=30,mode=data|invert", 3},
    };
    for (int bands = 1; bands <= 4; bands++) {
        tsr_image *in = photo_window(ctx, "coffee.png", bands, 90, 41, 213, 167);
        CHECK(in != NULL);
        for (int c = 0; in && c < (int)(sizeof chains / sizeof chains[0]); c++)
            compare(ctx, in, chains[c].text, tiles[(c + bands) % N_TILES], chains[c].tiles_min, 1);
        tsr_image_free(in);
    }
    tsr_ctx_free(ctx);
}

/* Random canny steps on random photo windows and noise (random_steps.h). */
static void test_random_steps(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    int rounds = getenv("TSR_ITERATIONS") ? atoi(getenv("TSR_ITERATIONS")) : 3;
    for (int r = 0; r < 4 * rounds; r++) {
        int bands = 1 + (int)rnd(4), w = 1 + (int)rnd(300), h = 1 + (int)rnd(300);
        tsr_image *in = rnd(2) ? noise_image(ctx, w, h, bands)
                               : load_window(ctx, bands, w, h, (int)rnd((unsigned)(512 - w)),
                                             (int)rnd((unsigned)(512 - h)));
        char step[256];
        CHECK(in != NULL);
        if (in && random_step("canny", step, sizeof step))
            compare(ctx, in, step, tiles[rnd(N_TILES)], 2, 1);
        tsr_image_free(in);
    }
    tsr_ctx_free(ctx);
}

/* A w x h candidate map: strong at strong_pm per mille, weak at weak_pm,
 * and now and then a value that is no candidate (3, 255). */
static tsr_image *random_map(tsr_ctx *ctx, int w, int h, int strong_pm, int weak_pm) {
    tsr_image *img = NULL;
    if (tsr_image_new(ctx, w, h, 1, &img))
        return NULL;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            unsigned r = rnd(1000);
            uint8_t v = r < (unsigned)strong_pm
                            ? CANNY_STRONG
                            : (r < (unsigned)(strong_pm + weak_pm) ? CANNY_WEAK : CANNY_NONE);
            if (r == 999)
                v = rnd(2) ? 3 : 255;
            img->data[(size_t)y * img->stride + (size_t)x] = v;
        }
    return img;
}

/* Square spirals of weak pixels (arms 2 px apart) across many blocks, with
 * a strong pixel at the centre of one and the far end of another. */
static tsr_image *spiral_map(tsr_ctx *ctx, int w, int h) {
    tsr_image *img = NULL;
    if (tsr_image_new(ctx, w, h, 1, &img))
        return NULL;
    memset(img->data, 0, (size_t)h * img->stride);
    static const int dx[4] = {1, 0, -1, 0}, dy[4] = {0, 1, 0, -1};
    for (int s = 0; s < 2; s++) {
        int x = w / 4 + s * w / 2, y = h / 2;
        img->data[(size_t)y * img->stride + (size_t)x] = s ? CANNY_WEAK : CANNY_STRONG;
        for (int arm = 0; arm < 2 * (w < h ? w : h) / 4 - 2; arm++)
            for (int k = 0; k < 2 * (arm / 2 + 1); k++) {
                x += dx[arm % 4], y += dy[arm % 4];
                if (x >= 0 && y >= 0 && x < w && y < h)
                    img->data[(size_t)y * img->stride + (size_t)x] = CANNY_WEAK;
            }
        if (s && x >= 0 && y >= 0 && x < w && y < h)
            img->data[(size_t)y * img->stride + (size_t)x] = CANNY_STRONG;
    }
    return img;
}

/* Map tiles of side `tile` (0: whole) of `cand` by the CPU and by the
 * device into partials starting with the same bytes (zeros, or noise:
 * canny-hysteresis's map() writes its blocks' words and nothing else);
 * equal partials. */
static void compare_map(tsr_ctx *ctx, const tsr_op *op, const tsr_image *cand, int tile,
                        int noisy) {
    const tsr_accel *accel = tsr_cl_backend_accel(backend);
    size_t size = op->desc->summary_size(op);
    uint8_t *cpu = calloc(1, size), *dev = calloc(1, size);
    for (size_t i = 0; noisy && cpu && dev && i < size; i++)
        cpu[i] = dev[i] = (uint8_t)rnd(256);
    int tw = tile > 0 ? tile : cand->width, th = tile > 0 ? tile : cand->height;
    for (int y = 0; cpu && dev && y < cand->height; y += th)
        for (int x = 0; x < cand->width; x += tw) {
            tsr_rect r = tsr_rect_intersect(tsr_rect_make(x, y, tw, th),
                                            tsr_rect_make(0, 0, cand->width, cand->height));
            tsr_region reg;
            tsr_image *part = edge_tight_copy(ctx, cand, r, &reg);
            CHECK(part != NULL);
            if (!part)
                continue;
            op->desc->map(op, &reg, cpu);
            CHECK(accel->vt->supports_map(accel, op));
            CHECK_EQ_INT(accel->vt->map(accel, op, &reg, dev), TSR_OK);
            tsr_image_free(part);
        }
    if (!cpu || !dev || memcmp(cpu, dev, size)) {
        fprintf(stderr, "device map differs: %dx%d map tile %d%s\n", cand->width, cand->height,
                tile, noisy ? " (noisy partial)" : "");
        CHECK(0);
    }
    n_compared++;
    free(cpu);
    free(dev);
}

/* canny-hysteresis's apply over tw x th tiles of `cand` (after the CPU's
 * reduction in `op`) by the CPU and by the device (one-op stage tiles, each
 * input a tight copy of need(tile)); equal bytes. */
static void compare_apply(tsr_ctx *ctx, const tsr_op *op, const tsr_image *cand, int tw, int th) {
    const tsr_accel *accel = tsr_cl_backend_accel(backend);
    tsr_image *ref = edge_op_apply(ctx, op, cand, tw, th), *got = NULL;
    CHECK(ref != NULL);
    CHECK(accel->vt->supports(accel, op, 1));
    if (tw <= 0 || th <= 0)
        tw = cand->width, th = cand->height;
    if (ref && !tsr_image_new(ctx, cand->width, cand->height, 1, &got))
        for (int y = 0; y < cand->height; y += th)
            for (int x = 0; x < cand->width; x += tw) {
                tsr_rect rects[2];
                rects[1] = tsr_rect_intersect(tsr_rect_make(x, y, tw, th),
                                              tsr_rect_make(0, 0, cand->width, cand->height));
                rects[0] = op->desc->need(op, rects[1]);
                tsr_region in;
                tsr_image *part = edge_tight_copy(ctx, cand, rects[0], &in);
                tsr_region out = tsr_image_region(got, rects[1]);
                CHECK(part != NULL);
                if (part)
                    CHECK_EQ_INT(accel->vt->run_tile(accel, op, 1, rects, &in, &out), TSR_OK);
                tsr_image_free(part);
            }
    if (!edge_same_image(ref, got)) {
        fprintf(stderr, "device apply differs: %dx%d apply tile %dx%d\n", cand->width, cand->height,
                tw, th);
        CHECK(0);
    }
    n_compared++;
    tsr_image_free(ref);
    tsr_image_free(got);
}

/* The device map and apply on candidate map `cand` over several tilings. */
static void check_hysteresis(tsr_ctx *ctx, const tsr_image *cand) {
    static const int map_tiles[] = {0, 64, 128, 320};
    static const int apply_tiles[][2] = {{0, 0}, {16, 16}, {37, 23}, {64, 64}, {5, 300}, {100, 1}};
    tsr_op op;
    CHECK_EQ_INT(edge_op_prepare(ctx, &tsr_op_canny_hysteresis, &op, cand->width, cand->height, 1),
                 TSR_OK);
    for (int m = 0; m < 4; m++)
        compare_map(ctx, &op, cand, map_tiles[m], m & 1);
    CHECK_EQ_INT(edge_op_reduce(ctx, &op, cand, 64, 2), TSR_OK);
    for (int a = 0; a < 6; a++)
        compare_apply(ctx, &op, cand, apply_tiles[a][0], apply_tiles[a][1]);
    edge_op_free(&op);
}

/* Random maps below, near and above the percolation density (components
 * across many blocks), at sizes around the block size and thin shapes. */
static void test_hysteresis_maps(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    static const int sizes[][2] = {{1, 1},   {1, 200},  {200, 1},  {63, 63},  {64, 64},
                                   {65, 65}, {129, 70}, {70, 129}, {300, 257}};
    static const int density[][2] = {{3, 200}, {3, 400}, {3, 560}, {0, 600}, {100, 700}};
    for (int s = 0; s < (int)(sizeof sizes / sizeof sizes[0]); s++)
        for (int d = 0; d < 5; d++) {
            tsr_image *cand =
                random_map(ctx, sizes[s][0], sizes[s][1], density[d][0], density[d][1]);
            CHECK(cand != NULL);
            if (cand)
                check_hysteresis(ctx, cand);
            tsr_image_free(cand);
        }
    tsr_ctx_free(ctx);
}

/* Spirals: the longest chains a block can hold, the union-find's worst case. */
static void test_hysteresis_spirals(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_image *cand = spiral_map(ctx, 700, 300);
    CHECK(cand != NULL);
    if (cand)
        check_hysteresis(ctx, cand);
    tsr_image_free(cand);
    tsr_ctx_free(ctx);
}

/* hough-lines after canny and straight on photos (nearly every pixel
 * votes), both modes, several rho, theta and max_lines. */
static void test_hough_pipelines(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    static const char *const steps[] = {
        "hough-lines:threshold=40,mode=draw",
        "hough-lines:threshold=25,rho=0.5,theta=0.5,mode=data",
        "hough-lines:threshold=60,rho=2.7,theta=3.3,max_lines=5,mode=draw",
        "hough-lines:threshold=3,rho=0.1,theta=7,max_lines=1000,mode=draw",
        "hough-lines:threshold=90,rho=13,theta=0.25,mode=data",
    };
    for (int bands = 1; bands <= 4; bands++) {
        tsr_image *in = photo_window(ctx, "rocket.jpg", bands, 50, 70, 230, 170);
        CHECK(in != NULL);
        for (int k = 0; in && k < 5; k++) {
            char text[256];
            snprintf(text, sizeof text, "canny:low=%d,high=%d|%s", 20 + 10 * k, 60 + 20 * k,
                     steps[k]);
            compare(ctx, in, text, tiles[(k + bands) % N_TILES], 3, 2);
        }
        if (in)
            compare(ctx, in, steps[bands % 5], tiles[bands % N_TILES], 1, 1);
        tsr_image_free(in);
    }
    tsr_ctx_free(ctx);
}

/* hough-lines prepared for w x h x bands with `rho` and `theta`. */
static tsr_status hough_prepare(tsr_ctx *ctx, tsr_op *op, int w, int h, int bands, double rho,
                                double theta) {
    memset(op, 0, sizeof *op);
    op->desc = &tsr_op_hough_lines;
    for (int i = 0; i < op->desc->n_params; i++)
        op->values[i] = op->desc->params[i].def;
    op->values[tsr_op_param_index(op->desc, "rho")] = rho;
    op->values[tsr_op_param_index(op->desc, "theta")] = theta;
    op->in_w = w;
    op->in_h = h;
    op->in_bands = bands;
    return op->desc->prepare(ctx, op);
}

/* The device's hough-lines votes (the accumulator partial) against the
 * CPU's: sparse noise (band 0 nonzero at 5 %) and a photo window, tiny,
 * thin and larger sizes, several rho and theta, map tiles 64, 128, whole. */
static void test_hough_votes(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    static const int sizes[][2] = {{1, 1}, {1, 300}, {300, 1}, {65, 64}, {257, 190}};
    static const double steps[][2] = {{1, 1}, {0.5, 0.5}, {2.7, 3.3}, {0.1, 7}, {13, 0.25}};
    static const int map_tiles[] = {0, 64, 128};
    for (int s = 0; s < 5; s++)
        for (int bands = 1; bands <= 4; bands++) {
            int w = sizes[s][0], h = sizes[s][1];
            tsr_image *in = s == 4 && bands > 2
                                ? photo_window(ctx, "chelsea.png", bands, 20, 10, w, h)
                                : noise_image(ctx, w, h, bands);
            for (int y = 0; in && in->bands == bands && !(s == 4 && bands > 2) && y < h; y++)
                for (int x = 0; x < w; x++)
                    in->data[(size_t)y * in->stride + (size_t)x * (size_t)bands] =
                        rnd(100) < 5 ? (uint8_t)(1 + rnd(255)) : 0;
            const double *st = steps[(s + bands) % 5];
            tsr_op op;
            CHECK(in != NULL);
            if (in && !hough_prepare(ctx, &op, in->width, in->height, bands, st[0], st[1]))
                for (int m = 0; m < 3; m++)
                    compare_map(ctx, &op, in, map_tiles[m], 0);
            if (in)
                op.desc->release(&op);
            tsr_image_free(in);
        }
    tsr_ctx_free(ctx);
}

int main(void) {
    if (!cl_harness_begin(&rng_state))
        return 1;
    RUN(test_hysteresis_maps);
    RUN(test_hysteresis_spirals);
    RUN(test_photos);
    RUN(test_whole_photo);
    RUN(test_noise_and_thin);
    RUN(test_chains);
    RUN(test_random_steps);
    RUN(test_hough_pipelines);
    RUN(test_hough_votes);
    return cl_harness_end();
}
