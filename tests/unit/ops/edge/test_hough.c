/* hough-lines: votes summed over tiles equal the whole image's, the lines of
 * a synthetic image, drawing, and the accumulator limit. */
#include <math.h>
#include <stdio.h>

#include "check.h"
#include "edge_test_util.h"
#include "ops/edge/edge.h"

/* Votes of `img` into a fresh zeroed partial, tile by tile (0 = whole). */
static int32_t *votes(const tsr_op *op, const tsr_image *img, int tw, int th) {
    size_t n = op->desc->summary_size(op);
    int32_t *acc = calloc(n, 1);
    if (!acc)
        return NULL;
    if (tw <= 0 || th <= 0)
        tw = img->width, th = img->height;
    for (int y = 0; y < img->height; y += th)
        for (int x = 0; x < img->width; x += tw) {
            tsr_rect r = tsr_rect_intersect(tsr_rect_make(x, y, tw, th),
                                            tsr_rect_make(0, 0, img->width, img->height));
            tsr_region in = tsr_image_region(img, r);
            op->desc->map(op, &in, acc);
        }
    return acc;
}

/* 200 x 150: a full vertical line at x = 50 (150 pixels) and a full
 * horizontal one at y = 100 (200 pixels). */
static tsr_image *two_lines(tsr_ctx *ctx) {
    tsr_image *img = NULL;
    if (tsr_image_new(ctx, 200, 150, 1, &img))
        return NULL;
    for (int y = 0; y < 150; y++)
        img->data[(size_t)y * img->stride + 50] = 255;
    memset(img->data + 100 * img->stride, 255, 200);
    return img;
}

static void test_map_tiling(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_image *img = edge_load(ctx, "coffee.png");
    CHECK(img != NULL);
    if (!img) {
        tsr_ctx_free(ctx);
        return;
    }
    /* Band 0 of the photo thresholded by its nonzero test: plenty of votes. */
    for (int y = 0; y < img->height; y++)
        for (int x = 0; x < img->width; x++) {
            uint8_t *p = img->data + (size_t)y * img->stride + (size_t)x * 3;
            p[0] = p[0] > 200 ? p[0] : 0;
        }
    tsr_op op;
    CHECK_EQ_INT(edge_op_prepare(ctx, &tsr_op_hough_lines, &op, img->width, img->height, 3),
                 TSR_OK);
    size_t n = op.desc->summary_size(&op);
    int32_t *whole = votes(&op, img, 0, 0);
    int32_t *tiled = votes(&op, img, 16, 16);
    int32_t *odd = votes(&op, img, 37, 23);
    CHECK(whole && tiled && odd);
    if (whole && tiled && odd) {
        CHECK(memcmp(whole, tiled, n) == 0);
        CHECK(memcmp(whole, odd, n) == 0);
        /* merge() of two halves equals the whole. */
        int32_t *half = calloc(n, 1), *other = calloc(n, 1);
        tsr_region top = tsr_image_region(img, tsr_rect_make(0, 0, img->width, 100));
        tsr_region bottom =
            tsr_image_region(img, tsr_rect_make(0, 100, img->width, img->height - 100));
        op.desc->map(&op, &top, half);
        op.desc->map(&op, &bottom, other);
        op.desc->merge(&op, half, other);
        CHECK(memcmp(whole, half, n) == 0);
        free(half);
        free(other);
    }
    free(whole);
    free(tiled);
    free(odd);
    op.desc->release(&op);
    tsr_image_free(img);
    tsr_ctx_free(ctx);
}

