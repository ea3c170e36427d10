/* Hostile input: truncated files of every format, declared dimensions over
 * the limits, decompression bombs, malformed headers, and random byte flips.
 * Nothing may crash, return an image on failure, or allocate pixels first. */
#include "check.h"
#include "image/codecs/helpers.h"
#include "util/clock.h"

/* Decodes and returns the status; checks that failure means no image. */
static tsr_status decode_status(tsr_ctx *ctx, const uint8_t *bytes, size_t len) {
    tsr_image *img = (tsr_image *)1;
    tsr_image_info info;
    tsr_ctx_reset(ctx);
    tsr_status st = tsr_image_decode(ctx, bytes, len, NULL, &img, &info);
    if (st) {
        CHECK(img == NULL);
        CHECK(tsr_ctx_message(ctx)[0] != '\0');
    } else {
        tsr_image_free(img);
    }
    return st;
}

/* Encodes coffee.png as `f` and checks that cuts at 10%, 50%, 90% and
 * len-1 fail as corrupt (or as unrecognised when the magic is cut). */
static void check_truncation(tsr_format f, int bands) {
    tsr_image *photo = load_data("coffee.png");
    tsr_image *img = with_bands(photo, bands);
    tsr_buffer buf = {0};
    tsr_ctx *ctx = tsr_ctx_new();
    CHECK_EQ_INT(tsr_image_encode(ctx, img, f, NULL, &buf), TSR_OK);
    size_t cuts[] = {buf.len / 10, buf.len / 2, buf.len * 9 / 10, buf.len - 1, 1, 0};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        tsr_status st = decode_status(ctx, buf.data, cuts[i]);
        bool ok = st == TSR_ERR_CORRUPT || (cuts[i] < 16 && st == TSR_ERR_FORMAT);
        if (!ok)
            fprintf(stderr, "%s (%d bands) cut at %zu of %zu: status %d: %s\n", tsr_format_name(f),
                    bands, cuts[i], buf.len, st, tsr_ctx_message(ctx));
        CHECK(ok);
        tsr_ctx_reset(ctx);
        tsr_image_info info;
        if (cuts[i] <= 1)
            CHECK(tsr_image_info_read(ctx, buf.data, cuts[i], &info) != TSR_OK);
    }
    CHECK_EQ_INT(decode_status(ctx, buf.data, buf.len), TSR_OK);
    tsr_buffer_free(&buf);
    tsr_image_free(photo);
    tsr_image_free(img);
    tsr_ctx_free(ctx);
}

static void test_truncated_every_format(void) {
    for (int f = TSR_FORMAT_UNKNOWN + 1; f < TSR_FORMAT_COUNT; f++) {
        check_truncation((tsr_format)f, 3);
        check_truncation((tsr_format)f, 4);
        check_truncation((tsr_format)f, 1);
    }
}

static void test_truncated_jpeg_file(void) {
    tsr_buffer buf;
    tsr_ctx *ctx = tsr_ctx_new();
    CHECK(read_data("truncated.jpg", &buf) == 0);
    CHECK_EQ_INT(decode_status(ctx, buf.data, buf.len), TSR_ERR_CORRUPT);
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "jpeg");
    tsr_buffer_free(&buf);
    tsr_ctx_free(ctx);
}

/* Declared dimensions over the limits fail fast with TSR_ERR_LIMIT, both
 * for info and decode. The limits are `tessera serve`'s (2 GP): the
 * 60000 x 60000 GIF frame is within the library's 4 GP. */
static void test_huge_dimensions(void) {
    static const char *files[] = {
        "bad/png_huge.png",  "bad/bmp_huge.bmp",  "bad/pnm_huge.ppm",         "bad/gif_huge.gif",
        "bad/tiff_huge.tif", "bad/jpeg_huge.jpg", "bad/gif_frame_outside.gif"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        tsr_buffer buf;
        tsr_ctx *ctx = tsr_ctx_new();
        tsr_limits serve = {.max_pixels = 2000000000ull};
        tsr_ctx_set_limits(ctx, &serve);
        tsr_image_info info;
        CHECK(read_data(files[i], &buf) == 0);
        double t0 = tsr_clock_mono_s();
        tsr_status st = decode_status(ctx, buf.data, buf.len);
        double dt = tsr_clock_mono_s() - t0;
        if (st != TSR_ERR_LIMIT)
            fprintf(stderr, "%s: status %d: %s\n", files[i], st, tsr_ctx_message(ctx));
        CHECK_EQ_INT(st, TSR_ERR_LIMIT);
        CHECK(dt < 0.5);
        tsr_ctx_reset(ctx);
        CHECK_EQ_INT(tsr_image_info_read(ctx, buf.data, buf.len, &info), TSR_ERR_LIMIT);
        tsr_buffer_free(&buf);
        tsr_ctx_free(ctx);
    }
}

/* 20000x20000 zero pixels in ~50 KiB: a lowered pixel limit stops it
 * before the 400 MB buffer is allocated. */
