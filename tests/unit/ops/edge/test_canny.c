/* canny: tiling invariance of both stages on real photos, and the edges of a
 * synthetic square (expected values from OpenCV 4.6 cv2.Canny). */
#include <stdio.h>

#include "check.h"
#include "edge_test_util.h"
#include "ops/edge/edge.h"

/* Candidate map then edges of `img`, with tiles tw x th for both stages. */
static tsr_image *canny_tiled(tsr_ctx *ctx, const tsr_image *img, double low, double high, int tw,
                              int th) {
    tsr_op nms, hyst;
    tsr_image *map = NULL, *edges = NULL;
    if (edge_op_prepare(ctx, &tsr_op_canny_nms, &nms, img->width, img->height, img->bands))
        return NULL;
    nms.values[0] = low;
    nms.values[1] = high;
    map = edge_op_apply(ctx, &nms, img, tw, th);
    if (!map)
        return NULL;
    /* Map tiles are 64-px aligned as the engine cuts them. */
    if (edge_op_prepare(ctx, &tsr_op_canny_hysteresis, &hyst, img->width, img->height, 1) ||
        edge_op_reduce(ctx, &hyst, map, tw > 0 ? (tw + 63) / 64 * 64 : 0, 2))
        goto out;
    edges = edge_op_apply(ctx, &hyst, map, tw, th);
out:
    edge_op_free(&hyst);
    tsr_image_free(map);
    return edges;
}

/* Band 0 of `img` as a 1-band image. */
static tsr_image *first_band(tsr_ctx *ctx, const tsr_image *img) {
    tsr_image *g = NULL;
    if (tsr_image_new(ctx, img->width, img->height, 1, &g))
        return NULL;
    for (int y = 0; y < img->height; y++)
        for (int x = 0; x < img->width; x++)
            g->data[(size_t)y * g->stride + (size_t)x] =
                img->data[(size_t)y * img->stride + (size_t)x * (size_t)img->bands];
    return g;
}

static void check_tiling(const char *name) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_image *img = edge_load(ctx, name);
    CHECK(img != NULL);
    if (!img) {
        tsr_ctx_free(ctx);
        return;
    }
    tsr_image *gray = first_band(ctx, img);
    const tsr_image *inputs[2] = {img, gray};
    static const int tiles[][2] = {{16, 16}, {37, 23}, {64, 7}, {5, 300}, {256, 256}};
    for (int k = 0; k < 2; k++) {
        tsr_image *whole = canny_tiled(ctx, inputs[k], 100, 200, 0, 0);
        CHECK(whole != NULL);
        int edges = 0;
        for (int y = 0; whole && y < whole->height; y++)
            for (int x = 0; x < whole->width; x++)
                edges += whole->data[(size_t)y * whole->stride + (size_t)x] == 255;
        CHECK(edges > 100);
        for (size_t t = 0; t < sizeof tiles / sizeof tiles[0]; t++) {
            tsr_image *tiled = canny_tiled(ctx, inputs[k], 100, 200, tiles[t][0], tiles[t][1]);
            if (!edge_same_image(whole, tiled))
                fprintf(stderr, "%s bands %d: tiles %dx%d differ from the whole image\n", name,
                        inputs[k]->bands, tiles[t][0], tiles[t][1]);
            CHECK(edge_same_image(whole, tiled));
            tsr_image_free(tiled);
        }
        tsr_image_free(whole);
    }
    tsr_image_free(gray);
    tsr_image_free(img);
    tsr_ctx_free(ctx);
}

static void test_tiling_astronaut(void) {
    check_tiling("astronaut.png");
}

static void test_tiling_coffee(void) {
    check_tiling("coffee.png");
}

static void test_tiling_hubble(void) {
    check_tiling("hubble_deep_field.jpg");
}

/* A white square [16, 48) on black: OpenCV marks 124 pixels, on columns and
 * rows 15..47 only (the black side of the left/top steps, the white side of
 * the right/bottom ones). */
