/* HEIF (HEIC) and AVIF: detection from ftyp brands, round trips through
 * libheif's encoders (bands, lossless, quality, speed), irot/imir applied
 * once (files written with libheif's own orientation option), 10-bit
 * samples narrowed to their high byte, and hostile files: declared sizes
 * over the limits, grid bombs, too many derived images, cuts and flips. */
#include <libheif/heif.h>
#include <unistd.h>

#include "check.h"
#include "image/codecs/codec_internal.h"
#include "image/codecs/helpers.h"

static const tsr_format formats[] = {TSR_FORMAT_AVIF, TSR_FORMAT_HEIF};

/* A w x h copy of `src` from (x, y). */
static tsr_image *crop(const tsr_image *src, int x, int y, int w, int h) {
    tsr_image *out = NULL;
    if (!src || tsr_image_new(NULL, w, h, src->bands, &out))
        return NULL;
    for (int r = 0; r < h; r++)
        memcpy(out->data + (size_t)r * out->stride,
               src->data + (size_t)(y + r) * src->stride + (size_t)x * (size_t)src->bands,
               (size_t)w * (size_t)src->bands);
    return out;
}

/* Encodes `img` as `f` with `o` (NULL = defaults) into `buf`; the status. */
static tsr_status encode(const tsr_image *img, tsr_format f, const tsr_encode_options *o,
                         tsr_buffer *buf) {
    tsr_ctx *ctx = tsr_ctx_new();
    memset(buf, 0, sizeof *buf);
    tsr_status st = tsr_image_encode(ctx, img, f, o, buf);
    if (st)
        fprintf(stderr, "encode %s: %s\n", tsr_format_name(f), tsr_ctx_message(ctx));
    tsr_ctx_free(ctx);
    return st;
}

/* Decodes `buf` under `ctx`; NULL on failure (status in *st when given). */
static tsr_image *decode(tsr_ctx *ctx, const tsr_buffer *buf, const tsr_decode_options *o,
                         tsr_image_info *info, tsr_status *st) {
    tsr_image *img = (tsr_image *)1;
    tsr_image_info local;
    tsr_ctx_reset(ctx);
    tsr_status s = tsr_image_decode(ctx, buf->data, buf->len, o, &img, info ? info : &local);
    if (st)
        *st = s;
    if (s) {
        CHECK(img == NULL);
        CHECK(tsr_ctx_message(ctx)[0] != '\0');
        return NULL;
    }
    return img;
}

static void test_detect_brands(void) {
    static const struct {
        const char *ftyp; /* size is 8 + strlen */
        tsr_format want;
    } cases[] = {
        {"heic\0\0\0\0mif1heic", TSR_FORMAT_HEIF},
        {"mif1\0\0\0\0mif1heic", TSR_FORMAT_HEIF},
        {"heix\0\0\0\0", TSR_FORMAT_HEIF},
        {"msf1\0\0\0\0msf1hevc", TSR_FORMAT_HEIF},
        {"mif1\0\0\0\0mif1", TSR_FORMAT_HEIF},
        {"avif\0\0\0\0avifmif1", TSR_FORMAT_AVIF},
        {"mif1\0\0\0\0avifmiaf", TSR_FORMAT_AVIF},
        {"avis\0\0\0\0", TSR_FORMAT_AVIF},
        {"isom\0\0\0\0isomavc1", TSR_FORMAT_UNKNOWN},
        {"qt  \0\0\0\0", TSR_FORMAT_UNKNOWN},
    };
    static const size_t lens[] = {16, 16, 8, 16, 12, 16, 16, 8, 16, 8};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t b[64] = {0};
        size_t n = 8 + lens[i];
        b[3] = (uint8_t)n;
        memcpy(b + 4, "ftyp", 4);
        memcpy(b + 8, cases[i].ftyp, lens[i]);
        CHECK_EQ_INT(tsr_format_detect(b, n), cases[i].want);
        CHECK_EQ_INT(tsr_format_detect(b, 15), TSR_FORMAT_UNKNOWN); /* too short */
        b[3] = 12;                                                  /* an ftyp box under 16 bytes */
        CHECK_EQ_INT(tsr_format_detect(b, n), TSR_FORMAT_UNKNOWN);
    }
    CHECK_EQ_INT(tsr_format_from_name("heic"), TSR_FORMAT_HEIF);
    CHECK_EQ_INT(tsr_format_from_name("HEIF"), TSR_FORMAT_HEIF);
    CHECK_EQ_INT(tsr_format_from_name(".hif"), TSR_FORMAT_HEIF);
    CHECK_EQ_INT(tsr_format_from_name("image/heif"), TSR_FORMAT_HEIF);
    CHECK_EQ_INT(tsr_format_from_name("avif"), TSR_FORMAT_AVIF);
    CHECK_EQ_INT(tsr_format_from_name("image/avif"), TSR_FORMAT_AVIF);
    CHECK(strcmp(tsr_format_extension(TSR_FORMAT_HEIF), "heic") == 0);
    CHECK(strcmp(tsr_format_mime(TSR_FORMAT_AVIF), "image/avif") == 0);
    CHECK(tsr_format_can_encode(TSR_FORMAT_HEIF) && tsr_format_can_encode(TSR_FORMAT_AVIF));
}

