/* Encode/decode round trips per format and band count, real photos,
 * 16-bit and palette PNGs, JPEG shrink-on-load, EXIF orientation, files. */
#include <spng.h>
#include <unistd.h>

#include "check.h"
#include "image/codecs/helpers.h"

/* Encodes and decodes `img`; returns the decoded image or NULL. */
static tsr_image *round_trip(const tsr_image *img, tsr_format f, const tsr_encode_options *o) {
    tsr_buffer buf = {0};
    tsr_image *out = NULL;
    tsr_image_info info;
    tsr_ctx *ctx = tsr_ctx_new();
    if (tsr_image_encode(ctx, img, f, o, &buf) ||
        tsr_image_decode(ctx, buf.data, buf.len, NULL, &out, &info))
        fprintf(stderr, "%s round trip: %s\n", tsr_format_name(f), tsr_ctx_message(ctx));
    else if (info.format != f)
        fprintf(stderr, "%s round trip detected as %s\n", tsr_format_name(f),
                tsr_format_name(info.format));
    tsr_buffer_free(&buf);
    tsr_ctx_free(ctx);
    return out;
}

/* Round trips chelsea in 1..4 bands through every format. `out_bands[b]`
 * is what b input bands decode to; lossy formats are checked by PSNR. */
static void check_format(tsr_format f, const int out_bands[5], double min_psnr,
                         const tsr_encode_options *o) {
    tsr_image *photo = load_data("chelsea.png");
    CHECK(photo != NULL);
    if (!photo)
        return;
    for (int b = 1; b <= 4; b++) {
        tsr_image *in = with_bands(photo, b);
        tsr_image *out = round_trip(in, f, o);
        tsr_image *want = convert(in, out_bands[b]);
        CHECK(out != NULL);
        if (out) {
            CHECK_EQ_INT(out->bands, out_bands[b]);
            CHECK_EQ_INT(out->width, in->width);
            CHECK_EQ_INT(out->height, in->height);
            if (min_psnr == 0 && !same_pixels(out, want)) {
                fprintf(stderr, "%s: %d bands differ after a lossless round trip\n",
                        tsr_format_name(f), b);
                CHECK(0);
            } else if (min_psnr > 0 && out->bands == want->bands) {
                double p = psnr(out, want, out->bands);
                if (p < min_psnr)
                    fprintf(stderr, "%s: %d bands: PSNR %.2f dB\n", tsr_format_name(f), b, p);
                CHECK(p >= min_psnr);
            }
        }
        tsr_image_free(in);
        tsr_image_free(out);
        tsr_image_free(want);
    }
    tsr_image_free(photo);
}

static void test_png(void) {
    static const int bands[5] = {0, 1, 2, 3, 4};
    tsr_encode_options o = {.compression = -1};
    check_format(TSR_FORMAT_PNG, bands, 0, &o);
    o.compression = 0;
    check_format(TSR_FORMAT_PNG, bands, 0, &o);
    o.compression = 9;
    check_format(TSR_FORMAT_PNG, bands, 0, &o);
    check_format(TSR_FORMAT_PNG, bands, 0, NULL);
}

static void test_tiff(void) {
    static const int bands[5] = {0, 1, 2, 3, 4};
    tsr_encode_options o = {.compression = -1};
    check_format(TSR_FORMAT_TIFF, bands, 0, &o);
    o.compression = 6;
    check_format(TSR_FORMAT_TIFF, bands, 0, &o);
}

static void test_bmp(void) {
    static const int bands[5] = {0, 1, 4, 3, 4};
    check_format(TSR_FORMAT_BMP, bands, 0, NULL);
}

static void test_pnm(void) {
    static const int bands[5] = {0, 1, 1, 3, 3};
    check_format(TSR_FORMAT_PNM, bands, 0, NULL);
}

static void test_jpeg(void) {
    static const int bands[5] = {0, 1, 1, 3, 3};
    check_format(TSR_FORMAT_JPEG, bands, 30, NULL);
    tsr_encode_options o = {.quality = 95, .compression = -1};
    check_format(TSR_FORMAT_JPEG, bands, 36, &o);
}

