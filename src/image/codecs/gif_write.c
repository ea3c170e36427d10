/*
 * GIF writer: full-canvas frames, each with its own (local) colour table.
 *
 * Palette: a frame whose opaque pixels have at most 256 colours (255 when
 * it also has transparent pixels) gets exactly those colours, in order of
 * first appearance, so gray images and frames that came from a GIF keep
 * their pixels exactly. Other frames go through giflib's GifQuantizeBuffer
 * (Heckbert's median cut on colours reduced to 5 bits per channel; each
 * entry is the mean of its box), without dithering. A pixel with alpha
 * below 128 becomes the transparent index, the entry after the colours.
 *
 * Animation: GIF89a, a NETSCAPE2.0 loop extension unless it plays once, a graphics control block
 * per frame with its delay (hundredths of a second, rounded to nearest) and disposal 2 (restore to
 * background) when frames have alpha, so that a transparent pixel shows transparent rather than the
 * previous frame; 1 (leave in place) otherwise. Every frame covers the canvas, so the input's
 * disposal methods, already applied by the reader, do not carry over.
 */
#include <stdlib.h>
#include <string.h>

#include "gif_internal.h"

#define EXACT_SLOTS 1024 /* open-addressing table for up to 256 colours */

/* The encoder between frames. */
typedef struct gif_out {
    tsr_buffer bytes;      /* the file so far */
    GifFileType *g;        /* giflib's encoder */
    uint8_t *indices;      /* one frame's palette indices, width x height */
    GifColorType map[256]; /* one frame's palette */
    int colors;            /* entries of `map` in use, the transparent one included */
    int transparent;       /* its transparent index, NO_TRANSPARENT_COLOR when none */
} gif_out;

static int write_fn(GifFileType *g, const GifByteType *src, int n) {
    return tsr_buffer_append(g->UserData, src, (size_t)n) ? 0 : n;
}

static tsr_status encode_fail(tsr_frame_writer *w, int err) {
    const char *msg = GifErrorString(err);
    if (err == E_GIF_ERR_NOT_ENOUGH_MEM || err == E_GIF_ERR_WRITE_FAILED)
        return tsr_error(w->ctx, TSR_ERR_NOMEM, "gif: out of memory while encoding");
    return tsr_error(w->ctx, TSR_ERR_INTERNAL, "gif: encoding failed: %s",
                     msg ? msg : "unknown error");
}

/* RGB of pixel `px` as 0xRRGGBB (gray repeated). */
static uint32_t rgb_of(const uint8_t *px, int bands) {
    if (bands < 3)
        return (uint32_t)px[0] * 0x010101u;
    return (uint32_t)px[0] << 16 | (uint32_t)px[1] << 8 | px[2];
}

static bool opaque(const uint8_t *px, int bands) {
    return bands == 1 || bands == 3 || px[bands - 1] >= 128;
}

/* Exact palette: fills o->map and o->indices when the opaque pixels have
 * at most `limit` colours; false (nothing usable) when they have more. */
static bool exact_palette(gif_out *o, const tsr_image *f, int limit) {
    uint32_t keys[EXACT_SLOTS]; /* colour + 1, 0 = empty */
    uint8_t slot_index[EXACT_SLOTS];
    int n = 0;
    memset(keys, 0, sizeof keys);
    for (int y = 0; y < f->height; y++) {
        const uint8_t *px = f->data + (size_t)y * f->stride;
        uint8_t *out = o->indices + (size_t)y * (size_t)f->width;
        for (int x = 0; x < f->width; x++, px += f->bands) {
            if (!opaque(px, f->bands))
                continue;
            uint32_t c = rgb_of(px, f->bands), h = (c * 2654435761u) >> 22;
            while (keys[h] && keys[h] != c + 1)
                h = (h + 1) & (EXACT_SLOTS - 1);
            if (!keys[h]) {
                if (n == limit)
                    return false;
                keys[h] = c + 1, slot_index[h] = (uint8_t)n;
                o->map[n] =
                    (GifColorType){(GifByteType)(c >> 16), (GifByteType)(c >> 8), (GifByteType)c};
                n++;
            }
            out[x] = slot_index[h];
        }
    }
    o->colors = n;
    return true;
}

