/* Format detection from magic bytes, name tables and header info. */
#include "check.h"
#include "image/codecs/helpers.h"

static void test_magic_bytes(void) {
    static const struct {
        const char *bytes;
        size_t len;
        tsr_format format;
    } cases[] = {
        {"\xff\xd8\xff\xe0", 4, TSR_FORMAT_JPEG},
        {"\x89PNG\r\n\x1a\n", 8, TSR_FORMAT_PNG},
        {"GIF87a", 6, TSR_FORMAT_GIF},
        {"GIF89a", 6, TSR_FORMAT_GIF},
        {"RIFF\x10\0\0\0WEBPVP8 ", 16, TSR_FORMAT_WEBP},
        {"II*\0", 4, TSR_FORMAT_TIFF},
        {"MM\0*", 4, TSR_FORMAT_TIFF},
        {"II+\0", 4, TSR_FORMAT_TIFF},
        {"MM\0+", 4, TSR_FORMAT_TIFF},
        {"BM", 2, TSR_FORMAT_BMP},
        {"P5 1 1 255\n", 11, TSR_FORMAT_PNM},
        {"P6\n", 3, TSR_FORMAT_PNM},
        {"P3#c\n", 5, TSR_FORMAT_PNM},
        {"P1 ", 3, TSR_FORMAT_PNM},
        /* near misses */
        {"\xff\xd8", 2, TSR_FORMAT_UNKNOWN},
        {"\x89PNG\r\n\x1a", 7, TSR_FORMAT_UNKNOWN},
        {"GIF88a", 6, TSR_FORMAT_UNKNOWN},
        {"RIFF\x10\0\0\0WAVE", 12, TSR_FORMAT_UNKNOWN},
        {"II*\1", 4, TSR_FORMAT_UNKNOWN},
        {"P7 ", 3, TSR_FORMAT_UNKNOWN},
        {"Pixel", 5, TSR_FORMAT_UNKNOWN},
        {"B", 1, TSR_FORMAT_UNKNOWN},
        {"", 0, TSR_FORMAT_UNKNOWN},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tsr_format f = tsr_format_detect((const uint8_t *)cases[i].bytes, cases[i].len);
        if (f != cases[i].format)
            fprintf(stderr, "case %zu: got %s\n", i, tsr_format_name(f));
        CHECK_EQ_INT(f, cases[i].format);
    }
    CHECK_EQ_INT(tsr_format_detect(NULL, 0), TSR_FORMAT_UNKNOWN);
}

/* Real files are recognised by content, whatever their names say. */
static void test_real_files(void) {
    static const struct {
        const char *name;
        tsr_format format;
    } files[] = {
        {"astronaut.png", TSR_FORMAT_PNG},      {"chelsea.gif", TSR_FORMAT_GIF},
        {"coffee.webp", TSR_FORMAT_WEBP},       {"rocket.jpg", TSR_FORMAT_JPEG},
        {"truncated.jpg", TSR_FORMAT_JPEG},     {"bad/garbage.bin", TSR_FORMAT_UNKNOWN},
        {"bad/tiff_huge.tif", TSR_FORMAT_TIFF}, {"bad/bmp_huge.bmp", TSR_FORMAT_BMP},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        tsr_buffer buf;
        CHECK(read_data(files[i].name, &buf) == 0);
        CHECK_EQ_INT(tsr_format_detect(buf.data, buf.len), files[i].format);
        tsr_buffer_free(&buf);
    }
}

static void test_unknown_is_format_error(void) {
    tsr_buffer buf;
    tsr_image *img = (tsr_image *)1;
    tsr_ctx *ctx = tsr_ctx_new();
    CHECK(read_data("bad/garbage.bin", &buf) == 0);
    CHECK_EQ_INT(tsr_image_decode(ctx, buf.data, buf.len, NULL, &img, NULL), TSR_ERR_FORMAT);
    CHECK(img == NULL);
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "unrecognised");
    tsr_buffer_free(&buf);
    tsr_ctx_free(ctx);
}

static void test_empty_is_called_empty(void) {
    tsr_image *img = (tsr_image *)1;
    tsr_ctx *ctx = tsr_ctx_new();
    static const uint8_t none[1] = {0};
    CHECK_EQ_INT(tsr_image_decode(ctx, none, 0, NULL, &img, NULL), TSR_ERR_FORMAT);
    CHECK(img == NULL);
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "empty file (0 bytes)");
    tsr_ctx_free(ctx);
}