static void test_webp(void) {
    static const int bands[5] = {0, 3, 4, 3, 4};
    tsr_encode_options o = {.quality = 90, .compression = -1};
    check_format(TSR_FORMAT_WEBP, bands, 30, &o);
    o.lossless = true;
    check_format(TSR_FORMAT_WEBP, bands, 0, &o);
}

static void test_gif(void) {
    /* Gray survives exactly (the palette holds its <= 256 levels); colour
     * goes through giflib's median cut (PSNR on RGB); alpha becomes a
     * transparent index (alpha < 128), which decodes as RGBA 0,0,0,0. */
    tsr_image *photo = load_data("chelsea.png");
    tsr_image *gray = with_bands(photo, 1);
    tsr_image *out = round_trip(gray, TSR_FORMAT_GIF, NULL);
    tsr_image *want = convert(gray, 3);
    CHECK(out && same_pixels(out, want));
    tsr_image_free(out);
    tsr_image_free(want);
    for (int b = 1; b <= 4; b++) {
        tsr_image *in = with_bands(photo, b);
        tsr_image *rgb = convert(in, 3);
        out = round_trip(in, TSR_FORMAT_GIF, NULL);
        CHECK(out != NULL);
        if (out && in) {
            int alpha = b == 2 || b == 4;
            CHECK_EQ_INT(out->bands, alpha ? 4 : 3);
            size_t wrong = 0, opaque = 0;
            tsr_image *kept = convert(out, 3);
            for (int y = 0; y < in->height; y++)
                for (int x = 0; x < in->width; x++) {
                    uint8_t *o =
                        out->data + (size_t)y * out->stride + (size_t)x * (size_t)out->bands;
                    uint8_t *k = kept->data + (size_t)y * kept->stride + (size_t)x * 3;
                    uint8_t *r = rgb->data + (size_t)y * rgb->stride + (size_t)x * 3;
                    int a = alpha ? in->data[(size_t)y * in->stride + (size_t)x * b + b - 1] : 255;
                    if (alpha)
                        wrong +=
                            o[3] != (a >= 128 ? 255 : 0) || (a < 128 && (o[0] || o[1] || o[2]));
                    if (a >= 128)
                        opaque++;
                    else /* compare where visible: transparent pixels lose their colour */
                        memcpy(k, r, 3);
                }
            CHECK_EQ_INT((int)wrong, 0);
            double p = psnr(kept, rgb, 3);
            if (p < 25)
                fprintf(stderr, "gif: %d bands: PSNR %.2f dB over %zu visible pixels\n", b, p,
                        opaque);
            CHECK(p >= 25);
            tsr_image_free(kept);
        }
        tsr_image_free(in);
        tsr_image_free(rgb);
        tsr_image_free(out);
    }
    tsr_image_free(photo);
    tsr_image_free(gray);
}

static void test_real_photos(void) {
    static const struct {
        const char *name;
        int width, height, bands;
    } files[] = {
        {"astronaut.png", 512, 512, 3},
        {"coffee.png", 600, 400, 3},
        {"chelsea.png", 451, 300, 3},
        {"chelsea.gif", 451, 300, 3},
        {"anim.gif", 128, 128, 0},
        {"coffee.webp", 600, 400, 3},
        {"hubble_deep_field.jpg", 1000, 872, 3},
        {"rocket.jpg", 640, 427, 3},
        {"palette_color.png", 10, 10, 0},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        tsr_image *img = load_data(files[i].name);
        CHECK(img != NULL);
        if (!img)
            continue;
        CHECK_EQ_INT(img->width, files[i].width);
        CHECK_EQ_INT(img->height, files[i].height);
        if (files[i].bands)
            CHECK_EQ_INT(img->bands, files[i].bands);
        tsr_image_free(img);
    }
    /* The GIF is the PNG quantised to 256 colours: close, not equal. */
    tsr_image *png = load_data("chelsea.png"), *gif = load_data("chelsea.gif");
    CHECK(png && gif && psnr(png, gif, 3) > 25);
    tsr_image_free(png);
    tsr_image_free(gif);
}