/* 1..4 bands of chelsea: RGB(A) back, gray expanded, PSNR over 30 dB (alpha too). */
static void test_round_trip_bands(void) {
    tsr_image *photo = load_data("chelsea.png");
    tsr_ctx *ctx = tsr_ctx_new();
    for (size_t f = 0; f < 2; f++)
        for (int bands = 1; bands <= 4 && photo; bands++) {
            tsr_image *in = with_bands(photo, bands);
            tsr_buffer buf;
            tsr_image_info info;
            CHECK_EQ_INT(encode(in, formats[f], NULL, &buf), TSR_OK);
            tsr_image *out = decode(ctx, &buf, NULL, &info, NULL);
            CHECK(out != NULL);
            CHECK_EQ_INT(info.format, formats[f]);
            if (out) {
                bool alpha = bands == 2 || bands == 4;
                CHECK_EQ_INT(out->bands, alpha ? 4 : 3);
                CHECK_EQ_INT(info.bands, out->bands);
                CHECK_EQ_INT(out->width, 451);
                CHECK_EQ_INT(out->height, 300);
                tsr_image *want = with_bands(in, out->bands);
                double p = psnr(out, want, 3);
                if (p <= 30)
                    fprintf(stderr, "%s %d bands: %.1f dB\n", tsr_format_name(formats[f]), bands,
                            p);
                CHECK(p > 30);
                if (alpha) /* the alpha plane survives (compare band 3 with band 3) */
                    for (int y = 0; y < out->height; y += 37)
                        for (int x = 0; x < out->width; x += 41) {
                            int d = out->data[(size_t)y * out->stride + (size_t)x * 4 + 3] -
                                    want->data[(size_t)y * want->stride + (size_t)x * 4 + 3];
                            CHECK(d >= -24 && d <= 24);
                        }
                tsr_image_free(want);
            }
            tsr_image_free(out);
            tsr_image_free(in);
            tsr_buffer_free(&buf);
        }
    tsr_ctx_free(ctx);
    tsr_image_free(photo);
}

/* Lossless: 4:4:4 with the identity matrix gives RGB and alpha back exactly. */
static void test_lossless_exact(void) {
    tsr_image *photo = load_data("coffee.png");
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_encode_options o = {.lossless = true, .compression = -1, .speed = 9};
    for (size_t f = 0; f < 2 && photo; f++)
        for (int bands = 3; bands <= 4; bands++) {
            tsr_image *in = with_bands(photo, bands);
            tsr_buffer buf;
            CHECK_EQ_INT(encode(in, formats[f], &o, &buf), TSR_OK);
            tsr_image *out = decode(ctx, &buf, NULL, NULL, NULL);
            if (!same_pixels(out, in))
                fprintf(stderr, "%s lossless, %d bands: pixels differ\n",
                        tsr_format_name(formats[f]), bands);
            CHECK(same_pixels(out, in));
            tsr_image_free(out);
            tsr_image_free(in);
            tsr_buffer_free(&buf);
        }
    tsr_ctx_free(ctx);
    tsr_image_free(photo);
}

/* Quality and speed: ranges checked before encoding; both change the file;
 * the same options give the same bytes. */
