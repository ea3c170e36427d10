/* Animated GIF and WebP frame by frame (tessera/anim.h): composition with
 * each disposal method and transparency against frames worked out by hand,
 * writer round trips (pixels, delays, loop count), frame choice, and the
 * frame count and total pixel caps. */
#include <gif_lib.h>

#include "check.h"
#include "image/codecs/helpers.h"
#include "tessera/anim.h"

static int write_fn(GifFileType *g, const GifByteType *src, int n) {
    return tsr_buffer_append(g->UserData, src, (size_t)n) ? 0 : n;
}

/* One frame of the hand-made GIF: a rectangle of one palette index. */
typedef struct hand_frame {
    int x, y, w, h;  /* rectangle on the 4x4 screen */
    int index;       /* colour index filling it */
    int disposal;    /* disposal method */
    int transparent; /* transparent index or -1 */
    int delay_cs;    /* delay in hundredths */
} hand_frame;

static const hand_frame hand[4] = {
    {0, 0, 4, 4, 0, DISPOSE_DO_NOT, -1, 10},
    {1, 1, 2, 2, 1, DISPOSE_BACKGROUND, -1, 20},
    {0, 0, 2, 1, 2, DISPOSE_PREVIOUS, 3, 30}, /* (1,0) is the transparent index 3 */
    {2, 2, 2, 2, 3, DISPOSAL_UNSPECIFIED, -1, 40},
};
static const GifColorType colours[4] = {{200, 10, 10}, {10, 200, 10}, {10, 10, 200}, {90, 90, 90}};

/* A 4x4 GIF with the frames above, NETSCAPE2.0 value 5: 6 plays (giflib's encoder). */
static void make_gif(tsr_buffer *out) {
    int err;
    GifFileType *g = EGifOpen(out, write_fn, &err);
    ColorMapObject *map = GifMakeMapObject(4, colours);
    EGifSetGifVersion(g, true);
    EGifPutScreenDesc(g, 4, 4, 8, 0, map);
    EGifPutExtensionLeader(g, APPLICATION_EXT_FUNC_CODE);
    EGifPutExtensionBlock(g, 11, "NETSCAPE2.0");
    EGifPutExtensionBlock(g, 3, (uint8_t[]){1, 5, 0});
    EGifPutExtensionTrailer(g);
    for (int i = 0; i < 4; i++) {
        const hand_frame *f = &hand[i];
        GraphicsControlBlock gcb = {.DisposalMode = f->disposal,
                                    .DelayTime = f->delay_cs,
                                    .TransparentColor = f->transparent};
        GifByteType ext[4];
        EGifGCBToExtension(&gcb, ext);
        EGifPutExtension(g, GRAPHICS_EXT_FUNC_CODE, 4, ext);
        EGifPutImageDesc(g, f->x, f->y, f->w, f->h, false, NULL);
        for (int y = 0; y < f->h; y++) {
            GifPixelType line[4] = {f->index, f->index, f->index, f->index};
            if (i == 2 && y == 0)
                line[1] = 3;
            EGifPutLine(g, line, f->w);
        }
    }
    EGifCloseFile(g, &err);
    GifFreeMapObject(map);
}

/* Expected composed frames: 'A'..'D' the colours, '.' transparent. */
static const char *const expected[4] = {
    "AAAA"
    "AAAA"
    "AAAA"
    "AAAA",
    "AAAA"
    "ABBA"
    "ABBA"
    "AAAA",
    "CAAA"
    "A..A"
    "A..A"
    "AAAA", /* frame 1 cleared; (1,0) transparent shows A below */
    "AAAA"
    "A..A"
    "A.DD"
    "AADD", /* frame 2 undone by disposal 3 */
};

static int frame_matches(const tsr_image *f, const char *want) {
    for (int i = 0; i < 16; i++) {
        const uint8_t *px = f->data + (size_t)(i / 4) * f->stride + (size_t)(i % 4) * 4;
        uint8_t rgba[4] = {0, 0, 0, 0};
        if (want[i] != '.') {
            const GifColorType *c = &colours[want[i] - 'A'];
            rgba[0] = c->Red, rgba[1] = c->Green, rgba[2] = c->Blue, rgba[3] = 255;
        }
        if (memcmp(px, rgba, 4) != 0) {
            fprintf(stderr, "pixel %d: %d,%d,%d,%d, expected '%c'\n", i, px[0], px[1], px[2], px[3],
                    want[i]);
            return 0;
        }
    }
    return 1;
}

