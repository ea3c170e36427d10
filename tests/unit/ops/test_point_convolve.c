/* Point, convolve and global-histogram ops driven directly through
 * prepare/need/run (and map/merge/finalize): tiling invariance on real
 * photos, borders on tiny images against naive references, parameters. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ops/convolve/convolve.h"
#include "ops/global/global.h"
#include "ops/point/point.h"
#include "tessera/codec.h"

static tsr_ctx *ctx;

/* An op with every parameter at its default. */
static tsr_op make_op(const tsr_op_desc *desc) {
    tsr_op op;
    memset(&op, 0, sizeof op);
    op.desc = desc;
    for (int i = 0; i < desc->n_params; i++)
        op.values[i] = desc->params[i].def;
    return op;
}

static void set(tsr_op *op, const char *name, double v) {
    int i = tsr_op_param_index(op->desc, name);
    CHECK(i >= 0);
    if (i < 0)
        return;
    op->values[i] = v;
    op->given[i] = true;
}

static void set_kernel(tsr_op *op, int size, const double *values) {
    op->kernel.size = size;
    memcpy(op->kernel.values, values, sizeof(double) * (size_t)(size * size));
    op->given[tsr_op_param_index(op->desc, "kernel")] = true;
}

static tsr_status prepare(tsr_op *op, const tsr_image *img) {
    op->in_w = img->width;
    op->in_h = img->height;
    op->in_bands = img->bands;
    tsr_ctx_reset(ctx);
    return op->desc->prepare(ctx, op);
}

static void release(tsr_op *op) {
    if (op->desc->release)
        op->desc->release(op);
    free(op->summary);
    op->summary = NULL;
}

/* Runs a prepared op over `img` in tiles of tw x th (the whole image when 0)
 * the way the planner does; GLOBAL ops map per tile, merge, finalize first.
 * The caller frees the result. */