static void test_two_lines(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_image *img = two_lines(ctx);
    tsr_op op;
    CHECK_EQ_INT(edge_op_prepare(ctx, &tsr_op_hough_lines, &op, 200, 150, 1), TSR_OK);
    op.values[0] = 100; /* threshold */
    int32_t *acc = votes(&op, img, 16, 16);
    op.summary = acc;
    CHECK_EQ_INT(op.desc->finalize(ctx, &op, img), TSR_OK);
    char *json = op.desc->describe(&op);
    CHECK_STR_CONTAINS(json, "\"lines\":[");
    /* Strongest first: the horizontal line (theta = 90 degrees, 200 votes),
     * then the vertical one (theta = 0, rho = 50, 150 votes). */
    CHECK_STR_CONTAINS(json, "{\"rho\":100,\"theta\":1.57079637,\"votes\":200}");
    CHECK_STR_CONTAINS(json, "{\"rho\":50,\"theta\":0,\"votes\":150}");
    CHECK(json && strstr(json, "\"votes\":200") < strstr(json, "\"votes\":150"));
    free(json);

    /* Drawing: the same bytes whole and tiled; red on the lines only. */
    tsr_image *whole = edge_op_apply(ctx, &op, img, 0, 0);
    tsr_image *tiled = edge_op_apply(ctx, &op, img, 16, 16);
    tsr_image *odd = edge_op_apply(ctx, &op, img, 37, 23);
    CHECK(whole != NULL);
    CHECK(edge_same_image(whole, tiled));
    CHECK(edge_same_image(whole, odd));
    if (whole) {
        CHECK_EQ_INT(whole->bands, 3);
        const uint8_t *p = whole->data + 10 * whole->stride + 50 * 3;
        CHECK(p[0] == 255 && p[1] == 0 && p[2] == 0);
        p = whole->data + 100 * whole->stride + 150 * 3;
        CHECK(p[0] == 255 && p[1] == 0 && p[2] == 0);
        p = whole->data + 10 * whole->stride + 51 * 3;
        CHECK(p[0] == 0 && p[1] == 0 && p[2] == 0);
        p = whole->data + 101 * whole->stride + 150 * 3;
        CHECK(p[0] == 0 && p[1] == 0 && p[2] == 0);
    }
    tsr_image_free(whole);
    tsr_image_free(tiled);
    tsr_image_free(odd);
    op.desc->release(&op);
    free(acc);
    tsr_image_free(img);
    tsr_ctx_free(ctx);
}

/* mode=data passes the input through unchanged (same bands). */
static void test_data_mode(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_image *img = edge_load(ctx, "astronaut.png");
    CHECK(img != NULL);
    if (img) {
        tsr_op op;
        CHECK_EQ_INT(
            edge_op_prepare(ctx, &tsr_op_hough_lines, &op, img->width, img->height, img->bands),
            TSR_OK);
        op.values[4] = 1; /* mode = data */
        op.desc->release(&op);
        CHECK_EQ_INT(op.desc->prepare(ctx, &op), TSR_OK);
        CHECK_EQ_INT(op.out_bands, img->bands);
        tsr_image *out = edge_op_apply(ctx, &op, img, 37, 23);
        CHECK(edge_same_image(img, out));
        tsr_image_free(out);
        op.desc->release(&op);
    }
    tsr_image_free(img);
    tsr_ctx_free(ctx);
}

/* A fine accumulator on a huge image is refused with a message. */
static void test_limit(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_op op;
    memset(&op, 0, sizeof op);
    op.desc = &tsr_op_hough_lines;
    for (int i = 0; i < op.desc->n_params; i++)
        op.values[i] = op.desc->params[i].def;
    op.values[1] = 0.1;  /* rho */
    op.values[2] = 0.01; /* theta */
    op.in_w = op.in_h = 60000;
    op.in_bands = 1;
    CHECK_EQ_INT(op.desc->prepare(ctx, &op), TSR_ERR_LIMIT);
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "hough-lines");
    CHECK(op.state == NULL);
    tsr_ctx_free(ctx);
}

int main(void) {
    RUN(test_map_tiling);
    RUN(test_two_lines);
    RUN(test_data_mode);
    RUN(test_limit);
    return check_finish();
}