/* Encodes a PNG with libspng directly (formats tessera does not write). */
static int spng_write(const struct spng_ihdr *ihdr, const void *pixels, size_t len,
                      const struct spng_plte *plte, const struct spng_trns *trns, tsr_buffer *out) {
    spng_ctx *enc = spng_ctx_new(SPNG_CTX_ENCODER);
    struct spng_ihdr h = *ihdr;
    int err = spng_set_option(enc, SPNG_ENCODE_TO_BUFFER, 1);
    if (!err)
        err = spng_set_ihdr(enc, &h);
    if (!err && plte)
        err = spng_set_plte(enc, (struct spng_plte *)plte);
    if (!err && trns)
        err = spng_set_trns(enc, (struct spng_trns *)trns);
    if (!err)
        err = spng_encode_image(enc, pixels, len, SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE);
    size_t n = 0;
    void *png = err ? NULL : spng_get_png_buffer(enc, &n, &err);
    if (png)
        tsr_buffer_append(out, png, n);
    free(png);
    spng_ctx_free(enc);
    return err || !png;
}

static void test_png_16bit(void) {
    enum { W = 37, H = 5 };
    for (int color = 0; color < 3; color++) {
        static const uint8_t types[3] = {SPNG_COLOR_TYPE_GRAYSCALE, SPNG_COLOR_TYPE_GRAYSCALE_ALPHA,
                                         SPNG_COLOR_TYPE_TRUECOLOR_ALPHA};
        static const int spp[3] = {1, 2, 4};
        int n = spp[color];
        uint16_t raw[W * H * 4]; /* libspng's encoder takes host-endian samples */
        for (int i = 0; i < W * H * n; i++)
            raw[i] = (uint16_t)(i * 4099u + 17u);
        struct spng_ihdr ihdr = {
            .width = W, .height = H, .bit_depth = 16, .color_type = types[color]};
        tsr_buffer png = {0};
        CHECK(spng_write(&ihdr, raw, (size_t)W * H * n * 2, NULL, NULL, &png) == 0);
        tsr_ctx *ctx = tsr_ctx_new();
        tsr_image *img = NULL;
        tsr_image_info info;
        CHECK_EQ_INT(tsr_image_decode(ctx, png.data, png.len, NULL, &img, &info), TSR_OK);
        CHECK_EQ_INT(info.bit_depth, 16);
        CHECK(img && img->bands == n);
        for (int i = 0; img && i < W * H * n; i++)
            if (img->data[i] != raw[i] >> 8) {
                fprintf(stderr, "16-bit sample %d: %d != %d\n", i, img->data[i], raw[i] >> 8);
                CHECK(0);
                break;
            }
        tsr_image_free(img);
        tsr_buffer_free(&png);
        tsr_ctx_free(ctx);
    }
    /* 16-bit RGB: libspng narrows it; the result must be the high byte too. */
    enum { N = W * H * 3 };
    uint16_t rgb[N];
    for (int i = 0; i < N; i++)
        rgb[i] = (uint16_t)(i * 7919u + 3u);
    struct spng_ihdr ihdr = {
        .width = W, .height = H, .bit_depth = 16, .color_type = SPNG_COLOR_TYPE_TRUECOLOR};
    tsr_buffer png = {0};
    CHECK(spng_write(&ihdr, rgb, sizeof rgb, NULL, NULL, &png) == 0);
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_image *img = NULL;
    CHECK_EQ_INT(tsr_image_decode(ctx, png.data, png.len, NULL, &img, NULL), TSR_OK);
    CHECK(img && img->bands == 3);
    int bad = 0;
    for (int i = 0; img && i < N; i++)
        bad += img->data[i] != rgb[i] >> 8;
    CHECK_EQ_INT(bad, 0);
    tsr_image_free(img);
    tsr_buffer_free(&png);
    tsr_ctx_free(ctx);
}