static tsr_image *run_tiled(tsr_op *op, const tsr_image *img, int tw, int th) {
    tsr_image *out = NULL;
    if (tw <= 0 || th <= 0) {
        tw = img->width;
        th = img->height;
    }
    if (op->desc->kind == TSR_OP_GLOBAL) {
        size_t n = op->desc->summary_size(op);
        void *partial = malloc(n);
        free(op->summary);
        op->summary = calloc(1, n);
        for (int y = 0; y < img->height; y += th)
            for (int x = 0; x < img->width; x += tw) {
                tsr_rect r = tsr_rect_intersect(tsr_rect_make(x, y, tw, th),
                                                tsr_rect_make(0, 0, img->width, img->height));
                tsr_region in = tsr_image_region(img, r);
                memset(partial, 0, n);
                op->desc->map(op, &in, partial);
                op->desc->merge(op, op->summary, partial);
            }
        free(partial);
        CHECK_EQ_INT(op->desc->finalize(ctx, op, img), TSR_OK);
    }
    if (tsr_image_new(ctx, op->out_w, op->out_h, op->out_bands, &out) != TSR_OK)
        return NULL;
    for (int y = 0; y < out->height; y += th)
        for (int x = 0; x < out->width; x += tw) {
            tsr_rect r = tsr_rect_intersect(tsr_rect_make(x, y, tw, th),
                                            tsr_rect_make(0, 0, out->width, out->height));
            tsr_rect need = op->desc->need ? op->desc->need(op, r) : tsr_op_need_radius(op, r);
            tsr_region in = tsr_image_region(img, need);
            tsr_region o = tsr_image_region(out, r);
            tsr_status st = op->desc->run(op, &in, &o);
            CHECK_EQ_INT(st, TSR_OK);
            if (st)
                goto fail;
        }
    return out;
fail:
    tsr_image_free(out);
    return NULL;
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

static tsr_image *load(const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", check_data_dir(), name);
    tsr_image *img = NULL;
    CHECK_EQ_INT(tsr_image_load(ctx, path, NULL, &img, NULL), TSR_OK);
    return img;
}

/* A copy of `src` with `bands` bands: gray from band 0, alpha a pattern. */
static tsr_image *with_bands(const tsr_image *src, int bands) {
    tsr_image *img = NULL;
    if (tsr_image_new(ctx, src->width, src->height, bands, &img) != TSR_OK)
        return NULL;
    for (int y = 0; y < src->height; y++)
        for (int x = 0; x < src->width; x++) {
            const uint8_t *s = src->data + (size_t)y * src->stride + (size_t)x * src->bands;
            uint8_t *d = img->data + (size_t)y * img->stride + (size_t)x * bands;
            int colour = bands >= 3 ? 3 : 1;
            for (int c = 0; c < colour; c++)
                d[c] = s[c < src->bands ? c : 0];
            if (bands == 2 || bands == 4)
                d[bands - 1] = (uint8_t)((x * 7 + y * 13) % 251);
        }
    return img;
}

/* A w x h image of pseudo-random bytes. */
static tsr_image *noise(int w, int h, int bands, unsigned seed) {
    tsr_image *img = NULL;
    if (tsr_image_new(ctx, w, h, bands, &img) != TSR_OK)
        return NULL;
    for (size_t i = 0; i < (size_t)w * (size_t)h * (size_t)bands; i++) {
        seed = seed * 1103515245u + 12345u;
        img->data[i] = (uint8_t)(seed >> 16);
    }
    return img;
}

typedef struct op_case {
    const tsr_op_desc *desc; /* the op */
    const char *p1;          /* a parameter to set, or NULL */
    double v1;               /* its value */
    const char *p2;          /* a second one, or NULL */
    double v2;               /* its value */
    int kernel;              /* convolve: 3 = sharpen-like 3x3, 5 = 5x5 ramp, 9 = real 9x9 */
} op_case;

static const op_case cases[] = {
    {&tsr_op_grayscale, NULL, 0, NULL, 0, 0},
    {&tsr_op_invert, NULL, 0, NULL, 0, 0},
    {&tsr_op_brightness, "delta", -70, NULL, 0, 0},
    {&tsr_op_contrast, "factor", 2.5, NULL, 0, 0},
    {&tsr_op_gamma, "gamma", 0.45, NULL, 0, 0},
    {&tsr_op_threshold, "value", 100, NULL, 0, 0},
    {&tsr_op_gaussian_blur, NULL, 0, NULL, 0, 0},
    {&tsr_op_gaussian_blur, "sigma", 2, NULL, 0, 0},
    {&tsr_op_gaussian_blur, "sigma", 0.7, "ksize", 21, 0},
    {&tsr_op_box_blur, "ksize", 5, NULL, 0, 0},
    {&tsr_op_box_blur, "ksize", 31, NULL, 0, 0},
    {&tsr_op_median, "ksize", 3, NULL, 0, 0},
    {&tsr_op_median, "ksize", 5, NULL, 0, 0},
    {&tsr_op_sharpen, NULL, 0, NULL, 0, 0},
    {&tsr_op_convolve, NULL, 0, NULL, 0, 3},
    {&tsr_op_convolve, "offset", 10.5, NULL, 0, 5},
    {&tsr_op_convolve, "divisor", 3.3, NULL, 0, 9},
    {&tsr_op_sobel, "direction", 0, NULL, 0, 0},
    {&tsr_op_sobel, NULL, 0, NULL, 0, 0},
    {&tsr_op_equalize, NULL, 0, NULL, 0, 0},
    {&tsr_op_threshold_otsu, NULL, 0, NULL, 0, 0},
};
#define N_CASES (int)(sizeof cases / sizeof cases[0])

static tsr_op case_op(const op_case *c) {
    tsr_op op = make_op(c->desc);
    if (c->p1)
        set(&op, c->p1, c->v1);
    if (c->p2)
        set(&op, c->p2, c->v2);
    double k[81];
    if (c->kernel == 3) {
        const double sharp[9] = {0, -1, 0, -1, 5, -1, 0, -1, 0};
        set_kernel(&op, 3, sharp);
    } else if (c->kernel) {
        for (int i = 0; i < c->kernel * c->kernel; i++)
            k[i] = c->kernel == 5 ? i - 12 : 0.1 * ((i * 37) % 11) - 0.3;
        set_kernel(&op, c->kernel, k);
    }
    return op;
}

/* Every case gives the same bytes whole and in 16x16, 37x23 and 64x7 tiles,
 * on a photo in 1, 2, 3 and 4 bands. */
static void test_tiling_invariance(void) {
    tsr_image *photo = load("chelsea.png");
    if (!photo)
        return;
    const int tiles[][2] = {{16, 16}, {37, 23}, {64, 7}};
    for (int bands = 1; bands <= 4; bands++) {
        tsr_image *img = bands == 3 ? photo : with_bands(photo, bands);
        for (int i = 0; i < N_CASES; i++) {
            tsr_op op = case_op(&cases[i]);
            CHECK_EQ_INT(prepare(&op, img), TSR_OK);
            tsr_image *whole = run_tiled(&op, img, 0, 0);
            for (int t = 0; t < 3; t++) {
                tsr_image *tiled = run_tiled(&op, img, tiles[t][0], tiles[t][1]);
                if (!same_image(whole, tiled)) {
                    fprintf(stderr, "  %s (case %d) differs in %dx%d tiles on %d bands\n",
                            op.desc->name, i, tiles[t][0], tiles[t][1], bands);
                    CHECK(0);
                }
                tsr_image_free(tiled);
            }
            /* alpha is never touched */
            if (whole && (bands == 2 || bands == 4) && op.out_bands == bands)
                for (int p = 0; p < img->width * img->height; p++)
                    if (whole->data[p * bands + bands - 1] != img->data[p * bands + bands - 1]) {
                        fprintf(stderr, "  %s changed alpha\n", op.desc->name);
                        CHECK(0);
                        break;
                    }
            tsr_image_free(whole);
            release(&op);
        }
        if (img != photo)
            tsr_image_free(img);
    }
    tsr_image_free(photo);
}

/* Naive reference: sum over the window of weight(u, v) * pixel(border(...)). */
static int64_t window_sum(const tsr_image *img, int x, int y, int b, int r, const int64_t *w2d,
                          border_mode mode) {
    int64_t s = 0;
    for (int u = -r; u <= r; u++)
        for (int v = -r; v <= r; v++) {
            int sy = border_index(y + u, img->height, mode),
                sx = border_index(x + v, img->width, mode);
            s += w2d[(u + r) * (2 * r + 1) + (v + r)] *
                 img->data[(size_t)sy * img->stride + (size_t)sx * img->bands + (size_t)b];
        }
    return s;
}

/* Gaussian, box, sharpen and sobel on images smaller than the kernel (1x1,
 * 1xN, Nx1, 2x3) match a direct per-pixel computation with reflect-101. */
static void test_tiny_images_against_naive(void) {
    const int shapes[][2] = {{1, 1}, {1, 9}, {9, 1}, {2, 3}, {5, 4}, {17, 3}};
    for (int s = 0; s < 6; s++) {
        tsr_image *img = noise(shapes[s][0], shapes[s][1], 3, (unsigned)s + 1);
        /* gaussian ksize 9 (fixed table) and 15 (computed) */
        for (int k = 9; k <= 15; k += 6) {
            tsr_op op = make_op(&tsr_op_gaussian_blur);
            set(&op, "ksize", k);
            CHECK_EQ_INT(prepare(&op, img), TSR_OK);
            const sep_kernel *sk = op.state;
            int64_t w2d[15 * 15];
            for (int u = 0; u < k; u++)
                for (int v = 0; v < k; v++)
                    w2d[u * k + v] = (int64_t)sk->taps[u] * sk->taps[v];
            tsr_image *got = run_tiled(&op, img, 16, 16);
            for (int y = 0; got && y < img->height; y++)
                for (int x = 0; x < img->width; x++)
                    for (int b = 0; b < 3; b++) {
                        int64_t want =
                            (window_sum(img, x, y, b, k / 2, w2d, BORDER_REFLECT101) + 32768) >> 16;
                        CHECK_EQ_INT(got->data[(size_t)y * got->stride + (size_t)x * 3 + b], want);
                    }
            tsr_image_free(got);
            release(&op);
        }
        /* sharpen and the Sobel x derivative */
        {
            tsr_op sh = make_op(&tsr_op_sharpen), so = make_op(&tsr_op_sobel);
            set(&so, "direction", 0);
            CHECK_EQ_INT(prepare(&sh, img), TSR_OK);
            CHECK_EQ_INT(prepare(&so, img), TSR_OK);
            const int64_t ks[9] = {0, -1, 0, -1, 5, -1, 0, -1, 0},
                          kx[9] = {-1, 0, 1, -2, 0, 2, -1, 0, 1};
            tsr_image *a = run_tiled(&sh, img, 16, 16), *c = run_tiled(&so, img, 16, 16);
            for (int y = 0; a && c && y < img->height; y++)
                for (int x = 0; x < img->width; x++)
                    for (int b = 0; b < 3; b++) {
                        size_t at = (size_t)y * a->stride + (size_t)x * 3 + b;
                        int64_t vs = window_sum(img, x, y, b, 1, ks, BORDER_REFLECT101);
                        int64_t vx = window_sum(img, x, y, b, 1, kx, BORDER_REFLECT101);
                        CHECK_EQ_INT(a->data[at], vs < 0 ? 0 : vs > 255 ? 255 : vs);
                        vx = vx < 0 ? -vx : vx;
                        CHECK_EQ_INT(c->data[at], vx > 255 ? 255 : vx);
                    }
            tsr_image_free(a);
            tsr_image_free(c);
            release(&sh);
            release(&so);
        }
        /* box 7 on a constant image stays constant; median 5 (replicate) too */
        tsr_image *flat = noise(shapes[s][0], shapes[s][1], 1, 0);
        memset(flat->data, 77, (size_t)flat->width * (size_t)flat->height);
        const op_case flat_cases[] = {{&tsr_op_box_blur, "ksize", 7, NULL, 0, 0},
                                      {&tsr_op_box_blur, "ksize", 101, NULL, 0, 0},
                                      {&tsr_op_median, "ksize", 5, NULL, 0, 0},
                                      {&tsr_op_gaussian_blur, "sigma", 30, NULL, 0, 0}};
        for (int i = 0; i < 4; i++) {
            tsr_op op = case_op(&flat_cases[i]);
            CHECK_EQ_INT(prepare(&op, flat), TSR_OK);
            tsr_image *got = run_tiled(&op, flat, 16, 16);
            for (int p = 0; got && p < flat->width * flat->height; p++)
                CHECK_EQ_INT(got->data[p], 77);
            tsr_image_free(got);
            release(&op);
        }
        tsr_image_free(flat);
        tsr_image_free(img);
    }
}

/* Median with replicate borders against a direct computation. */
static void test_median_borders(void) {
    tsr_image *img = noise(7, 4, 1, 99);
    for (int k = 3; k <= 5; k += 2) {
        tsr_op op = make_op(&tsr_op_median);
        set(&op, "ksize", k);
        CHECK_EQ_INT(prepare(&op, img), TSR_OK);
        tsr_image *got = run_tiled(&op, img, 3, 2);
        for (int y = 0; got && y < img->height; y++)
            for (int x = 0; x < img->width; x++) {
                int hist[256] = {0}, r = k / 2, need = k * k / 2 + 1, v = 0;
                for (int u = -r; u <= r; u++)
                    for (int w = -r; w <= r; w++)
                        hist[img->data[tsr_clampi(y + u, 0, 3) * 7 + tsr_clampi(x + w, 0, 6)]]++;
                for (int seen = 0; (seen += hist[v]) < need; v++)
                    ;
                CHECK_EQ_INT(got->data[y * 7 + x], v);
            }
        tsr_image_free(got);
        release(&op);
    }
    tsr_image_free(img);
}

/* Lookup-table ops at the ends of their parameter ranges. */
static void test_point_parameters(void) {
    tsr_image *img = noise(256, 1, 1, 0);
    for (int v = 0; v < 256; v++)
        img->data[v] = (uint8_t)v;
    struct {
        const tsr_op_desc *desc;
        const char *param;
        double value;
        int at0, at100, at255; /* expected outputs for inputs 0, 100, 255 */
    } t[] = {
        {&tsr_op_brightness, "delta", 255, 255, 255, 255},
        {&tsr_op_brightness, "delta", -255, 0, 0, 0},
        {&tsr_op_threshold, "value", 0, 255, 255, 255},
        {&tsr_op_threshold, "value", 255, 0, 0, 255},
        {&tsr_op_threshold, "value", 100, 0, 255, 255},
        {&tsr_op_contrast, "factor", 1, 0, 100, 255},
        {&tsr_op_contrast, "factor", 0, 128, 128, 128},
        {&tsr_op_contrast, "factor", 10, 0, 0, 255},
        {&tsr_op_gamma, "gamma", 1, 0, 100, 255},
        {&tsr_op_gamma, "gamma", 2.2, 0, 167, 255},
        {&tsr_op_gamma, "gamma", 0.01, 0, 0, 255},
        {&tsr_op_invert, NULL, 0, 255, 155, 0},
        {&tsr_op_grayscale, NULL, 0, 0, 100, 255},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        tsr_op op = make_op(t[i].desc);
        if (t[i].param)
            set(&op, t[i].param, t[i].value);
        CHECK_EQ_INT(prepare(&op, img), TSR_OK);
        tsr_image *got = run_tiled(&op, img, 16, 1);
        if (got) {
            CHECK_EQ_INT(got->data[0], t[i].at0);
            CHECK_EQ_INT(got->data[100], t[i].at100);
            CHECK_EQ_INT(got->data[255], t[i].at255);
        }
        tsr_image_free(got);
        release(&op);
    }
    tsr_image_free(img);
}

/* grayscale: 3->1, 4->2 with alpha kept, the 15-bit weights of OpenCV 4.6. */
static void test_grayscale_bands(void) {
    tsr_image *img = noise(3, 2, 4, 5);
    tsr_op op = make_op(&tsr_op_grayscale);
    CHECK_EQ_INT(prepare(&op, img), TSR_OK);
    CHECK_EQ_INT(op.out_bands, 2);
    tsr_image *got = run_tiled(&op, img, 0, 0);
    for (int p = 0; got && p < 6; p++) {
        const uint8_t *s = img->data + p * 4;
        CHECK_EQ_INT(got->data[p * 2], (s[0] * 9798 + s[1] * 19235 + s[2] * 3735 + 16384) >> 15);
        CHECK_EQ_INT(got->data[p * 2 + 1], s[3]);
    }
    tsr_image_free(got);
    release(&op);
    tsr_image_free(img);
}

/* Cross-parameter rules of the stencils. */
static void test_stencil_parameters(void) {
    tsr_image *img = noise(8, 8, 3, 1);
    tsr_op op = make_op(&tsr_op_gaussian_blur);
    set(&op, "ksize", 4);
    CHECK_EQ_INT(prepare(&op, img), TSR_ERR_USAGE);
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "ksize");
    op = make_op(&tsr_op_gaussian_blur); /* ksize 0 and sigma 0: the 5x5 default */
    set(&op, "ksize", 0);
    CHECK_EQ_INT(prepare(&op, img), TSR_OK);
    CHECK_EQ_INT(op.radius, 2);
    release(&op);
    op = make_op(&tsr_op_gaussian_blur); /* an explicit ksize wins over sigma */
    set(&op, "sigma", 2);
    set(&op, "ksize", 5);
    CHECK_EQ_INT(prepare(&op, img), TSR_OK);
    CHECK_EQ_INT(op.radius, 2);
    release(&op);
    op = make_op(&tsr_op_gaussian_blur);
    set(&op, "sigma", 2); /* only sigma: ksize from sigma, 13 */
    CHECK_EQ_INT(prepare(&op, img), TSR_OK);
    CHECK_EQ_INT(op.radius, 6);
    release(&op);
    op = make_op(&tsr_op_gaussian_blur);
    set(&op, "sigma", 100);
    CHECK_EQ_INT(prepare(&op, img), TSR_OK);
    CHECK_EQ_INT(op.radius, 300);
    release(&op);
    op = make_op(&tsr_op_gaussian_blur); /* default: 5x5 1-4-6-4-1 */
    CHECK_EQ_INT(prepare(&op, img), TSR_OK);
    CHECK_EQ_INT(op.radius, 2);
    CHECK_EQ_INT(((const sep_kernel *)op.state)->taps[2], 96);
    release(&op);
    op = make_op(&tsr_op_box_blur);
    set(&op, "ksize", 8);
    CHECK_EQ_INT(prepare(&op, img), TSR_ERR_USAGE);
    op = make_op(&tsr_op_median);
    set(&op, "ksize", 4);
    CHECK_EQ_INT(prepare(&op, img), TSR_ERR_USAGE);
    op = make_op(&tsr_op_convolve); /* no kernel */
    CHECK_EQ_INT(prepare(&op, img), TSR_ERR_USAGE);
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "convolve: kernel");
    /* divisor 0 = kernel sum: a flat kernel of 3s on a flat image keeps it */
    double threes[9] = {3, 3, 3, 3, 3, 3, 3, 3, 3};
    memset(img->data, 50, 8 * 8 * 3);
    op = make_op(&tsr_op_convolve);
    set_kernel(&op, 3, threes);
    CHECK_EQ_INT(prepare(&op, img), TSR_OK);
    tsr_image *got = run_tiled(&op, img, 5, 5);
    CHECK(got && got->data[0] == 50 && got->data[100] == 50);
    tsr_image_free(got);
    release(&op);
    tsr_image_free(img);
}