static void test_square(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_image *img = NULL;
    CHECK_EQ_INT(tsr_image_new(ctx, 64, 64, 1, &img), TSR_OK);
    for (int y = 16; y < 48; y++)
        memset(img->data + (size_t)y * img->stride + 16, 255, 32);
    tsr_image *e = canny_tiled(ctx, img, 100, 200, 16, 16);
    CHECK(e != NULL);
    int count = 0, outside = 0;
    for (int y = 0; e && y < 64; y++)
        for (int x = 0; x < 64; x++)
            if (e->data[(size_t)y * e->stride + (size_t)x]) {
                count++;
                outside += x < 15 || x > 47 || y < 15 || y > 47;
            }
    CHECK_EQ_INT(count, 124);
    CHECK_EQ_INT(outside, 0);
#define AT(x, y) e->data[(size_t)(y)*e->stride + (size_t)(x)]
    if (e) {
        CHECK_EQ_INT(AT(15, 30), 255);
        CHECK_EQ_INT(AT(47, 30), 255);
        CHECK_EQ_INT(AT(30, 15), 255);
        CHECK_EQ_INT(AT(30, 47), 255);
        CHECK_EQ_INT(AT(16, 30), 0);
        CHECK_EQ_INT(AT(30, 30), 0);
        CHECK_EQ_INT(AT(15, 15), 0);
    }
#undef AT
    tsr_image_free(e);
    tsr_image_free(img);
    tsr_ctx_free(ctx);
}

/* A flat image has no edges; swapped thresholds act as OpenCV (low/high swap). */
static void test_flat_and_swap(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_image *img = NULL;
    CHECK_EQ_INT(tsr_image_new(ctx, 40, 30, 3, &img), TSR_OK);
    memset(img->data, 77, img->stride * 30);
    tsr_image *e = canny_tiled(ctx, img, 0, 0, 16, 16);
    int any = 0;
    for (int y = 0; e && y < 30; y++)
        for (int x = 0; x < 40; x++)
            any |= e->data[(size_t)y * e->stride + (size_t)x];
    CHECK(e != NULL);
    CHECK_EQ_INT(any, 0);
    tsr_image_free(e);
    tsr_image_free(img);
    tsr_image *photo = edge_load(ctx, "chelsea.png");
    CHECK(photo != NULL);
    if (photo) {
        tsr_image *a = canny_tiled(ctx, photo, 50, 150, 0, 0);
        tsr_image *b = canny_tiled(ctx, photo, 150, 50, 33, 33);
        CHECK(edge_same_image(a, b));
        tsr_image_free(a);
        tsr_image_free(b);
    }
    tsr_image_free(photo);
    tsr_ctx_free(ctx);
}

/* The hysteresis stage finalizes from its summary alone (no whole map), and
 * refuses a summary that map() did not fill. */
static void test_hysteresis_needs_summary(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_op op;
    CHECK_EQ_INT(edge_op_prepare(ctx, &tsr_op_canny_hysteresis, &op, 10, 10, 1), TSR_OK);
    CHECK_EQ_INT(op.desc->finalize(ctx, &op, NULL), TSR_ERR_INTERNAL);
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "canny-hysteresis");
    tsr_ctx_reset(ctx);
    op.summary = calloc(1, op.desc->summary_size(&op));
    CHECK_EQ_INT(op.desc->finalize(ctx, &op, NULL), TSR_ERR_INTERNAL);
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "missing from the summary");
    edge_op_free(&op);
    tsr_ctx_free(ctx);
}

int main(void) {
    RUN(test_tiling_astronaut);
    RUN(test_tiling_coffee);
    RUN(test_tiling_hubble);
    RUN(test_square);
    RUN(test_flat_and_swap);
    RUN(test_hysteresis_needs_summary);
    return check_finish();
}
