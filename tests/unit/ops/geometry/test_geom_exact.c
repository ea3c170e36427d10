/* Geometry ops: exact pixel moves, output sizes, parameter errors and a few
 * values computed by OpenCV 4.6 (cv2.resize, cv2.warpAffine). */
#include <stdio.h>

#include "check.h"
#include "geom_util.h"
#include "ops/geometry/geometry.h"

/* A w x h image with distinct pixels: bands hold x, y and x ^ y. */
static tsr_image *pattern(tsr_ctx *ctx, int w, int h, int bands) {
    tsr_image *img = NULL;
    if (tsr_image_new(ctx, w, h, bands, &img))
        return NULL;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int b = 0; b < bands; b++) {
                int v = b == 0 ? x : (b == 1 ? y : (x ^ y) + b);
                img->data[(size_t)y * img->stride + (size_t)x * bands + b] = (uint8_t)v;
            }
    return img;
}

static const uint8_t *px(const tsr_image *img, int x, int y) {
    return img->data + (size_t)y * img->stride + (size_t)x * img->bands;
}

/* Runs `desc` with `params` on `img`; NULL (and the message) on failure. */
static tsr_image *apply(tsr_ctx *ctx, const tsr_op_desc *desc, const char *params,
                        const tsr_image *img) {
    tsr_op op = geom_op(desc, params);
    tsr_image *out = NULL;
    if (geom_prepare(ctx, &op, img) == TSR_OK && geom_run_whole(ctx, &op, img, &out) != TSR_OK) {
        tsr_image_free(out);
        out = NULL;
    }
    geom_release(&op);
    return out;
}

/* Whether out(x, y) == in(fx(x, y), fy(x, y)) for every pixel. */
static bool moved(const tsr_image *in, const tsr_image *out, int kind) {
    int w = in->width, h = in->height;
    for (int y = 0; y < out->height; y++)
        for (int x = 0; x < out->width; x++) {
            int sx = x, sy = y;
            switch (kind) {
            case 90:
                sx = y, sy = h - 1 - x;
                break;
            case 180:
                sx = w - 1 - x, sy = h - 1 - y;
                break;
            case 270:
                sx = w - 1 - y, sy = x;
                break;
            case 1:
                sx = w - 1 - x;
                break;
            case 0:
                sy = h - 1 - y;
                break;
            case -1:
                sx = w - 1 - x, sy = h - 1 - y;
                break;
            }
            if (memcmp(px(out, x, y), px(in, sx, sy), (size_t)in->bands) != 0)
                return false;
        }
    return true;
}

static void test_quarter_turns_and_flips(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_image *img = pattern(ctx, 37, 23, 3);
    struct {
        const tsr_op_desc *d;
        const char *p;
        int kind, w, h;
    } cases[] = {
        {&tsr_op_rotate90, NULL, 90, 23, 37},       {&tsr_op_rotate180, NULL, 180, 37, 23},
        {&tsr_op_rotate270, NULL, 270, 23, 37},     {&tsr_op_flip, "axis=horizontal", 1, 37, 23},
        {&tsr_op_flip, "axis=vertical", 0, 37, 23}, {&tsr_op_flip, "axis=both", -1, 37, 23},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tsr_image *out = apply(ctx, cases[i].d, cases[i].p, img);
        CHECK(out != NULL);
        if (!out)
            continue;
        CHECK_EQ_INT(out->width, cases[i].w);
        CHECK_EQ_INT(out->height, cases[i].h);
        CHECK(moved(img, out, cases[i].kind));
        tsr_image_free(out);
    }
    /* rotate90 four times is the identity; rotate:angle=0 too. */
    tsr_image *a = apply(ctx, &tsr_op_rotate90, NULL, img);
    for (int i = 0; i < 3 && a; i++) {
        tsr_image *b = apply(ctx, &tsr_op_rotate90, NULL, a);
        tsr_image_free(a);
        a = b;
    }
    CHECK(a && geom_same(a, img));
    tsr_image_free(a);
    tsr_image *r0 = apply(ctx, &tsr_op_rotate, "angle=0", img);
    CHECK(r0 && geom_same(r0, img));
    tsr_image_free(r0);
    tsr_image_free(img);
    tsr_ctx_free(ctx);
}

/* Output size of `desc` with `params` for a w x h input; -1 x -1 on error. */
static void size_of(const tsr_op_desc *desc, const char *params, int w, int h, int *ow, int *oh) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_op op = geom_op(desc, params);
    op.in_w = w, op.in_h = h, op.in_bands = 3;
    *ow = *oh = -1;
    if (desc->prepare(ctx, &op) == TSR_OK)
        *ow = op.out_w, *oh = op.out_h;
    geom_release(&op);
    tsr_ctx_free(ctx);
}