static void test_png_bomb(void) {
    tsr_buffer buf;
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_limits l = {.max_pixels = 100u << 20};
    tsr_ctx_set_limits(ctx, &l);
    CHECK(read_data("bad/png_bomb.png", &buf) == 0);
    CHECK(buf.len < 64 * 1024);
    double t0 = tsr_clock_mono_s();
    CHECK_EQ_INT(decode_status(ctx, buf.data, buf.len), TSR_ERR_LIMIT);
    CHECK(tsr_clock_mono_s() - t0 < 0.5);
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "MP is more than the limit of");
    /* The allocation cap stops it too. */
    tsr_limits a = {.max_alloc = 64u << 20};
    tsr_ctx_set_limits(ctx, &a);
    CHECK_EQ_INT(decode_status(ctx, buf.data, buf.len), TSR_ERR_LIMIT);
    tsr_buffer_free(&buf);
    tsr_ctx_free(ctx);
}

/* Every other bad file fails with a sensible status. */
static void test_malformed(void) {
    static const struct {
        const char *name;
        tsr_status want; /* TSR_OK: any failure */
    } files[] = {
        {"bad/png_bad_crc.png", TSR_ERR_CORRUPT},
        {"bad/png_no_iend.png", TSR_ERR_CORRUPT},
        {"bad/bmp_bad_offset.bmp", TSR_ERR_CORRUPT},
        {"bad/bmp_rle.bmp", TSR_ERR_FORMAT},
        {"bad/bmp_zero_width.bmp", TSR_ERR_CORRUPT},
        {"bad/bmp_bad_bpp.bmp", TSR_ERR_FORMAT},
        {"bad/pnm_maxval_zero.pgm", TSR_ERR_CORRUPT},
        {"bad/pnm_short.pgm", TSR_ERR_CORRUPT},
        {"bad/pnm_bad_ascii.pgm", TSR_ERR_CORRUPT},
        {"bad/pnm_huge_number.pgm", TSR_OK},
        {"bad/gif_no_trailer.gif", TSR_ERR_CORRUPT},
        {"bad/tiff_bad_strip.tif", TSR_ERR_CORRUPT},
        {"bad/tiff_zero_rows_per_strip.tif", TSR_OK},
        {"bad/tiff_ifd_loop.tif", TSR_OK},
        {"bad/jpeg_sof_zero.jpg", TSR_OK},
        {"bad/webp_riff_short.webp", TSR_ERR_CORRUPT},
        {"bad/garbage.bin", TSR_ERR_FORMAT},
        {"bad/empty.bin", TSR_ERR_FORMAT},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        tsr_buffer buf;
        tsr_ctx *ctx = tsr_ctx_new();
        CHECK(read_data(files[i].name, &buf) == 0);
        tsr_status st = decode_status(ctx, buf.data, buf.len);
        bool ok = files[i].want ? st == files[i].want : st != TSR_OK;
        if (!ok)
            fprintf(stderr, "%s: status %d: %s\n", files[i].name, st, tsr_ctx_message(ctx));
        CHECK(ok);
        tsr_buffer_free(&buf);
        tsr_ctx_free(ctx);
    }
}

static void test_byte_cap(void) {
    tsr_buffer buf;
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_limits l = {.max_file_bytes = 1000};
    tsr_ctx_set_limits(ctx, &l);
    CHECK(read_data("rocket.jpg", &buf) == 0);
    CHECK_EQ_INT(decode_status(ctx, buf.data, buf.len), TSR_ERR_LIMIT);
    tsr_buffer_free(&buf);
    tsr_ctx_free(ctx);
}

/* Deterministic random byte flips on small files of every format: any
 * status is fine, crashes and leaks (under ASan) are not. */
static void test_mutations(void) {
    uint32_t seed = 12345;
    tsr_image *photo = load_data("chelsea.png");
    tsr_image *small = NULL;
    tsr_image_new(NULL, 48, 32, 3, &small);
    for (int y = 0; y < 32; y++)
        memcpy(small->data + (size_t)y * small->stride,
               photo->data + (size_t)(y + 100) * photo->stride + 600, 48 * 3);
    tsr_ctx *ctx = tsr_ctx_new();
    int decoded = 0, failed = 0;
    for (int f = TSR_FORMAT_UNKNOWN + 1; f < TSR_FORMAT_COUNT; f++) {
        tsr_buffer buf = {0};
        CHECK_EQ_INT(tsr_image_encode(ctx, small, (tsr_format)f, NULL, &buf), TSR_OK);
        uint8_t *copy = malloc(buf.len);
        for (int round = 0; round < 300; round++) {
            memcpy(copy, buf.data, buf.len);
            int flips = 1 + round % 4;
            for (int k = 0; k < flips; k++) {
                seed = seed * 1103515245u + 12345u;
                size_t at = (seed >> 8) % buf.len;
                seed = seed * 1103515245u + 12345u;
                copy[at] ^= (uint8_t)(1u << ((seed >> 16) % 8));
            }
            if (decode_status(ctx, copy, buf.len))
                failed++;
            else
                decoded++;
            tsr_image_info info;
            tsr_ctx_reset(ctx);
            tsr_image_info_read(ctx, copy, buf.len, &info);
        }
        free(copy);
        tsr_buffer_free(&buf);
    }
    printf("     mutations: %d decoded, %d rejected\n", decoded, failed);
    CHECK(decoded + failed == 300 * (TSR_FORMAT_COUNT - 1));
    tsr_image_free(photo);
    tsr_image_free(small);
    tsr_ctx_free(ctx);
}

int main(void) {
    RUN(test_truncated_every_format);
    RUN(test_truncated_jpeg_file);
    RUN(test_huge_dimensions);
    RUN(test_png_bomb);
    RUN(test_malformed);
    RUN(test_byte_cap);
    RUN(test_mutations);
    return check_finish();
}