static void test_options(void) {
    tsr_image *photo = load_data("coffee.png");
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_buffer a, b, c, d;
    for (size_t f = 0; f < 2 && photo; f++) {
        tsr_buffer out = {0};
        tsr_encode_options bad[] = {{.speed = 10}, {.speed = -1}, {.quality = 101}};
        for (size_t i = 0; i < 3; i++) {
            tsr_ctx_reset(ctx);
            CHECK_EQ_INT(tsr_image_encode(ctx, photo, formats[f], &bad[i], &out), TSR_ERR_USAGE);
            CHECK_STR_CONTAINS(tsr_ctx_message(ctx), i < 2 ? "speed" : "quality");
            CHECK_EQ_INT(out.len, 0);
        }
        tsr_image *wide = NULL; /* wider than libheif reads back: refused, not written */
        CHECK_EQ_INT(tsr_image_new(ctx, 32769, 1, 3, &wide), TSR_OK);
        tsr_ctx_reset(ctx);
        CHECK_EQ_INT(tsr_image_encode(ctx, wide, formats[f], NULL, &out), TSR_ERR_USAGE);
        CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "32769x1 is larger than the 32768x32768");
        tsr_image_free(wide);
        tsr_encode_options low = {.quality = 20, .speed = 9}, high = {.quality = 90, .speed = 9};
        tsr_encode_options slow = {.quality = 20, .speed = 4};
        CHECK_EQ_INT(encode(photo, formats[f], &low, &a), TSR_OK);
        CHECK_EQ_INT(encode(photo, formats[f], &high, &b), TSR_OK);
        CHECK_EQ_INT(encode(photo, formats[f], &slow, &c), TSR_OK);
        CHECK_EQ_INT(encode(photo, formats[f], &low, &d), TSR_OK);
        CHECK(a.len < b.len);
        CHECK(a.len != c.len || memcmp(a.data, c.data, a.len) != 0);
        CHECK(a.len == d.len && memcmp(a.data, d.data, a.len) == 0);
        tsr_buffer_free(&a), tsr_buffer_free(&b), tsr_buffer_free(&c), tsr_buffer_free(&d);
    }
    tsr_ctx_free(ctx);
    tsr_image_free(photo);
}

/* Writes `img` (3 bands) as HEIC with libheif's orientation option, which
 * stores the pixels as given and adds the irot/imir that turn them to
 * EXIF orientation `o`'s upright view. */
static int heic_with_orientation(const tsr_image *img, int o, tsr_buffer *out) {
    struct heif_context *hc = heif_context_alloc();
    struct heif_encoder *enc = NULL;
    struct heif_image *pic = NULL;
    struct heif_encoding_options *opt = heif_encoding_options_alloc();
    int stride, ok = 0;
    heif_context_get_encoder_for_format(hc, heif_compression_HEVC, &enc);
    heif_encoder_set_lossless(enc, 1);
    heif_encoder_set_parameter_string(enc, "chroma", "444");
    heif_image_create(img->width, img->height, heif_colorspace_RGB, heif_chroma_interleaved_RGB,
                      &pic);
    heif_image_add_plane(pic, heif_channel_interleaved, img->width, img->height, 8);
    uint8_t *p = heif_image_get_plane(pic, heif_channel_interleaved, &stride);
    for (int y = 0; y < img->height; y++)
        memcpy(p + (size_t)y * (size_t)stride, img->data + (size_t)y * img->stride,
               (size_t)img->width * 3);
    opt->image_orientation = (enum heif_orientation)o;
    if (!heif_context_encode_image(hc, pic, enc, opt, NULL).code) {
        const char *tmp = "heif_orient.heic";
        ok = !heif_context_write_to_file(hc, tmp).code;
        tsr_ctx *ctx = tsr_ctx_new();
        memset(out, 0, sizeof *out);
        ok = ok && !tsr_file_read(ctx, tmp, 1 << 30, out);
        tsr_ctx_free(ctx);
        unlink(tmp);
    }
    heif_encoding_options_free(opt);
    heif_image_release(pic);
    heif_encoder_release(enc);
    heif_context_free(hc);
    return ok;
}

/* irot/imir are applied once, like EXIF orientation elsewhere, and never
 * again from info->orientation; no_autorotate gives the coded image. */
static void test_orientation_once(void) {
    tsr_image *photo = load_data("chelsea.png");
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_image *base = crop(photo, 100, 40, 64, 40);
    for (int o = 1; o <= 8 && base; o++) {
        tsr_buffer buf;
        tsr_image_info info;
        CHECK(heic_with_orientation(base, o, &buf));
        tsr_image *out = decode(ctx, &buf, NULL, &info, NULL);
        tsr_image *want = NULL;
        CHECK_EQ_INT(tsr_image_copy(ctx, base, &want), TSR_OK);
        CHECK_EQ_INT(tsr_image_orient(ctx, &want, o), TSR_OK);
        if (!same_pixels(out, want))
            fprintf(stderr, "heif orientation %d: not the upright view\n", o);
        CHECK(same_pixels(out, want));
        CHECK_EQ_INT(info.orientation, 1);
        CHECK_EQ_INT(info.width, o >= 5 ? 40 : 64);
        tsr_image_free(out);
        tsr_decode_options coded = {.no_autorotate = true};
        out = decode(ctx, &buf, &coded, &info, NULL);
        CHECK(same_pixels(out, base));
        CHECK_EQ_INT(info.width, 64);
        CHECK_EQ_INT(info.height, 40);
        tsr_image_free(out);
        tsr_image_free(want);
        tsr_buffer_free(&buf);
    }
    tsr_image_free(base);
    tsr_image_free(photo);
    tsr_ctx_free(ctx);
}