static void test_png_palette(void) {
    /* 2-bit palette, 4 colours, the last one half transparent. */
    struct spng_plte plte = {.n_entries = 4};
    static const uint8_t colors[4][3] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {9, 99, 199}};
    for (int i = 0; i < 4; i++) {
        plte.entries[i].red = colors[i][0];
        plte.entries[i].green = colors[i][1];
        plte.entries[i].blue = colors[i][2];
    }
    uint8_t rows[3][2] = {{0x1B, 0xE4}, {0x00, 0xFF}, {0x55, 0xAA}}; /* 8x3, 2 bits each */
    struct spng_ihdr ihdr = {
        .width = 8, .height = 3, .bit_depth = 2, .color_type = SPNG_COLOR_TYPE_INDEXED};
    for (int with_trns = 0; with_trns < 2; with_trns++) {
        struct spng_trns trns = {.n_type3_entries = 4, .type3_alpha = {255, 255, 255, 128}};
        tsr_buffer png = {0};
        CHECK(spng_write(&ihdr, rows, sizeof rows, &plte, with_trns ? &trns : NULL, &png) == 0);
        tsr_ctx *ctx = tsr_ctx_new();
        tsr_image *img = NULL;
        tsr_image_info info;
        CHECK_EQ_INT(tsr_image_decode(ctx, png.data, png.len, NULL, &img, &info), TSR_OK);
        CHECK_EQ_INT(info.bit_depth, 2);
        int bands = with_trns ? 4 : 3;
        CHECK(img && img->bands == bands && img->width == 8 && img->height == 3);
        for (int y = 0; img && y < 3; y++)
            for (int x = 0; x < 8; x++) {
                int idx = (rows[y][x / 4] >> (6 - 2 * (x % 4))) & 3;
                const uint8_t *px = img->data + (size_t)y * img->stride + (size_t)x * bands;
                CHECK(memcmp(px, colors[idx], 3) == 0);
                if (with_trns)
                    CHECK_EQ_INT(px[3], idx == 3 ? 128 : 255);
            }
        tsr_image_free(img);
        tsr_buffer_free(&png);
        tsr_ctx_free(ctx);
    }
}

static void test_gif_frames(void) {
    tsr_buffer buf;
    tsr_image_info info;
    tsr_image *img = NULL;
    tsr_ctx *ctx = tsr_ctx_new();
    CHECK(read_data("anim.gif", &buf) == 0);
    CHECK_EQ_INT(tsr_image_decode(ctx, buf.data, buf.len, NULL, &img, &info), TSR_OK);
    CHECK_EQ_INT(info.frames, 3);
    CHECK(img && img->width == 128 && img->height == 128);
    tsr_image_free(img);
    tsr_limits l = {.max_frames = 2};
    tsr_ctx_set_limits(ctx, &l);
    tsr_ctx_reset(ctx);
    CHECK_EQ_INT(tsr_image_decode(ctx, buf.data, buf.len, NULL, &img, &info), TSR_ERR_LIMIT);
    CHECK(img == NULL);
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "frames");
    tsr_buffer_free(&buf);
    tsr_ctx_free(ctx);
}

static void test_jpeg_shrink(void) {
    static const int sizes[4][3] = {{1, 640, 427}, {2, 320, 214}, {4, 160, 107}, {8, 80, 54}};
    tsr_buffer buf;
    CHECK(read_data("rocket.jpg", &buf) == 0);
    tsr_image *full = NULL;
    for (int i = 0; i < 4; i++) {
        tsr_ctx *ctx = tsr_ctx_new();
        tsr_decode_options o = {.shrink = sizes[i][0]};
        tsr_image *img = NULL;
        tsr_image_info info;
        CHECK_EQ_INT(tsr_image_decode(ctx, buf.data, buf.len, &o, &img, &info), TSR_OK);
        CHECK(img && img->width == sizes[i][1] && img->height == sizes[i][2]);
        CHECK_EQ_INT(info.width, 640); /* info keeps the stored size */
        if (i == 0)
            full = img;
        else
            tsr_image_free(img);
        tsr_ctx_free(ctx);
    }
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_decode_options bad = {.shrink = 3};
    tsr_image *img = NULL;
    CHECK_EQ_INT(tsr_image_decode(ctx, buf.data, buf.len, &bad, &img, NULL), TSR_ERR_USAGE);
    tsr_ctx_free(ctx);
    tsr_image_free(full);
    tsr_buffer_free(&buf);
}

