/* GIF through giflib: the first frame composed on the logical screen (RGBA
 * when it is transparent or does not cover the screen, else RGB); the other
 * frames are counted without being decoded. Encode: one frame, a 6x7x6
 * colour cube or a 256-level gray palette; alpha is dropped. */
#include <gif_lib.h>
#include <stdlib.h>
#include <string.h>

#include "codec_internal.h"

/* A read cursor over the input bytes for giflib's callback. */
typedef struct reader {
    const uint8_t *bytes; /* the whole file */
    size_t len;           /* its length */
    size_t pos;           /* next byte to hand out */
} reader;

/* What walking the records found. */
typedef struct walk_state {
    int transparent;       /* first frame's transparent index, -1 when none */
    int frames;            /* image descriptors seen */
    int left, top, fw, fh; /* first frame's rectangle */
} walk_state;

static bool sniff(const uint8_t *b, size_t len) {
    return len >= 6 && (memcmp(b, "GIF87a", 6) == 0 || memcmp(b, "GIF89a", 6) == 0);
}

static int read_fn(GifFileType *g, GifByteType *dst, int n) {
    reader *r = g->UserData;
    size_t left = r->len - r->pos;
    size_t take = n < 0 ? 0 : (size_t)n < left ? (size_t)n : left;
    memcpy(dst, r->bytes + r->pos, take);
    r->pos += take;
    return (int)take;
}

static tsr_status gif_fail(tsr_ctx *ctx, int code, const char *doing) {
    const char *msg = GifErrorString(code);
    tsr_status st = code == D_GIF_ERR_NOT_ENOUGH_MEM ? TSR_ERR_NOMEM : TSR_ERR_CORRUPT;
    return tsr_error(ctx, st, "gif: %s: %s", doing, msg ? msg : "unknown error");
}

/* Skips the LZW data of a frame without decoding it. */
static int skip_frame(GifFileType *g) {
    int code_size;
    GifByteType *block;
    if (DGifGetCode(g, &code_size, &block) == GIF_ERROR)
        return GIF_ERROR;
    while (block)
        if (DGifGetCodeNext(g, &block) == GIF_ERROR)
            return GIF_ERROR;
    return GIF_OK;
}

/* Expands the first frame's indices onto the canvas, row by row
 * (de-interlacing when needed), clipped to the screen. */
static tsr_status draw_frame(tsr_ctx *ctx, GifFileType *g, const walk_state *w, tsr_image *canvas) {
    static const int start[4] = {0, 4, 2, 1}, step[4] = {8, 8, 4, 2};
    const ColorMapObject *map = g->Image.ColorMap ? g->Image.ColorMap : g->SColorMap;
    uint8_t palette[256][3] = {{0}};
    if (!map || !map->Colors)
        return tsr_error(ctx, TSR_ERR_CORRUPT, "gif: the first frame has no colour table");
    for (int i = 0; i < map->ColorCount && i < 256; i++) {
        palette[i][0] = map->Colors[i].Red;
        palette[i][1] = map->Colors[i].Green;
        palette[i][2] = map->Colors[i].Blue;
    }
    GifPixelType *line = malloc((size_t)w->fw);
    if (!line)
        return tsr_error(ctx, TSR_ERR_NOMEM, "gif: out of memory");
    int passes = g->Image.Interlace ? 4 : 1;
    tsr_status st = TSR_OK;
    for (int p = 0; p < passes && !st; p++) {
        for (int y = passes > 1 ? start[p] : 0; y<w->fh; y += passes> 1 ? step[p] : 1) {
            if (DGifGetLine(g, line, w->fw) == GIF_ERROR) {
                st = gif_fail(ctx, g->Error, "decoding the first frame");
                break;
            }
            int cy = w->top + y;
            if (cy < 0 || cy >= canvas->height)
                continue;
            uint8_t *row = canvas->data + (size_t)cy * canvas->stride;
            for (int x = 0; x < w->fw; x++) {
                int cx = w->left + x;
                if (cx >= canvas->width)
                    break;
                if (line[x] == w->transparent)
                    continue;
                uint8_t *px = row + (size_t)cx * (size_t)canvas->bands;
                memcpy(px, palette[line[x]], 3);
                if (canvas->bands == 4)
                    px[3] = 255;
            }
        }
    }
    free(line);
    return st;
}

/* Reads an extension record; the first frame's graphics control block
 * gives its transparent index. */