/* A 10-bit HEIC (lossless 4:4:4, identity matrix, written with libheif)
 * decodes to the high byte of each sample: v >> 2. */
static void test_ten_bits(void) {
    enum { W = 48, H = 32 };
    struct heif_context *hc = heif_context_alloc();
    struct heif_encoder *enc = NULL;
    struct heif_image *pic = NULL;
    struct heif_encoding_options *opt = heif_encoding_options_alloc();
    struct heif_color_profile_nclx *nclx = heif_nclx_color_profile_alloc();
    int stride;
    heif_context_get_encoder_for_format(hc, heif_compression_HEVC, &enc);
    heif_encoder_set_lossless(enc, 1);
    heif_encoder_set_parameter_string(enc, "chroma", "444");
    heif_image_create(W, H, heif_colorspace_RGB, heif_chroma_interleaved_RRGGBB_LE, &pic);
    heif_image_add_plane(pic, heif_channel_interleaved, W, H, 10);
    uint8_t *p = heif_image_get_plane(pic, heif_channel_interleaved, &stride);
    for (int y = 0; y < H; y++)
        for (int i = 0; i < W * 3; i++) {
            int v = (y * 97 + i * 13) % 1024;
            p[(size_t)y * (size_t)stride + 2 * (size_t)i] = (uint8_t)(v & 255);
            p[(size_t)y * (size_t)stride + 2 * (size_t)i + 1] = (uint8_t)(v >> 8);
        }
    nclx->matrix_coefficients = heif_matrix_coefficients_RGB_GBR;
    nclx->full_range_flag = 1;
    heif_image_set_nclx_color_profile(pic, nclx); /* libheif 1.15 converts with the picture's */
    opt->macOS_compatibility_workaround_no_nclx_profile = 0;
    tsr_buffer buf = {0};
    tsr_ctx *ctx = tsr_ctx_new();
    CHECK(!heif_context_encode_image(hc, pic, enc, opt, NULL).code);
    CHECK(!heif_context_write_to_file(hc, "heif_ten.heic").code);
    CHECK_EQ_INT(tsr_file_read(ctx, "heif_ten.heic", 1 << 30, &buf), TSR_OK);
    unlink("heif_ten.heic");
    tsr_image_info info;
    tsr_image *out = decode(ctx, &buf, NULL, &info, NULL);
    CHECK(out != NULL);
    CHECK_EQ_INT(info.bit_depth, 10);
    int wrong = 0;
    for (int y = 0; out && y < H; y++)
        for (int i = 0; i < W * 3; i++)
            wrong +=
                out->data[(size_t)y * out->stride + (size_t)i] != ((y * 97 + i * 13) % 1024) >> 2;
    CHECK_EQ_INT(wrong, 0);
    tsr_image_free(out);
    tsr_buffer_free(&buf);
    tsr_ctx_free(ctx);
    heif_nclx_color_profile_free(nclx);
    heif_encoding_options_free(opt);
    heif_image_release(pic);
    heif_encoder_release(enc);
    heif_context_free(hc);
}

/* Every `box` box's payload in `buf` gets `bytes` at `at` (past the box type). */
static int patch_boxes(tsr_buffer *buf, const char *box, size_t at, const uint8_t *bytes,
                       size_t n) {
    int found = 0;
    for (size_t i = 4; i + 4 + at + n <= buf->len; i++)
        if (memcmp(buf->data + i, box, 4) == 0) {
            memcpy(buf->data + i + 4 + at, bytes, n);
            found++;
        }
    return found;
}

/* Decodes `buf` and checks for `want` with `text` in the message. */
static void refused(tsr_ctx *ctx, const tsr_buffer *buf, tsr_status want, const char *text) {
    tsr_status st;
    tsr_image_info info;
    tsr_image *img = decode(ctx, buf, NULL, NULL, &st);
    CHECK_EQ_INT(st, want);
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), text);
    tsr_image_free(img);
    tsr_ctx_reset(ctx);
    CHECK_EQ_INT(tsr_image_info_read(ctx, buf->data, buf->len, &info), want);
}