static void test_names(void) {
    CHECK_EQ_INT(tsr_format_from_name("jpg"), TSR_FORMAT_JPEG);
    CHECK_EQ_INT(tsr_format_from_name("JPEG"), TSR_FORMAT_JPEG);
    CHECK_EQ_INT(tsr_format_from_name(".jpe"), TSR_FORMAT_JPEG);
    CHECK_EQ_INT(tsr_format_from_name("png"), TSR_FORMAT_PNG);
    CHECK_EQ_INT(tsr_format_from_name("Gif"), TSR_FORMAT_GIF);
    CHECK_EQ_INT(tsr_format_from_name("webp"), TSR_FORMAT_WEBP);
    CHECK_EQ_INT(tsr_format_from_name("tif"), TSR_FORMAT_TIFF);
    CHECK_EQ_INT(tsr_format_from_name("TIFF"), TSR_FORMAT_TIFF);
    CHECK_EQ_INT(tsr_format_from_name("bmp"), TSR_FORMAT_BMP);
    CHECK_EQ_INT(tsr_format_from_name("ppm"), TSR_FORMAT_PNM);
    CHECK_EQ_INT(tsr_format_from_name("pgm"), TSR_FORMAT_PNM);
    CHECK_EQ_INT(tsr_format_from_name("pnm"), TSR_FORMAT_PNM);
    CHECK_EQ_INT(tsr_format_from_name("image/png"), TSR_FORMAT_PNG);
    CHECK_EQ_INT(tsr_format_from_name("xcf"), TSR_FORMAT_UNKNOWN);
    CHECK_EQ_INT(tsr_format_from_name(""), TSR_FORMAT_UNKNOWN);
    CHECK_EQ_INT(tsr_format_from_name(NULL), TSR_FORMAT_UNKNOWN);
    CHECK(strcmp(tsr_format_name(TSR_FORMAT_UNKNOWN), "unknown") == 0);
    CHECK(strcmp(tsr_format_name(TSR_FORMAT_TIFF), "tiff") == 0);
    CHECK(strcmp(tsr_format_mime(TSR_FORMAT_JPEG), "image/jpeg") == 0);
    CHECK(strcmp(tsr_format_extension(TSR_FORMAT_JPEG), "jpg") == 0);
    for (int f = TSR_FORMAT_UNKNOWN + 1; f < TSR_FORMAT_COUNT; f++) {
        CHECK(tsr_format_can_encode((tsr_format)f));
        CHECK_EQ_INT(tsr_format_from_name(tsr_format_name((tsr_format)f)), f);
        CHECK_EQ_INT(tsr_format_from_name(tsr_format_extension((tsr_format)f)), f);
    }
    CHECK(!tsr_format_can_encode(TSR_FORMAT_UNKNOWN));
    CHECK(!tsr_format_can_encode(TSR_FORMAT_COUNT));
}

/* Header facts match what ImageMagick's identify reports. */
static void test_info(void) {
    static const struct {
        const char *name;
        tsr_format format;
        int width, height, bands, frames;
    } files[] = {
        {"astronaut.png", TSR_FORMAT_PNG, 512, 512, 3, 1},
        {"coffee.png", TSR_FORMAT_PNG, 600, 400, 3, 1},
        {"chelsea.png", TSR_FORMAT_PNG, 451, 300, 3, 1},
        {"chelsea.gif", TSR_FORMAT_GIF, 451, 300, 3, 1},
        {"anim.gif", TSR_FORMAT_GIF, 128, 128, -1, 3},
        {"coffee.webp", TSR_FORMAT_WEBP, 600, 400, 3, 1},
        {"hubble_deep_field.jpg", TSR_FORMAT_JPEG, 1000, 872, 3, 1},
        {"rocket.jpg", TSR_FORMAT_JPEG, 640, 427, 3, 1},
        {"palette_color.png", TSR_FORMAT_PNG, 10, 10, -1, 1},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        tsr_buffer buf;
        tsr_image_info info;
        tsr_ctx *ctx = tsr_ctx_new();
        CHECK(read_data(files[i].name, &buf) == 0);
        tsr_status st = tsr_image_info_read(ctx, buf.data, buf.len, &info);
        if (st)
            fprintf(stderr, "%s: %s\n", files[i].name, tsr_ctx_message(ctx));
        CHECK_EQ_INT(st, TSR_OK);
        CHECK_EQ_INT(info.format, files[i].format);
        CHECK_EQ_INT(info.width, files[i].width);
        CHECK_EQ_INT(info.height, files[i].height);
        if (files[i].bands > 0)
            CHECK_EQ_INT(info.bands, files[i].bands);
        CHECK_EQ_INT(info.frames, files[i].frames);
        CHECK_EQ_INT(info.orientation, 1);
        tsr_buffer_free(&buf);
        tsr_ctx_free(ctx);
    }
}

int main(void) {
    RUN(test_magic_bytes);
    RUN(test_real_files);
    RUN(test_unknown_is_format_error);
    RUN(test_empty_is_called_empty);
    RUN(test_names);
    RUN(test_info);
    return check_finish();
}