static tsr_status read_extension(tsr_ctx *ctx, GifFileType *g, walk_state *w) {
    int code;
    GifByteType *ext;
    if (DGifGetExtension(g, &code, &ext) == GIF_ERROR)
        return gif_fail(ctx, g->Error, "reading an extension");
    if (code == GRAPHICS_EXT_FUNC_CODE && ext && ext[0] >= 4 && w->frames == 0)
        w->transparent = (ext[1] & 1) ? ext[4] : -1;
    while (ext)
        if (DGifGetExtensionNext(g, &ext) == GIF_ERROR)
            return gif_fail(ctx, g->Error, "reading an extension");
    return TSR_OK;
}

/* The first frame, its descriptor just read: notes its rectangle, settles
 * the screen size *sw x *sh (the frame's extent when the screen declares
 * none) and the bands, then composes it on a new *canvas, or skips its
 * data when canvas is NULL. */
static tsr_status first_frame(tsr_ctx *ctx, GifFileType *g, walk_state *w, int *sw, int *sh,
                              tsr_image_info *info, tsr_image **canvas) {
    const GifImageDesc *d = &g->Image;
    w->left = d->Left, w->top = d->Top, w->fw = d->Width, w->fh = d->Height;
    if (*sw <= 0 || *sh <= 0)
        *sw = w->left + w->fw, *sh = w->top + w->fh;
    tsr_status st = tsr_limits_check(ctx, "gif", (uint64_t)*sw, (uint64_t)*sh, 4);
    if (st)
        return st;
    bool covers = w->left == 0 && w->top == 0 && w->fw >= *sw && w->fh >= *sh;
    info->bands = w->transparent >= 0 || !covers ? 4 : 3;
    if (!canvas)
        return skip_frame(g) == GIF_ERROR ? gif_fail(ctx, g->Error, "reading a frame") : TSR_OK;
    if ((st = tsr_image_new(ctx, *sw, *sh, info->bands, canvas)))
        return st;
    return draw_frame(ctx, g, w, *canvas);
}

/*
 * Walks every record: counts frames (capped by max_frames), notes the first
 * frame's transparency and rectangle, and when `out` is not NULL composes
 * the first frame on a canvas. Fills `info`.
 */
static tsr_status walk(tsr_ctx *ctx, const uint8_t *bytes, size_t len, tsr_image_info *info,
                       tsr_image **out) {
    reader r = {bytes, len, 0};
    walk_state w = {.transparent = -1};
    tsr_image *canvas = NULL;
    int err = 0;
    tsr_status st = TSR_OK;
    GifFileType *g = DGifOpen(&r, read_fn, &err);
    if (!g)
        return gif_fail(ctx, err, "reading the header");
    int sw = g->SWidth, sh = g->SHeight;
    if (sw > 0 && sh > 0 && (st = tsr_limits_check(ctx, "gif", (uint64_t)sw, (uint64_t)sh, 4)))
        goto out;
    uint32_t max_frames = tsr_ctx_limits(ctx)->max_frames;
    for (;;) {
        GifRecordType type;
        if (DGifGetRecordType(g, &type) == GIF_ERROR) {
            st = gif_fail(ctx, g->Error, "reading a record");
            goto out;
        }
        if (type == TERMINATE_RECORD_TYPE)
            break;
        if (type == EXTENSION_RECORD_TYPE) {
            if ((st = read_extension(ctx, g, &w)))
                goto out;
            continue;
        }
        if (type != IMAGE_DESC_RECORD_TYPE)
            continue;
        if (DGifGetImageDesc(g) == GIF_ERROR) {
            st = gif_fail(ctx, g->Error, "reading a frame header");
            goto out;
        }
        if ((uint32_t)++w.frames > max_frames) {
            st = tsr_error(ctx, TSR_ERR_LIMIT, "gif: more than the limit of %u frames", max_frames);
            goto out;
        }
        GifImageDesc *d = &g->Image;
        if ((st = tsr_limits_check(ctx, "gif frame", (uint64_t)d->Width, (uint64_t)d->Height, 1)))
            goto out;
        if (w.frames > 1) {
            if (skip_frame(g) == GIF_ERROR) {
                st = gif_fail(ctx, g->Error, "reading a frame");
                goto out;
            }
            continue;
        }
        if ((st = first_frame(ctx, g, &w, &sw, &sh, info, out ? &canvas : NULL)))
            goto out;
    }
    if (w.frames == 0) {
        st = tsr_error(ctx, TSR_ERR_CORRUPT, "gif: the file holds no image");
        goto out;
    }
    info->width = sw;
    info->height = sh;
    info->bit_depth = g->SColorMap ? g->SColorMap->BitsPerPixel : 8;
    info->frames = w.frames;
out:
    DGifCloseFile(g, &err);
    if (st) {
        tsr_image_free(canvas);
        return st;
    }
    if (out)
        *out = canvas;
    return TSR_OK;
}