static void test_gif_composition(void) {
    tsr_buffer gif = {0};
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_frame_reader *r = NULL;
    tsr_anim_info a;
    make_gif(&gif);
    CHECK_EQ_INT(tsr_frame_reader_open(ctx, gif.data, gif.len, &r, &a), TSR_OK);
    CHECK_EQ_INT(a.frames, 4);
    CHECK_EQ_INT(a.bands, 4);
    CHECK_EQ_INT(a.loop_count, 6); /* 5 repeats after the first play */
    for (int i = 0; r && i < 4; i++) {
        const tsr_image *f;
        int delay = -1;
        CHECK_EQ_INT(tsr_frame_reader_next(r, &f, &delay), TSR_OK);
        CHECK_EQ_INT(delay, hand[i].delay_cs * 10);
        if (!frame_matches(f, expected[i]))
            CHECK(!"frame composed as expected");
    }
    const tsr_image *f;
    CHECK_EQ_INT(tsr_frame_reader_next(r, &f, NULL), TSR_ERR_INTERNAL);
    tsr_frame_reader_free(r);
    /* a frame alone, as tsr_image_decode gives it */
    tsr_decode_options opts = {.frame = 2};
    tsr_image *img = NULL;
    tsr_ctx_reset(ctx);
    CHECK_EQ_INT(tsr_image_decode(ctx, gif.data, gif.len, &opts, &img, NULL), TSR_OK);
    CHECK(img && frame_matches(img, expected[2]));
    tsr_image_free(img);
    opts.frame = 4;
    tsr_ctx_reset(ctx);
    CHECK_EQ_INT(tsr_image_decode(ctx, gif.data, gif.len, &opts, &img, NULL), TSR_ERR_USAGE);
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "the input has 4 frames (0..3)");
    tsr_buffer_free(&gif);
    tsr_ctx_free(ctx);
}

/* Frames of a photo shifted a little each time, with `bands` bands. */
static tsr_image *moving_frame(const tsr_image *photo, int i, int bands) {
    tsr_image *f = NULL;
    tsr_image *src = with_bands(photo, bands);
    if (tsr_image_new(NULL, 96, 64, bands, &f) || !src)
        return NULL;
    for (int y = 0; y < 64; y++)
        memcpy(f->data + (size_t)y * f->stride,
               src->data + (size_t)(y + 5 * i) * src->stride + (size_t)(7 * i) * (size_t)bands,
               (size_t)96 * (size_t)bands);
    tsr_image_free(src);
    return f;
}

/* Whether a and b (same shape) agree in alpha everywhere and in colour
 * wherever alpha is not 0 (an encoder may change what nobody sees). */
static int same_visible(const tsr_image *a, const tsr_image *b) {
    if (a->width != b->width || a->height != b->height || a->bands != b->bands)
        return 0;
    for (int y = 0; y < a->height; y++)
        for (int x = 0; x < a->width; x++) {
            const uint8_t *p = a->data + (size_t)y * a->stride + (size_t)x * (size_t)a->bands;
            const uint8_t *q = b->data + (size_t)y * b->stride + (size_t)x * (size_t)b->bands;
            int alpha = a->bands == 2 || a->bands == 4;
            if (alpha && p[a->bands - 1] != q[b->bands - 1])
                return 0;
            if ((!alpha || p[a->bands - 1]) && memcmp(p, q, (size_t)(a->bands - alpha)))
                return 0;
        }
    return 1;
}

/* Writes 3 frames in `format`, reads them back and compares. */
static void round_trip(tsr_format format, int bands, int loop, bool lossless) {
    tsr_image *photo = load_data("chelsea.png");
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_frame_writer *w = NULL;
    tsr_frame_reader *r = NULL;
    tsr_buffer out = {0};
    tsr_anim_info a;
    tsr_encode_options o = {.compression = -1, .lossless = lossless};
    static const int delays[3] = {100, 250, 40};
    CHECK_EQ_INT(tsr_frame_writer_open(ctx, format, 96, 64, bands, loop, &o, &w), TSR_OK);
    for (int i = 0; w && i < 3; i++) {
        tsr_image *f = moving_frame(photo, i, bands);
        CHECK_EQ_INT(tsr_frame_writer_add(w, f, delays[i]), TSR_OK);
        tsr_image_free(f);
    }
    CHECK_EQ_INT(tsr_frame_writer_finish(w, &out), TSR_OK);
    CHECK_EQ_INT(tsr_frame_reader_open(ctx, out.data, out.len, &r, &a), TSR_OK);
    CHECK_EQ_INT(a.frames, 3);
    CHECK_EQ_INT(a.loop_count, loop);
    for (int i = 0; r && i < 3; i++) {
        const tsr_image *got;
        int delay;
        tsr_image *want = moving_frame(photo, i, bands);
        tsr_image *rgb = convert(want, a.bands);
        CHECK_EQ_INT(tsr_frame_reader_next(r, &got, &delay), TSR_OK);
        CHECK_EQ_INT(delay, delays[i]);
        if (got && (lossless || bands == 1))
            CHECK(same_visible(got, rgb));
        else if (got)
            CHECK(psnr(got, rgb, 3) > 28);
        tsr_image_free(want);
        tsr_image_free(rgb);
    }
    tsr_frame_reader_free(r);
    tsr_frame_writer_free(w);
    tsr_buffer_free(&out);
    tsr_image_free(photo);
    tsr_ctx_free(ctx);
}