/* Declared sizes over the limits: ispe, libheif's side limit, a grid whose
 * payload asks for more than its ispe (our box walk), lowered limits. */
static void test_declared_sizes(void) {
    tsr_image *photo = load_data("chelsea.png"); /* 451 wide: libheif wraps it in a 1x1 grid */
    tsr_ctx *ctx = tsr_ctx_new();
    for (size_t f = 0; f < 2 && photo; f++) {
        tsr_buffer good, buf;
        tsr_encode_options fast = {.speed = 9};
        CHECK_EQ_INT(encode(photo, formats[f], &fast, &good), TSR_OK);
        static const uint8_t huge[8] = {0, 0, 0x75, 0x30, 0, 0, 0x75, 0x30}; /* 30000 x 30000 */
        static const uint8_t wide[8] = {0, 0, 0x9c, 0x40, 0, 0, 0, 100};     /* 40000 x 100 */
        static const uint8_t grid[4] = {0x75, 0x30, 0x75, 0x30};
        buf = (tsr_buffer){0};
        CHECK_EQ_INT(tsr_buffer_append(&buf, good.data, good.len), TSR_OK);
        CHECK(patch_boxes(&buf, "ispe", 4, huge, 8) >= 1);
        refused(ctx, &buf, TSR_ERR_LIMIT, "14 GB in one buffer is more than the single-buffer");
        memcpy(buf.data, good.data, good.len);
        patch_boxes(&buf, "ispe", 4, wide, 8);
        refused(ctx, &buf, TSR_ERR_LIMIT, "exceeds the maximum image size");
        memcpy(buf.data, good.data, good.len);
        if (formats[f] == TSR_FORMAT_HEIF) { /* HEVC codes even sizes: a 1x1 grid crops */
            CHECK_EQ_INT(patch_boxes(&buf, "idat", 4, grid, 4), 1); /* grid canvas, ispe kept */
            refused(ctx, &buf, TSR_ERR_LIMIT, "grid image: 14 GB in one buffer is more than");
        }
        tsr_limits small = {.max_width = 450};
        tsr_ctx_set_limits(ctx, &small);
        refused(ctx, &good, TSR_ERR_LIMIT, "451x300 is larger than the limit of 450x");
        tsr_limits few = {.max_pixels = 100000};
        tsr_ctx_set_limits(ctx, &few);
        refused(ctx, &good, TSR_ERR_LIMIT, "is more than the limit of");
        tsr_limits none = {0};
        tsr_ctx_set_limits(ctx, &none);
        tsr_buffer_free(&buf);
        tsr_buffer_free(&good);
    }
    tsr_ctx_free(ctx);
    tsr_image_free(photo);
}

/* A minimal file: ftyp (mif1) and a meta box holding `inner`. */
static void synthetic(tsr_buffer *out, const uint8_t *inner, size_t n) {
    static const uint8_t ftyp[16] = {0,   0,   0,   16,  'f', 't', 'y', 'p',
                                     'm', 'i', 'f', '1', 0,   0,   0,   0};
    uint8_t meta[12] = {0, 0, 0, 0, 'm', 'e', 't', 'a', 0, 0, 0, 0};
    uint32_t size = (uint32_t)(12 + n);
    meta[0] = (uint8_t)(size >> 24), meta[1] = (uint8_t)(size >> 16);
    meta[2] = (uint8_t)(size >> 8), meta[3] = (uint8_t)size;
    *out = (tsr_buffer){0};
    tsr_buffer_append(out, ftyp, 16);
    tsr_buffer_append(out, meta, 12);
    tsr_buffer_append(out, inner, n);
}