static tsr_status info_gif(tsr_ctx *ctx, const uint8_t *bytes, size_t len, tsr_image_info *info) {
    return walk(ctx, bytes, len, info, NULL);
}

static tsr_status decode_gif(tsr_ctx *ctx, const uint8_t *bytes, size_t len,
                             const tsr_decode_options *opts, tsr_image **out,
                             tsr_image_info *info) {
    (void)opts;
    return walk(ctx, bytes, len, info, out);
}

/* giflib's write callback: appends to the tsr_buffer in UserData. */
static int write_fn(GifFileType *g, const GifByteType *src, int n) {
    return tsr_buffer_append(g->UserData, src, (size_t)n) ? 0 : n;
}

/* Palette index of a pixel: gray level, or the nearest 6x7x6 cube entry. */
static uint8_t index_of(const uint8_t *px, int bands) {
    if (bands < 3)
        return px[0];
    int r = (px[0] * 5 + 127) / 255, g = (px[1] * 6 + 127) / 255, b = (px[2] * 5 + 127) / 255;
    return (uint8_t)(r * 42 + g * 6 + b);
}

static tsr_status encode_gif(tsr_ctx *ctx, const tsr_image *image, const tsr_encode_options *opts,
                             tsr_buffer *out) {
    GifColorType colors[256] = {{0}};
    int err = 0;
    tsr_status st = TSR_OK;
    (void)opts;
    if (image->width > 65535 || image->height > 65535)
        return tsr_error(ctx, TSR_ERR_USAGE, "gif: %dx%d is larger than GIF's 65535x65535",
                         image->width, image->height);
    for (int i = 0; i < 256; i++) {
        if (image->bands < 3) {
            colors[i].Red = colors[i].Green = colors[i].Blue = (GifByteType)i;
        } else if (i < 252) {
            colors[i].Red = (GifByteType)((i / 42) * 255 / 5);
            colors[i].Green = (GifByteType)((i / 6 % 7) * 255 / 6);
            colors[i].Blue = (GifByteType)((i % 6) * 255 / 5);
        }
    }
    GifPixelType *line = malloc((size_t)image->width);
    ColorMapObject *map = GifMakeMapObject(256, colors);
    GifFileType *g = line && map ? EGifOpen(out, write_fn, &err) : NULL;
    if (!g) {
        st = tsr_error(ctx, TSR_ERR_NOMEM, "gif: cannot start the encoder");
        goto out;
    }
    if (EGifPutScreenDesc(g, image->width, image->height, 8, 0, map) == GIF_ERROR ||
        EGifPutImageDesc(g, 0, 0, image->width, image->height, false, NULL) == GIF_ERROR)
        goto fail;
    for (int y = 0; y < image->height; y++) {
        const uint8_t *src = image->data + (size_t)y * image->stride;
        for (int x = 0; x < image->width; x++)
            line[x] = index_of(src + (size_t)x * (size_t)image->bands, image->bands);
        if (EGifPutLine(g, line, image->width) == GIF_ERROR)
            goto fail;
    }
    err = 0;
    if (EGifCloseFile(g, &err) == GIF_ERROR) {
        g = NULL;
        goto fail;
    }
    g = NULL;
    goto out;
fail:
    if (g)
        err = g->Error;
    st = tsr_error(ctx, TSR_ERR_INTERNAL, "gif: encoding failed: %s",
                   GifErrorString(err) ? GifErrorString(err) : "unknown error");
out:
    if (g)
        EGifCloseFile(g, &err);
    GifFreeMapObject(map);
    free(line);
    return st;
}

const tsr_codec tsr_codec_gif = {
    .format = TSR_FORMAT_GIF,
    .name = "gif",
    .mime = "image/gif",
    .extension = "gif",
    .aliases = "",
    .sniff = sniff,
    .info = info_gif,
    .decode = decode_gif,
    .encode = encode_gif,
};