/* Median cut of the opaque pixels with giflib to at most `limit` colours. */
static tsr_status median_cut(tsr_frame_writer *w, gif_out *o, const tsr_image *f, int limit) {
    size_t n = 0, total = (size_t)f->width * (size_t)f->height;
    uint8_t *rgb = malloc(total * 4);
    if (!rgb)
        return tsr_error(w->ctx, TSR_ERR_NOMEM, "gif: out of memory quantising a frame");
    uint8_t *red = rgb, *green = rgb + total, *blue = rgb + 2 * total, *idx = rgb + 3 * total;
    for (int y = 0; y < f->height; y++) {
        const uint8_t *px = f->data + (size_t)y * f->stride;
        for (int x = 0; x < f->width; x++, px += f->bands) {
            if (!opaque(px, f->bands))
                continue;
            uint32_t c = rgb_of(px, f->bands);
            red[n] = (uint8_t)(c >> 16), green[n] = (uint8_t)(c >> 8), blue[n] = (uint8_t)c;
            n++;
        }
    }
    int size = limit;
    tsr_status st = TSR_OK;
    if (GifQuantizeBuffer((unsigned)n, 1, &size, red, green, blue, idx, o->map) == GIF_ERROR)
        st = tsr_error(w->ctx, TSR_ERR_NOMEM, "gif: quantising a frame failed");
    o->colors = size;
    for (size_t i = 0, k = 0; !st && i < total; i++)
        if (opaque(f->data + (i / (size_t)f->width) * f->stride +
                       (i % (size_t)f->width) * (size_t)f->bands,
                   f->bands))
            o->indices[i] = idx[k++];
    free(rgb);
    return st;
}

/* Whether any pixel of `f` is transparent (alpha below 128). */
static bool has_transparent(const tsr_image *f) {
    if (f->bands == 1 || f->bands == 3)
        return false;
    for (int y = 0; y < f->height; y++) {
        const uint8_t *px = f->data + (size_t)y * f->stride;
        for (int x = 0; x < f->width; x++, px += f->bands)
            if (!opaque(px, f->bands))
                return true;
    }
    return false;
}

/* Palette and indices of one frame in o->map, o->indices, o->colors,
 * o->transparent. */
static tsr_status quantise(tsr_frame_writer *w, gif_out *o, const tsr_image *f) {
    bool clear = has_transparent(f);
    int limit = clear ? 255 : 256;
    tsr_status st = TSR_OK;
    memset(o->map, 0, sizeof o->map);
    if (!exact_palette(o, f, limit))
        st = median_cut(w, o, f, limit);
    if (st)
        return st;
    o->transparent = NO_TRANSPARENT_COLOR;
    if (clear) {
        o->transparent = o->colors++;
        size_t total = (size_t)f->width * (size_t)f->height;
        for (size_t i = 0; i < total; i++)
            if (!opaque(f->data + (i / (size_t)f->width) * f->stride +
                            (i % (size_t)f->width) * (size_t)f->bands,
                        f->bands))
                o->indices[i] = (uint8_t)o->transparent;
    }
    return TSR_OK;
}

/* Writes the NETSCAPE2.0 loop extension for `plays` plays (0 = forever):
 * its value counts the repeats after the first play. */
static int put_loop(GifFileType *g, int plays) {
    int repeats = plays > 0 ? plays - 1 : 0;
    uint8_t sub[3] = {1, (uint8_t)(repeats & 0xff), (uint8_t)(repeats >> 8)};
    if (EGifPutExtensionLeader(g, APPLICATION_EXT_FUNC_CODE) == GIF_ERROR ||
        EGifPutExtensionBlock(g, 11, "NETSCAPE2.0") == GIF_ERROR ||
        EGifPutExtensionBlock(g, 3, sub) == GIF_ERROR)
        return GIF_ERROR;
    return EGifPutExtensionTrailer(g);
}