/* Inserts an APP1 Exif segment with `orientation` right after SOI. */
static void add_exif(tsr_buffer *jpeg, int orientation, bool big_endian) {
    uint8_t le[] = {0xFF,
                    0xE1,
                    0,
                    34,
                    'E',
                    'x',
                    'i',
                    'f',
                    0,
                    0,
                    'I',
                    'I',
                    42,
                    0,
                    8,
                    0,
                    0,
                    0,
                    1,
                    0,
                    0x12,
                    0x01,
                    3,
                    0,
                    1,
                    0,
                    0,
                    0,
                    (uint8_t)orientation,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0};
    uint8_t be[] = {0xFF, 0xE1, 0, 34, 'E', 'x', 'i', 'f', 0, 0,
                    'M',  'M',  0, 42, 0,   0,   0,   8,   0, 1,
                    0x01, 0x12, 0, 3,  0,   0,   0,   1,   0, (uint8_t)orientation,
                    0,    0,    0, 0,  0,   0};
    const uint8_t *seg = big_endian ? be : le;
    tsr_buffer out = {0};
    tsr_buffer_append(&out, jpeg->data, 2);
    tsr_buffer_append(&out, seg, sizeof le);
    tsr_buffer_append(&out, jpeg->data + 2, jpeg->len - 2);
    tsr_buffer_free(jpeg);
    *jpeg = out;
}

static void test_exif_orientation(void) {
    /* 16x8: left half black, right half white. */
    tsr_image *img = NULL;
    tsr_image_new(NULL, 16, 8, 1, &img);
    for (int y = 0; y < 8; y++)
        memset(img->data + (size_t)y * img->stride + 8, 255, 8);
    for (int be = 0; be < 2; be++) {
        tsr_ctx *ctx = tsr_ctx_new();
        tsr_buffer jpeg = {0};
        tsr_encode_options o = {.quality = 95, .compression = -1};
        CHECK_EQ_INT(tsr_image_encode(ctx, img, TSR_FORMAT_JPEG, &o, &jpeg), TSR_OK);
        add_exif(&jpeg, 6, be);
        tsr_image *out = NULL;
        tsr_image_info info;
        CHECK_EQ_INT(tsr_image_decode(ctx, jpeg.data, jpeg.len, NULL, &out, &info), TSR_OK);
        CHECK_EQ_INT(info.orientation, 6);
        CHECK_EQ_INT(info.width, 16); /* stored size */
        /* Rotated 90 degrees clockwise: 8x16, the black half on top. */
        CHECK(out && out->width == 8 && out->height == 16);
        if (out) {
            CHECK(out->data[0] < 20 && out->data[7 * out->stride] < 20);
            CHECK(out->data[15 * out->stride + 7] > 235 && out->data[9 * out->stride] > 235);
        }
        tsr_image_free(out);
        tsr_decode_options keep = {.no_autorotate = true};
        CHECK_EQ_INT(tsr_image_decode(ctx, jpeg.data, jpeg.len, &keep, &out, &info), TSR_OK);
        CHECK(out && out->width == 16 && out->height == 8);
        tsr_image_free(out);
        tsr_buffer_free(&jpeg);
        tsr_ctx_free(ctx);
    }
    tsr_image_free(img);
}