static void test_writers(void) {
    round_trip(TSR_FORMAT_GIF, 1, 0, false); /* gray: exact palette */
    round_trip(TSR_FORMAT_GIF, 3, 3, false); /* colour: median cut */
    round_trip(TSR_FORMAT_GIF, 3, 1, false); /* plays once: no loop extension */
    round_trip(TSR_FORMAT_WEBP, 3, 0, true); /* lossless: exact */
    round_trip(TSR_FORMAT_WEBP, 4, 2, true);
    round_trip(TSR_FORMAT_WEBP, 3, 0, false); /* lossy */
}

/* A GIF of `frames` 1x1 frames on a width x height screen: a tiny file
 * that decodes to width*height*frames pixels. */
static void make_bomb(tsr_buffer *out, int width, int height, int frames) {
    int err;
    GifFileType *g = EGifOpen(out, write_fn, &err);
    ColorMapObject *map = GifMakeMapObject(2, colours);
    EGifPutScreenDesc(g, width, height, 8, 0, map);
    for (int i = 0; i < frames; i++) {
        GifPixelType px = 1;
        EGifPutImageDesc(g, 0, 0, 1, 1, false, NULL);
        EGifPutLine(g, &px, 1);
    }
    EGifCloseFile(g, &err);
    GifFreeMapObject(map);
}

static void test_caps(void) {
    tsr_buffer bomb = {0};
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_frame_reader *r = NULL;
    tsr_image_info info;
    make_bomb(&bomb, 2000, 2000, 300); /* 1.2 GP in all, a few kB */
    tsr_limits l = {.max_total_pixels = 1000u * 1000u * 1000u};
    tsr_ctx_set_limits(ctx, &l);
    CHECK_EQ_INT(tsr_frame_reader_open(ctx, bomb.data, bomb.len, &r, NULL), TSR_ERR_LIMIT);
    CHECK(r == NULL);
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "more than the limit of 1.000 GP for all frames");
    tsr_ctx_reset(ctx);
    CHECK_EQ_INT(tsr_image_info_read(ctx, bomb.data, bomb.len, &info), TSR_ERR_LIMIT);
    l.max_total_pixels = 0;
    l.max_frames = 100;
    tsr_ctx_set_limits(ctx, &l);
    tsr_ctx_reset(ctx);
    CHECK_EQ_INT(tsr_frame_reader_open(ctx, bomb.data, bomb.len, &r, NULL), TSR_ERR_LIMIT);
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "limit of 100 frames");
    l.max_frames = 0;
    tsr_ctx_set_limits(ctx, &l);
    tsr_ctx_reset(ctx);
    CHECK_EQ_INT(tsr_image_info_read(ctx, bomb.data, bomb.len, &info), TSR_OK);
    CHECK_EQ_INT(info.frames, 300);
    CHECK(tsr_image_info_animated(&info));
    tsr_buffer_free(&bomb);
    tsr_ctx_free(ctx);
}

static void test_still_is_not_animated(void) {
    tsr_buffer buf;
    tsr_image_info info;
    tsr_ctx *ctx = tsr_ctx_new();
    CHECK(read_data("chelsea.gif", &buf) == 0);
    CHECK_EQ_INT(tsr_image_info_read(ctx, buf.data, buf.len, &info), TSR_OK);
    CHECK_EQ_INT(info.frames, 1);
    CHECK(!tsr_image_info_animated(&info));
    tsr_buffer_free(&buf);
    CHECK(read_data("anim.gif", &buf) == 0);
    CHECK_EQ_INT(tsr_image_info_read(ctx, buf.data, buf.len, &info), TSR_OK);
    CHECK(tsr_image_info_animated(&info));
    tsr_buffer_free(&buf);
    tsr_ctx_free(ctx);
}

int main(void) {
    RUN(test_gif_composition);
    RUN(test_writers);
    RUN(test_caps);
    RUN(test_still_is_not_animated);
    return check_finish();
}