/* Writes the control block and the frame's descriptor, palette and rows. */
static tsr_status put_frame(tsr_frame_writer *w, gif_out *o, int delay_ms) {
    GifFileType *g = o->g;
    int size = 2;
    while (size < o->colors)
        size *= 2;
    if (!w->still || o->transparent != NO_TRANSPARENT_COLOR) {
        bool alpha = w->bands == 2 || w->bands == 4;
        GraphicsControlBlock gcb = {.DisposalMode = alpha ? DISPOSE_BACKGROUND : DISPOSE_DO_NOT,
                                    .DelayTime = delay_ms >= 655350 ? 65535 : (delay_ms + 5) / 10,
                                    .TransparentColor = o->transparent};
        GifByteType ext[4];
        size_t n = EGifGCBToExtension(&gcb, ext);
        if (EGifPutExtension(g, GRAPHICS_EXT_FUNC_CODE, (int)n, ext) == GIF_ERROR)
            return encode_fail(w, g->Error);
    }
    ColorMapObject *map = GifMakeMapObject(size, o->map);
    if (!map)
        return tsr_error(w->ctx, TSR_ERR_NOMEM, "gif: out of memory");
    int rc = EGifPutImageDesc(g, 0, 0, w->width, w->height, false, map);
    GifFreeMapObject(map);
    if (rc == GIF_ERROR)
        return encode_fail(w, g->Error);
    for (int y = 0; y < w->height; y++)
        if (EGifPutLine(g, o->indices + (size_t)y * (size_t)w->width, w->width) == GIF_ERROR)
            return encode_fail(w, g->Error);
    return TSR_OK;
}

static tsr_status add_gif(tsr_frame_writer *w, const tsr_image *frame, int delay_ms) {
    gif_out *o = w->state;
    tsr_status st = quantise(w, o, frame);
    return st ? st : put_frame(w, o, delay_ms);
}

static tsr_status finish_gif(tsr_frame_writer *w, tsr_buffer *out) {
    gif_out *o = w->state;
    int err = 0;
    int rc = EGifCloseFile(o->g, &err);
    o->g = NULL;
    if (rc == GIF_ERROR)
        return encode_fail(w, err);
    return tsr_codec_append(w->ctx, out, o->bytes.data, o->bytes.len, "gif");
}

static void close_gif(tsr_frame_writer *w) {
    gif_out *o = w->state;
    int err;
    if (!o)
        return;
    if (o->g)
        EGifCloseFile(o->g, &err);
    tsr_buffer_free(&o->bytes);
    free(o->indices);
    free(o);
    w->state = NULL;
}

tsr_status tsr_gif_writer_open(tsr_frame_writer *w) {
    int err = 0;
    if (w->width > 65535 || w->height > 65535)
        return tsr_error(w->ctx, TSR_ERR_USAGE, "gif: %dx%d is larger than GIF's 65535x65535",
                         w->width, w->height);
    gif_out *o = calloc(1, sizeof *o);
    if (!o)
        return tsr_error(w->ctx, TSR_ERR_NOMEM, "gif: out of memory");
    w->state = o;
    w->add = add_gif, w->finish = finish_gif, w->close = close_gif;
    o->indices = malloc((size_t)w->width * (size_t)w->height);
    if (!o->indices || !(o->g = EGifOpen(&o->bytes, write_fn, &err)))
        return tsr_error(w->ctx, TSR_ERR_NOMEM, "gif: cannot start the encoder");
    bool alpha = w->bands == 2 || w->bands == 4;
    EGifSetGifVersion(o->g, !w->still || alpha);
    if (EGifPutScreenDesc(o->g, w->width, w->height, 8, 0, NULL) == GIF_ERROR ||
        (!w->still && w->loop_count != 1 && put_loop(o->g, w->loop_count) == GIF_ERROR))
        return encode_fail(w, o->g->Error);
    return TSR_OK;
}