/* Appends an infe (version 2) box of item `id` and `type`. */
static void infe(tsr_buffer *b, int id, const char *type) {
    uint8_t e[21] = {0, 0, 0, 21, 'i', 'n', 'f', 'e', 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    e[12] = (uint8_t)(id >> 8), e[13] = (uint8_t)id;
    memcpy(e + 16, type, 4);
    tsr_buffer_append(b, e, sizeof e);
}

/* Too many derived images; a grid item whose payload is missing (our walk
 * refuses both before libheif parses anything); a meta box cut short. */
static void test_derived_items(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_buffer inner = {0}, file;
    uint8_t iinf[14] = {0, 0, 0, 0, 'i', 'i', 'n', 'f', 0, 0, 0, 0, 0x01, 0x01};
    size_t size = 14 + 257 * 21;
    iinf[0] = (uint8_t)(size >> 24), iinf[1] = (uint8_t)(size >> 16);
    iinf[2] = (uint8_t)(size >> 8), iinf[3] = (uint8_t)size;
    tsr_buffer_append(&inner, iinf, sizeof iinf);
    for (int i = 1; i <= 257; i++)
        infe(&inner, i, "grid");
    synthetic(&file, inner.data, inner.len);
    refused(ctx, &file, TSR_ERR_LIMIT, "more than 256 derived images");
    tsr_buffer_free(&file);
    /* One grid item whose iloc entry points into an idat box that is not there. */
    static const uint8_t one[14] = {0, 0, 0, 35, 'i', 'i', 'n', 'f', 0, 0, 0, 0, 0, 1};
    static const uint8_t iloc[32] = {
        0, 0, 0, 32, 'i',  'l',  'o', 'c',
        1, 0, 0, 0,  0x44, 0x00, 0,   1, /* v1, 4-byte fields, 1 item */
        0, 1, 0, 1,  0,    0,    0,   1, /* id 1, construction method 1 (idat), 1 extent */
        0, 0, 0, 0,  0,    0,    0,   8, /* offset 0, length 8 */
    };
    inner.len = 0;
    tsr_buffer_append(&inner, one, sizeof one);
    infe(&inner, 1, "grid");
    tsr_buffer_append(&inner, iloc, sizeof iloc);
    synthetic(&file, inner.data, inner.len);
    refused(ctx, &file, TSR_ERR_CORRUPT, "grid item data");
    file.data[16 + 12 + 35 + 14] = 0x4f; /* iloc item count 1 -> 0x4f01 = 20225 */
    refused(ctx, &file, TSR_ERR_LIMIT, "20225 items, more than 20000");
    file.data[16 + 12 + 35 + 14] = 0;
    file.data[19] = 0xff; /* the meta box now runs past the end of the file */
    refused(ctx, &file, TSR_ERR_CORRUPT, "bad top-level box");
    tsr_buffer_free(&file);
    tsr_buffer_free(&inner);
    tsr_ctx_free(ctx);
}

/* Cuts anywhere and single-byte flips in the first 600 bytes (the boxes):
 * never a crash, never an image with an error, no image from a cut file. */
static void test_cuts_and_flips(void) {
    tsr_image *photo = load_data("chelsea.png");
    tsr_image *small = crop(photo, 0, 0, 97, 61);
    tsr_ctx *ctx = tsr_ctx_new();
    for (size_t f = 0; f < 2 && small; f++) {
        tsr_buffer good, buf = {0};
        tsr_encode_options fast = {.speed = 9};
        CHECK_EQ_INT(encode(small, formats[f], &fast, &good), TSR_OK);
        tsr_buffer_append(&buf, good.data, good.len);
        int decoded = 0, failed = 0;
        for (size_t cut = 0; cut < good.len; cut += cut < 64 ? 1 : good.len / 29 + 1) {
            tsr_status st;
            buf.len = cut;
            tsr_image_free(decode(ctx, &buf, NULL, NULL, &st));
            CHECK(st == TSR_ERR_CORRUPT || st == TSR_ERR_FORMAT);
        }
        buf.len = good.len;
        for (size_t i = 0; i < good.len && i < 600; i++) {
            tsr_status st;
            memcpy(buf.data, good.data, good.len);
            buf.data[i] ^= (uint8_t)(0x5a + i);
            tsr_image *img = decode(ctx, &buf, NULL, NULL, &st);
            if (img)
                CHECK(img->width > 0 && img->width <= 97 * 2);
            img ? decoded++ : failed++;
            tsr_image_free(img);
        }
        printf("     %s flips: %d decoded, %d refused\n", tsr_format_name(formats[f]), decoded,
               failed);
        tsr_buffer_free(&buf);
        tsr_buffer_free(&good);
    }
    tsr_ctx_free(ctx);
    tsr_image_free(small);
    tsr_image_free(photo);
}

int main(void) {
    RUN(test_detect_brands);
    RUN(test_round_trip_bands);
    RUN(test_lossless_exact);
    RUN(test_options);
    RUN(test_orientation_once);
    RUN(test_ten_bits);
    RUN(test_declared_sizes);
    RUN(test_derived_items);
    RUN(test_cuts_and_flips);
    return check_finish();
}