static void test_sizes(void) {
    int w, h;
    size_of(&tsr_op_resize, "scale=0.5", 451, 300, &w, &h); /* cvRound: 225.5 -> 226 */
    CHECK_EQ_INT(w, 226);
    CHECK_EQ_INT(h, 150);
    size_of(&tsr_op_resize, "scale=0.37", 512, 512, &w, &h);
    CHECK_EQ_INT(w, 189);
    size_of(&tsr_op_resize, "width=100", 400, 300, &w, &h);
    CHECK_EQ_INT(w, 100);
    CHECK_EQ_INT(h, 75);
    size_of(&tsr_op_resize, "height=100", 451, 300, &w, &h);
    CHECK_EQ_INT(w, 150);
    CHECK_EQ_INT(h, 100);
    size_of(&tsr_op_resize, "width=640,height=10", 451, 300, &w, &h);
    CHECK_EQ_INT(w, 640);
    CHECK_EQ_INT(h, 10);
    size_of(&tsr_op_thumbnail, "width=200", 600, 400, &w, &h);
    CHECK_EQ_INT(w, 200);
    CHECK_EQ_INT(h, 133);
    size_of(&tsr_op_thumbnail, "width=200,height=50", 600, 400, &w, &h);
    CHECK_EQ_INT(w, 75);
    CHECK_EQ_INT(h, 50);
    size_of(&tsr_op_thumbnail, "width=2000", 600, 400, &w, &h); /* never upscales */
    CHECK_EQ_INT(w, 600);
    CHECK_EQ_INT(h, 400);
    size_of(&tsr_op_thumbnail, "width=200", 75, 50, &w, &h); /* a shrunk-on-load input */
    CHECK_EQ_INT(w, 75);
    size_of(&tsr_op_rotate, "angle=30", 512, 300, &w, &h);
    CHECK_EQ_INT(w, 512);
    CHECK_EQ_INT(h, 300);
    size_of(&tsr_op_rotate, "angle=90,expand=1", 512, 300, &w, &h);
    CHECK_EQ_INT(w, 300);
    CHECK_EQ_INT(h, 512);
    size_of(&tsr_op_rotate, "angle=30,expand=1", 512, 300, &w, &h); /* round(300 s + 512 c) */
    CHECK_EQ_INT(w, 593);
    CHECK_EQ_INT(h, 516);
    size_of(&tsr_op_crop, "x=10,y=20", 100, 50, &w, &h);
    CHECK_EQ_INT(w, 90);
    CHECK_EQ_INT(h, 30);
}

/* The error message of preparing `desc` with `params` on a w x h input. */
static void check_error(const tsr_op_desc *desc, const char *params, int w, int h,
                        const char *needle) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_op op = geom_op(desc, params);
    op.in_w = w, op.in_h = h, op.in_bands = 3;
    CHECK(desc->prepare(ctx, &op) == TSR_ERR_USAGE);
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), needle);
    geom_release(&op);
    tsr_ctx_free(ctx);
}

static void test_errors(void) {
    check_error(&tsr_op_crop, "x=100", 100, 50, "crop: x=100");
    check_error(&tsr_op_crop, "x=10,width=91", 100, 50, "100x50");
    check_error(&tsr_op_crop, "y=40,height=11", 100, 50, "height=11");
    check_error(&tsr_op_resize, NULL, 100, 50, "either scale or width");
    check_error(&tsr_op_resize, "scale=2,width=10", 100, 50, "not both");
    check_error(&tsr_op_resize, "scale=0.001", 100, 50, "scale gives a 0x0 output");
}

/* Values from OpenCV 4.6 on tiny images. */
static void test_opencv_values(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_image *row = NULL, *sq = NULL;
    CHECK(tsr_image_new(ctx, 4, 1, 1, &row) == TSR_OK);
    const uint8_t ramp[4] = {0, 100, 200, 255};
    memcpy(row->data, ramp, 4);
    struct {
        const char *p;
        int n;
        uint8_t want[7];
    } rs[] = {
        {"width=6,height=1", 6, {0, 50, 117, 183, 228, 255}},
        {"width=3,height=1,interp=area", 3, {25, 150, 241}},
        {"width=7,height=1,interp=lanczos", 7, {0, 26, 91, 155, 206, 242, 255}},
    };
    for (size_t i = 0; i < 3; i++) {
        tsr_image *out = apply(ctx, &tsr_op_resize, rs[i].p, row);
        CHECK(out && out->width == rs[i].n && memcmp(out->data, rs[i].want, (size_t)rs[i].n) == 0);
        tsr_image_free(out);
    }
    /* cv2.warpAffine(b, cv2.getRotationMatrix2D((2.5, 2.5), 30, 1), (5, 5)),
     * b = 10 * arange(25).reshape(5, 5) */
    CHECK(tsr_image_new(ctx, 5, 5, 1, &sq) == TSR_OK);
    for (int i = 0; i < 25; i++)
        sq->data[(i / 5) * sq->stride + (size_t)(i % 5)] = (uint8_t)(10 * i);
    const uint8_t want[25] = {1,   14,  38, 57,  0,   10,  41,  75, 109, 60,  47,  80, 114,
                              148, 169, 85, 119, 153, 186, 220, 76, 158, 191, 208, 101};
    tsr_image *rot = apply(ctx, &tsr_op_rotate, "angle=30", sq);
    CHECK(rot != NULL);
    for (int i = 0; rot && i < 25; i++)
        CHECK_EQ_INT(rot->data[(i / 5) * rot->stride + (size_t)(i % 5)], want[i]);
    tsr_image_free(rot);
    tsr_image_free(sq);
    tsr_image_free(row);
    tsr_ctx_free(ctx);
}

int main(void) {
    RUN(test_quarter_turns_and_flips);
    RUN(test_sizes);
    RUN(test_errors);
    RUN(test_opencv_values);
    return check_finish();
}
