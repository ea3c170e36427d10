/* Shared by the tests that compare runs (tiling, backends): a seeded
 * random generator, one random step per op with parameters in range, the
 * op names that take part, a real-photo input window and byte comparison.
 * Static functions: include it in one test file per program. */
#ifndef TESSERA_TEST_RANDOM_STEPS_H
#define TESSERA_TEST_RANDOM_STEPS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tessera/tessera.h"

static unsigned long long rng_state = 0x9e3779b97f4a7c15ull;

static unsigned rnd(unsigned n) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (unsigned)(rng_state % n);
}

static double rndf(double lo, double hi) {
    return lo + (hi - lo) * (double)rnd(10001) / 10000.0;
}

/* Writes one random step for op `name` into buf; 0 when the op is unknown. */
static int random_step(const char *name, char *buf, size_t size) {
    if (!tsr_op_find(name))
        return 0;
    static const char *const axes[] = {"horizontal", "vertical", "both"};
    static const char *const interps[] = {"linear", "area", "lanczos"};
    if (!strcmp(name, "brightness"))
        snprintf(buf, size, "brightness:delta=%d", (int)rnd(201) - 100);
    else if (!strcmp(name, "contrast"))
        snprintf(buf, size, "contrast:factor=%.2f", rndf(0.2, 3));
    else if (!strcmp(name, "gamma"))
        snprintf(buf, size, "gamma:gamma=%.2f", rndf(0.3, 3));
    else if (!strcmp(name, "threshold"))
        snprintf(buf, size, "threshold:value=%d", (int)rnd(256));
    else if (!strcmp(name, "gaussian-blur")) {
        int by_sigma = (int)rnd(2);
        double v = rnd(2) ? rndf(0.3, 4) : (double)(1 + 2 * rnd(6));
        if (by_sigma)
            snprintf(buf, size, "gaussian-blur:sigma=%.2f", v);
        else /* odd: the parser refuses an even ksize */
            snprintf(buf, size, "gaussian-blur:ksize=%d", (int)v | 1);
    } else if (!strcmp(name, "box-blur"))
        snprintf(buf, size, "box-blur:ksize=%d", 1 + 2 * (int)rnd(5));
    else if (!strcmp(name, "median"))
        snprintf(buf, size, "median:ksize=%d", rnd(2) ? 3 : 5);
    else if (!strcmp(name, "convolve"))
        snprintf(buf, size, "convolve:kernel=%d %d %d %d %d %d %d %d %d", (int)rnd(5) - 2,
                 (int)rnd(5) - 2, (int)rnd(5) - 2, (int)rnd(5) - 2, (int)rnd(9) + 1,
                 (int)rnd(5) - 2, (int)rnd(5) - 2, (int)rnd(5) - 2, (int)rnd(5) - 2);
    else if (!strcmp(name, "canny"))
        snprintf(buf, size, "canny:low=%d,high=%d", (int)rnd(100), 100 + (int)rnd(200));
    else if (!strcmp(name, "hough-lines"))
        snprintf(buf, size, "hough-lines:threshold=%d,mode=%s", 20 + (int)rnd(60),
                 rnd(2) ? "draw" : "data");
    else if (!strcmp(name, "rotate"))
        snprintf(buf, size, "rotate:angle=%.1f,expand=%s", rndf(-180, 180),
                 rnd(2) ? "true" : "false");
    else if (!strcmp(name, "flip"))
        snprintf(buf, size, "flip:axis=%s", axes[rnd(3)]);
    else if (!strcmp(name, "resize"))
        snprintf(buf, size, "resize:scale=%.3f,interp=%s", rndf(0.6, 1.6), interps[rnd(3)]);
    else if (!strcmp(name, "crop"))
        snprintf(buf, size, "crop:x=%d,y=%d,width=%d,height=%d", (int)rnd(10), (int)rnd(10),
                 40 + (int)rnd(30), 40 + (int)rnd(30));
    else if (!strcmp(name, "thumbnail"))
        snprintf(buf, size, "thumbnail:width=%d", 40 + (int)rnd(80));
    else
        snprintf(buf, size, "%s", name);
    return 1;
}

static const char *const candidates[] = {
    "grayscale", "invert",         "brightness",    "contrast",    "gamma",  "threshold",
    "equalize",  "threshold-otsu", "gaussian-blur", "box-blur",    "median", "sharpen",
    "convolve",  "sobel",          "canny",         "hough-lines", "rotate", "rotate90",
    "rotate180", "rotate270",      "flip",          "resize",      "crop",   "thumbnail",
};
#define N_CANDIDATES (int)(sizeof candidates / sizeof candidates[0])

/* A w x h window at (x0, y0) of the 512x512 astronaut photo with `bands`
 * bands (alpha, where there is one, a ramp). */
static tsr_image *load_window(tsr_ctx *ctx, int bands, int w, int h, int x0, int y0) {
    char path[512];
    snprintf(path, sizeof path, "%s/astronaut.png", check_data_dir());
    tsr_image *full = NULL, *img = NULL;
    if (tsr_image_load(ctx, path, NULL, &full, NULL))
        return NULL;
    if (x0 + w > full->width || y0 + h > full->height || tsr_image_new(ctx, w, h, bands, &img)) {
        tsr_image_free(full);
        return NULL;
    }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const uint8_t *s = full->data + (size_t)(y + y0) * full->stride + (size_t)(x + x0) * 3;
            uint8_t *d = img->data + (size_t)y * img->stride + (size_t)x * (size_t)bands;
            for (int b = 0; b < bands; b++)
                d[b] = b < 3 ? s[bands < 3 ? 1 : b] : (uint8_t)(x * 2 + y);
        }
    tsr_image_free(full);
    return img;
}

/* A 97x83 window off the origin keeps tiles uneven. */
__attribute__((unused)) static tsr_image *load_input(tsr_ctx *ctx, int bands) {
    return load_window(ctx, bands, 97, 83, 180, 200);
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

#endif