/* equalize keeps a one-level image; otsu describes its level. */
static void test_global_edges(void) {
    tsr_image *img = noise(5, 5, 1, 1);
    memset(img->data, 42, 25);
    tsr_op op = make_op(&tsr_op_equalize);
    CHECK_EQ_INT(prepare(&op, img), TSR_OK);
    tsr_image *got = run_tiled(&op, img, 2, 2);
    CHECK(same_image(got, img));
    tsr_image_free(got);
    release(&op);
    for (int i = 0; i < 25; i++)
        img->data[i] = i < 10 ? 20 : 200;
    op = make_op(&tsr_op_threshold_otsu);
    CHECK_EQ_INT(prepare(&op, img), TSR_OK);
    got = run_tiled(&op, img, 3, 3);
    char *json = op.desc->describe(&op);
    CHECK_STR_CONTAINS(json, "{\"threshold\":20}");
    CHECK(got && got->data[0] == 0 && got->data[24] == 255);
    free(json);
    tsr_image_free(got);
    release(&op);
    tsr_image_free(img);
}

int main(void) {
    ctx = tsr_ctx_new();
    RUN(test_tiling_invariance);
    RUN(test_tiny_images_against_naive);
    RUN(test_median_borders);
    RUN(test_point_parameters);
    RUN(test_grayscale_bands);
    RUN(test_stencil_parameters);
    RUN(test_global_edges);
    tsr_ctx_free(ctx);
    return check_finish();
}
