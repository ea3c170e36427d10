/* Geometry ops: the tiling invariant on real photos. Each op runs once as a
 * whole-image region and again as tiles (16x16, 37x23, 64x64, 5x3) whose
 * input regions are separate buffers of exactly need(tile) pixels, so a read
 * outside need() is caught by ASan in the sanitizer build and any tile
 * dependence shows as differing bytes. */
#include <stdio.h>

#include "check.h"
#include "geom_util.h"
#include "tessera/codec.h"
#include "ops/geometry/geometry.h"

typedef struct op_case {
    const tsr_op_desc *desc; /* the op */
    const char *params;      /* "a=1,b=2" or NULL */
} op_case;

static const int tiles[][2] = {{16, 16}, {37, 23}, {64, 64}, {5, 3}};

static tsr_image *load_photo(tsr_ctx *ctx, const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", check_data_dir(), name);
    tsr_image *img = NULL;
    if (tsr_image_load(ctx, path, NULL, &img, NULL) != TSR_OK)
        fprintf(stderr, "cannot load %s: %s\n", path, tsr_ctx_message(ctx));
    return img;
}

/* An RGBA copy of `img` (RGB) with a gradient alpha, for 4-band cases. */
static tsr_image *with_alpha(tsr_ctx *ctx, const tsr_image *img) {
    tsr_image *out = NULL;
    if (tsr_image_new(ctx, img->width, img->height, 4, &out))
        return NULL;
    for (int y = 0; y < img->height; y++)
        for (int x = 0; x < img->width; x++) {
            const uint8_t *s = img->data + (size_t)y * img->stride + (size_t)x * 3;
            uint8_t *d = out->data + (size_t)y * out->stride + (size_t)x * 4;
            d[0] = s[0], d[1] = s[1], d[2] = s[2], d[3] = (uint8_t)((x + y) & 255);
        }
    return out;
}

/* Whole vs tiled for one op on one image; counts a failure per mismatch. */
static void check_case(tsr_ctx *ctx, const op_case *c, const tsr_image *img) {
    tsr_op op = geom_op(c->desc, c->params);
    tsr_image *whole = NULL, *tiled = NULL;
    if (geom_prepare(ctx, &op, img) != TSR_OK) {
        fprintf(stderr, "%s:%s prepare: %s\n", c->desc->name, c->params, tsr_ctx_message(ctx));
        CHECK(0);
        return;
    }
    CHECK(geom_run_whole(ctx, &op, img, &whole) == TSR_OK);
    for (size_t t = 0; whole && t < sizeof tiles / sizeof tiles[0]; t++) {
        CHECK(tsr_image_new(ctx, op.out_w, op.out_h, op.out_bands, &tiled) == TSR_OK);
        CHECK_EQ_INT(geom_run_tiled(&op, img, tiled, tiles[t][0], tiles[t][1]), 0);
        if (!geom_same(whole, tiled)) {
            fprintf(stderr, "%s:%s differs with %dx%d tiles (%d bands)\n", c->desc->name,
                    c->params ? c->params : "", tiles[t][0], tiles[t][1], img->bands);
            CHECK(0);
        }
        tsr_image_free(tiled);
        tiled = NULL;
    }
    tsr_image_free(whole);
    geom_release(&op);
}

static const op_case cases[] = {
    {&tsr_op_rotate, "angle=30"},
    {&tsr_op_rotate, "angle=-17.5"},
    {&tsr_op_rotate, "angle=90"},
    {&tsr_op_rotate, "angle=45,expand=1"},
    {&tsr_op_rotate, "angle=200,expand=1"},
    {&tsr_op_rotate90, NULL},
    {&tsr_op_rotate180, NULL},
    {&tsr_op_rotate270, NULL},
    {&tsr_op_flip, "axis=horizontal"},
    {&tsr_op_flip, "axis=vertical"},
    {&tsr_op_flip, "axis=both"},
    {&tsr_op_resize, "scale=0.5"},
    {&tsr_op_resize, "scale=0.37"},
    {&tsr_op_resize, "scale=1.7"},
    {&tsr_op_resize, "width=300,height=211"},
    {&tsr_op_resize, "scale=0.37,interp=area"},
    {&tsr_op_resize, "scale=0.25,interp=area"},
    {&tsr_op_resize, "scale=1.3,interp=area"},
    {&tsr_op_resize, "scale=0.37,interp=lanczos"},
    {&tsr_op_resize, "scale=1.6,interp=lanczos"},
    {&tsr_op_resize, "scale=0.6,interp=cubic"},
    {&tsr_op_resize, "scale=0.7,interp=nearest"},
    {&tsr_op_crop, "x=13,y=29,width=200,height=111"},
    {&tsr_op_thumbnail, "width=150"},
};

static void test_tiling_rgb(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    const char *photos[] = {"astronaut.png", "coffee.png"};
    for (size_t p = 0; p < 2; p++) {
        tsr_image *img = load_photo(ctx, photos[p]);
        CHECK(img != NULL);
        for (size_t i = 0; img && i < sizeof cases / sizeof cases[0]; i++)
            check_case(ctx, &cases[i], img);
        tsr_image_free(img);
    }
    tsr_ctx_free(ctx);
}

static void test_tiling_rgba(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_image *img = load_photo(ctx, "chelsea.png");
    CHECK(img != NULL);
    tsr_image *rgba = img ? with_alpha(ctx, img) : NULL;
    CHECK(rgba != NULL);
    for (size_t i = 0; rgba && i < sizeof cases / sizeof cases[0]; i++)
        check_case(ctx, &cases[i], rgba);
    tsr_image_free(rgba);
    tsr_image_free(img);
    tsr_ctx_free(ctx);
}

int main(void) {
    RUN(test_tiling_rgb);
    RUN(test_tiling_rgba);
    return check_finish();
}