static void test_orient_all(void) {
    /* 3x2 image, pixel value = 10*y + x. Expected upright rows per orientation. */
    static const uint8_t want[9][6] = {
        {0},
        {0, 1, 2, 10, 11, 12},
        {2, 1, 0, 12, 11, 10},
        {12, 11, 10, 2, 1, 0},
        {10, 11, 12, 0, 1, 2},
        {0, 10, 1, 11, 2, 12},
        {10, 0, 11, 1, 12, 2},
        {12, 2, 11, 1, 10, 0},
        {2, 12, 1, 11, 0, 10},
    };
    for (int o = 1; o <= 8; o++) {
        tsr_image *img = NULL;
        tsr_image_new(NULL, 3, 2, 1, &img);
        for (int y = 0; y < 2; y++)
            for (int x = 0; x < 3; x++)
                img->data[y * 3 + x] = (uint8_t)(10 * y + x);
        /* Round trip through PNM so the front door applies nothing; call
         * the orientation through a JPEG-less path: encode BMP, patch nothing. */
        tsr_image *src = img;
        extern tsr_status tsr_image_orient(tsr_ctx *, tsr_image **, int);
        CHECK_EQ_INT(tsr_image_orient(NULL, &src, o), TSR_OK);
        int w = o >= 5 ? 2 : 3, h = o >= 5 ? 3 : 2;
        CHECK(src->width == w && src->height == h);
        if (memcmp(src->data, want[o], 6) != 0) {
            fprintf(stderr, "orientation %d: %d %d %d %d %d %d\n", o, src->data[0], src->data[1],
                    src->data[2], src->data[3], src->data[4], src->data[5]);
            CHECK(0);
        }
        tsr_image_free(src);
    }
}

static void test_load_save(void) {
    char dir[] = "/tmp/tsr_codecs_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256], bad[300];
    snprintf(path, sizeof path, "%s/out.png", dir);
    snprintf(bad, sizeof bad, "%s/missing/out.png", dir);
    tsr_image *img = load_data("coffee.png");
    tsr_ctx *ctx = tsr_ctx_new();
    CHECK_EQ_INT(tsr_image_save(ctx, img, path, TSR_FORMAT_PNG, NULL), TSR_OK);
    tsr_image *back = NULL;
    tsr_image_info info;
    CHECK_EQ_INT(tsr_image_load(ctx, path, NULL, &back, &info), TSR_OK);
    CHECK(same_pixels(img, back));
    tsr_image_free(back);
    CHECK_EQ_INT(tsr_image_save(ctx, img, bad, TSR_FORMAT_PNG, NULL), TSR_ERR_IO);
    CHECK(access(bad, F_OK) != 0);
    tsr_ctx_reset(ctx);
    tsr_encode_options q = {.quality = 101, .compression = -1};
    CHECK_EQ_INT(tsr_image_save(ctx, img, path, TSR_FORMAT_JPEG, &q), TSR_ERR_USAGE);
    tsr_ctx_reset(ctx);
    CHECK_EQ_INT(tsr_image_save(ctx, img, path, TSR_FORMAT_UNKNOWN, NULL), TSR_ERR_FORMAT);
    /* the byte cap applies to loads */
    tsr_ctx_reset(ctx);
    tsr_limits l = {.max_file_bytes = 100};
    tsr_ctx_set_limits(ctx, &l);
    CHECK_EQ_INT(tsr_image_load(ctx, path, NULL, &back, NULL), TSR_ERR_LIMIT);
    CHECK(back == NULL);
    unlink(path);
    rmdir(dir);
    tsr_image_free(img);
    tsr_ctx_free(ctx);
}

int main(void) {
    RUN(test_png);
    RUN(test_tiff);
    RUN(test_bmp);
    RUN(test_pnm);
    RUN(test_jpeg);
    RUN(test_webp);
    RUN(test_gif);
    RUN(test_real_photos);
    RUN(test_png_16bit);
    RUN(test_png_palette);
    RUN(test_gif_frames);
    RUN(test_jpeg_shrink);
    RUN(test_exif_orientation);
    RUN(test_orient_all);
    RUN(test_load_save);
    return check_finish();
}
